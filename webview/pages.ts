// Pages of a stored run (extension/protocol/pages.ts), asked from the host when
// the user opens a part the result message leaves out: a root-tree node's
// children, the root points of a wide layer. One request per (run, key); the
// answer is checked against the shape its key promises and cached; every answer
// (or error) calls `onChange` so the inspector redraws with it.

import { isPageValue } from '../extension/protocol';

export type PageState = { status: 'loading' } | { status: 'ok'; value: unknown } | { status: 'error'; message: string };

export class PageClient {
  private readonly pages = new Map<string, PageState>();
  private readonly pending = new Map<number, string>();
  private nextId = 1;
  onChange: () => void = () => {};

  constructor(private readonly post: (m: { type: 'page'; requestId: number; run: string; key: string }) => void) {}

  /** The page's state; asks the host for it the first time (run null: the pages were not kept). */
  get(run: string | null, key: string): PageState {
    if (run === null) return { status: 'error', message: 'This result was not stored with its pages (run it again in VS Code to open this part).' };
    const id = `${run}\n${key}`;
    const hit = this.pages.get(id);
    if (hit) return hit;
    const loading: PageState = { status: 'loading' };
    this.pages.set(id, loading);
    const requestId = this.nextId++;
    this.pending.set(requestId, id);
    this.post({ type: 'page', requestId, run, key });
    return loading;
  }

  /** The host's answer to a request. */
  receive(m: { requestId: number; run: string; key: string; data?: unknown; error?: string }): void {
    const id = this.pending.get(m.requestId);
    if (id === undefined || id !== `${m.run}\n${m.key}`) return;
    this.pending.delete(m.requestId);
    if (m.error !== undefined) this.pages.set(id, { status: 'error', message: m.error });
    else if (!isPageValue(m.key, m.data)) this.pages.set(id, { status: 'error', message: `The host sent a page '${m.key.slice(0, 80)}' that is not what it should be.` });
    else this.pages.set(id, { status: 'ok', value: m.data });
    this.onChange();
  }

  /** Forget everything (a new result is shown). */
  clear(): void {
    this.pages.clear();
    this.pending.clear();
  }
}
