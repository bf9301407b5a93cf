// The host side of the webview protocol for the standalone HTML report
// (`dtd-lens explain … --html`): when the page has no VS Code API, the result
// comes from the page's JSON data block, exports become downloads, and the UI
// state lives in sessionStorage. Typed with the same protocol as the VS Code
// host; the engine only writes the data block (engine/report.ts). The page
// posts the host's messages to itself and accepts window messages only from
// its own window and origin (acceptsMessage): no other window can feed it.

import { isHostToWebview, isWebviewToHost, REPORT_DATA_ID, type HostToWebview, type ReportPayload } from '../extension/protocol';
import type { VsCodeApi } from './state';

const STORAGE_KEY = 'dtd-lens-state';

function download(name: string, href: string): void {
  const a = document.createElement('a');
  a.href = href;
  a.download = name;
  document.body.appendChild(a);
  a.click();
  a.remove();
}

/** The report's API, or null when the page is not a report (no data block). */
export function reportHost(): VsCodeApi | null {
  const block = document.getElementById(REPORT_DATA_ID);
  if (!block?.textContent) return null;
  const data = JSON.parse(block.textContent) as ReportPayload;
  let state: unknown;
  try {
    state = JSON.parse(sessionStorage.getItem(STORAGE_KEY) ?? 'null') ?? undefined;
  } catch {
    state = undefined;
  }
  const send = (m: HostToWebview) => {
    // The same checked path as a message from VS Code: the webview validates what it receives.
    // To this very window; a file:// page has an opaque origin, which postMessage cannot name.
    if (isHostToWebview(m)) window.postMessage(m, window.origin === 'null' || window.location.protocol === 'file:' ? '*' : window.origin);
  };
  return {
    // Only what this page posted to itself: another window (an opener, a frame)
    // cannot feed the report a result.
    acceptsMessage(ev: MessageEvent): boolean {
      if (ev.source !== window) return false;
      if (ev.origin === window.origin) return true;
      // A file:// page has an opaque origin; browsers report it as 'null' or 'file://'.
      return window.location.protocol === 'file:' && (ev.origin === 'null' || ev.origin === 'file://');
    },
    postMessage(m: unknown) {
      if (!isWebviewToHost(m)) return;
      if (m.type === 'ready') {
        send('left' in data ? { type: 'compare', left: data.left, right: data.right, settings: data.settings } : { type: 'result', result: data.result, settings: data.settings });
      } else if (m.type === 'exported') {
        const base = 'dtd-lens-report';
        if (m.format === 'png') download(`${base}.png`, m.data);
        else {
          const url = URL.createObjectURL(new Blob([m.data], { type: m.format === 'svg' ? 'image/svg+xml' : 'application/json' }));
          download(`${base}.${m.format}`, url);
          setTimeout(() => URL.revokeObjectURL(url), 1000);
        }
      }
    },
    getState: () => state,
    setState(s: unknown) {
      state = s;
      try {
        sessionStorage.setItem(STORAGE_KEY, JSON.stringify({ ui: (s as { ui?: unknown } | undefined)?.ui }));
      } catch {
        /* file:// may refuse storage */
      }
    },
  };
}
