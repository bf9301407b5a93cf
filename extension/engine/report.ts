// The standalone HTML report (`dtd-lens explain … --html report.html`): one
// self-contained file that embeds the webview bundle and css inline and the
// result as a JSON data block; the webview's own report host
// (webview/reportHost.ts) answers its 'ready' from that block and turns its
// exports into downloads. Opens from file:// in any browser, no server, under
// the same nonce-based CSP.

import { randomBytes } from 'node:crypto';
import { DEFAULT_TOP_K, type ExplainResult, jsonForScript, plainText, REPORT_DATA_ID, type ReportPayload, webviewHtml } from '../protocol';

export type ReportInput = ExplainResult | { left: ExplainResult; right: ExplainResult };

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
  const payload: ReportPayload = 'left' in result ? { left: result.left, right: result.right, settings } : { result, settings };
  const name = 'left' in result ? `${result.left.model?.name ?? 'model'} vs ${result.right.model?.name ?? 'model'}` : (result.model?.name ?? 'model');
  return webviewHtml({
    cspSource: '',
    nonce,
    scriptUri: '',
    styleUri: '',
    inlineScript: webviewJs,
    inlineStyle: css,
    dataBlocks: { [REPORT_DATA_ID]: jsonForScript(payload) },
    bodyClass: settings.theme === 'high-contrast' ? 'vscode-high-contrast' : `vscode-${settings.theme}`,
    title: plainText(options.title ?? `DTD Lens report: ${name}`, 300), // webviewHtml escapes it; a name from the file stays one bounded line
  });
}
