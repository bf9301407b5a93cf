// Recent runs: their summaries in workspace state, their results as files in
// the extension's storage folder (workspace.fs, so results survive a reload and
// the tree can re-open any run without recomputing it): `<id>.json` holds what
// the views need (the result's view, protocol/pages.ts) and `<id>.pages` the
// rest (the root tree, large layers), read a page at a time (host/pageFile.ts).
// A run stored whole by an older version is split the first time it is opened.

import * as vscode from 'vscode';
import * as path from 'node:path';
import type { WireExplainOptions } from './protocol';
import { splitResult, upgradeResult } from './protocol';
import { readPage, writePageFileAsync } from './host/pageFile';
import type { ExplainResult, Method, RootFinderName } from './protocol';

export type RunStatus = 'running' | 'ok' | 'failed' | 'cancelled' | 'error';

/** How the input was chosen, enough to run again with the same input. */
export interface RunInput {
  label: string;
  values: number[];
}

export interface RunRecord {
  id: string;
  modelUri: string;
  modelName: string;
  explainedOutput: number;
  explainedValue: number | null;
  method: Method;
  rule: string;
  rootFinder: RootFinderName;
  status: RunStatus;
  /** Failure or warning text the user saw. */
  message: string | null;
  startedAt: number;
  durationMs: number | null;
  input: RunInput;
  options: WireExplainOptions;
}

const STATE_KEY = 'dtdLens.runs';

export class RunStore implements vscode.Disposable {
  private runs: RunRecord[];
  private readonly cache = new Map<string, ExplainResult>();
  private readonly emitter = new vscode.EventEmitter<void>();
  readonly onDidChange = this.emitter.event;

  constructor(
    private readonly memento: vscode.Memento,
    private readonly folder: vscode.Uri,
    private readonly maxRuns: () => number,
  ) {
    const stored = memento.get<RunRecord[]>(STATE_KEY, []);
    // A run still "running" from a previous session was interrupted.
    this.runs = stored.map((r) => (r.status === 'running' ? { ...r, status: 'error', message: 'Interrupted when VS Code closed.' } : r));
    void this.updateContext();
  }

  all(): readonly RunRecord[] {
    return this.runs;
  }

  get(id: string): RunRecord | undefined {
    return this.runs.find((r) => r.id === id);
  }

  latest(filter: (r: RunRecord) => boolean = (r) => r.status === 'ok' || r.status === 'failed'): RunRecord | undefined {
    return this.runs.find(filter);
  }

  async add(run: RunRecord): Promise<void> {
    this.runs = [run, ...this.runs.filter((r) => r.id !== run.id)];
    const max = this.maxRuns();
    const dropped = this.runs.slice(max);
    this.runs = this.runs.slice(0, max);
    for (const r of dropped) await this.deleteResultFile(r.id);
    await this.save();
  }

  async update(id: string, patch: Partial<RunRecord>, result?: ExplainResult): Promise<void> {
    const i = this.runs.findIndex((r) => r.id === id);
    if (i < 0) return;
    this.runs[i] = { ...this.runs[i], ...patch };
    if (result) {
      this.cache.set(id, result);
      this.trimCache();
      await vscode.workspace.fs.createDirectory(this.folder);
      await vscode.workspace.fs.writeFile(this.resultUri(id), new TextEncoder().encode(JSON.stringify(result)));
    }
    await this.save();
  }

  /** Where the engine writes a run's pages: a path in the storage folder, or undefined when it is not on the local disk. */
  pagesFile(id: string): string | undefined {
    return this.folder.scheme === 'file' ? path.join(this.folder.fsPath, `${id}.pages`) : undefined;
  }

  /** Makes sure the storage folder exists (before the engine writes a page file into it). */
  async prepare(): Promise<void> {
    await vscode.workspace.fs.createDirectory(this.folder);
  }

  /** One page of a stored run (host/pageFile.ts); throws a PageFileError with a message for the user. */
  async page(id: string, key: string): Promise<unknown> {
    const file = this.get(id) ? this.pagesFile(id) : undefined;
    if (!file) throw new Error('This run is no longer stored, so its root tree and large layers cannot be read.');
    return readPage(file, key);
  }

  async remove(id: string): Promise<void> {
    this.runs = this.runs.filter((r) => r.id !== id);
    this.cache.delete(id);
    await this.deleteResultFile(id);
    await this.save();
  }

  async clear(): Promise<void> {
    for (const r of this.runs) await this.deleteResultFile(r.id);
    this.runs = [];
    this.cache.clear();
    await this.save();
  }

  /** The stored result of a run, or undefined when it has none (error, cancelled, file gone). */
  async result(id: string): Promise<ExplainResult | undefined> {
    const hit = this.cache.get(id);
    if (hit) return hit;
    try {
      const bytes = await vscode.workspace.fs.readFile(this.resultUri(id));
      // Runs stored by an older version are upgraded to the current schema (protocol/migrate.ts).
      let result = upgradeResult(JSON.parse(new TextDecoder().decode(bytes)));
      if (!result) return undefined;
      // Stored whole (schema 2): split once into the view and a page file, so the next open reads the small part only.
      const file = this.pagesFile(id);
      if (!result.paged && file) {
        const { view, pages } = splitResult(result, id);
        if (pages.size > 0) {
          await writePageFileAsync(file, pages);
          await vscode.workspace.fs.writeFile(this.resultUri(id), new TextEncoder().encode(JSON.stringify(view)));
          result = view;
        }
      }
      this.cache.set(id, result);
      this.trimCache();
      return result;
    } catch {
      return undefined;
    }
  }

  resultUri(id: string): vscode.Uri {
    return vscode.Uri.joinPath(this.folder, `${id}.json`);
  }

  dispose(): void {
    this.emitter.dispose();
  }

  private trimCache(): void {
    while (this.cache.size > 4) this.cache.delete(this.cache.keys().next().value as string);
  }

  private async deleteResultFile(id: string): Promise<void> {
    for (const uri of [this.resultUri(id), vscode.Uri.joinPath(this.folder, `${id}.pages`)]) {
      try {
        await vscode.workspace.fs.delete(uri);
      } catch {
        /* never written */
      }
    }
  }

  private async save(): Promise<void> {
    await this.memento.update(STATE_KEY, this.runs);
    await this.updateContext();
    this.emitter.fire();
  }

  private async updateContext(): Promise<void> {
    await vscode.commands.executeCommand('setContext', 'dtdLens.hasRuns', this.runs.some((r) => r.status === 'ok' || r.status === 'failed'));
  }
}

export function newRunId(): string {
  return `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
}


/** A run's method as rows and pickers show it: full-backward with its root finder. */
export function runMethodText(r: Pick<RunRecord, 'method' | 'rootFinder'>): string {
  return r.method === 'full-backward' ? `full-backward/${r.rootFinder}` : r.method;
}
