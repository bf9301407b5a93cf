// The standalone HTML report (`dtd-lens explain … --html report.html`): one
// self-contained file that embeds the webview bundle and css inline, the result
// as a JSON data block, and a small fake `acquireVsCodeApi` that answers the
// webview's 'ready' with the result and turns its exports into downloads. Opens
// from file:// in any browser, no server, under the same nonce-based CSP.

import { randomBytes } from 'node:crypto';
import type { ExplainResult } from '../protocol';
import { DEFAULT_TOP_K, jsonForScript, webviewHtml } from '../protocol';

export type ReportInput = ExplainResult | { left: ExplainResult; right: ExplainResult };

/** Runs in the page before the bundle: the host side of the protocol, for a file. */
const PRELUDE = `(function () {
  var data = JSON.parse(document.getElementById('dtd-report-data').textContent);
  var state;
  try { state = JSON.parse(sessionStorage.getItem('dtd-lens-state') || 'null') || undefined; } catch (e) { state = undefined; }
  function send(m) { window.postMessage(m, '*'); }
  function download(name, href) {
    var a = document.createElement('a'); a.href = href; a.download = name; document.body.appendChild(a); a.click(); a.remove();
  }
  window.acquireVsCodeApi = function () {
    return {
      postMessage: function (m) {
        if (!m || typeof m.type !== 'string') return;
        if (m.type === 'ready') {
          send(data.left ? { type: 'compare', left: data.left, right: data.right, settings: data.settings } : { type: 'result', result: data.result, settings: data.settings });
        } else if (m.type === 'exported') {
          var base = 'dtd-lens-report';
          if (m.format === 'png') download(base + '.png', m.data);
          else {
            var blob = new Blob([m.data], { type: m.format === 'svg' ? 'image/svg+xml' : 'application/json' });
            var url = URL.createObjectURL(blob); download(base + '.' + m.format, url); setTimeout(function () { URL.revokeObjectURL(url); }, 1000);
          }
        }
      },
      getState: function () { return state; },
      setState: function (s) { state = s; try { sessionStorage.setItem('dtd-lens-state', JSON.stringify({ ui: s && s.ui })); } catch (e) { /* file:// may refuse storage */ } }
    };
  };
})();`;

export interface ReportOptions {
  topK?: number;
  imageShape?: number[] | null;
  theme?: 'light' | 'dark' | 'high-contrast';
  title?: string;
  nonce?: string;
}

export function renderHtmlReport(result: ReportInput, webviewJs: string, css: string, options: ReportOptions = {}): string {
  const nonce = options.nonce ?? randomBytes(18).toString('base64').replace(/[^A-Za-z0-9]/g, '');
  const settings = { topK: options.topK ?? DEFAULT_TOP_K, imageShape: options.imageShape ?? null, theme: options.theme ?? 'light' };
  const payload = 'left' in result ? { left: result.left, right: result.right, settings } : { result, settings };
  const name = 'left' in result ? `${result.left.model?.name ?? 'model'} vs ${result.right.model?.name ?? 'model'}` : (result.model?.name ?? 'model');
  return webviewHtml({
    cspSource: '',
    nonce,
    scriptUri: '',
    styleUri: '',
    inlineScript: webviewJs,
    inlineStyle: css,
    preludeScript: PRELUDE,
    dataBlocks: { 'dtd-report-data': jsonForScript(payload) },
    bodyClass: settings.theme === 'high-contrast' ? 'vscode-high-contrast' : `vscode-${settings.theme}`,
    title: options.title ?? `DTD Lens report: ${name}`,
  });
}
