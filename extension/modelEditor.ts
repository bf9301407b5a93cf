// Read-only custom editor "DTD Lens Model Inspector" (priority: option) for
// the model files of protocol/formats.ts (MODEL_EXTENSIONS and model.json; the
// selector in package.json is checked against them): the engine loads the model and summarizes it;
// the page lists the layers, their parameter counts and whether DTD Lens can
// explain the model, with an Explain button. Models are data: nothing in the
// file is executed, and the page runs only its own nonce'd script.

import * as vscode from 'vscode';
import { randomBytes } from 'node:crypto';
import type { ModelSummary } from './protocol';
import { EngineError } from './engineClient';
import { isWebviewToHost, logText } from './protocol';

export const MODEL_EDITOR_VIEW_TYPE = 'dtdLens.modelInspector';

export interface ModelEditorDeps {
  /** Loads the model in the engine and returns its summary (throws EngineError for bad/unsupported models). */
  inspect(uri: vscode.Uri): Promise<ModelSummary>;
  log: vscode.LogOutputChannel;
  /** Tests observe what the editor showed. */
  onShown(uri: vscode.Uri, outcome: { summary?: ModelSummary; error?: string }): void;
}

class ModelDocument implements vscode.CustomDocument {
  constructor(readonly uri: vscode.Uri) {}
  dispose(): void {}
}

export class ModelEditorProvider implements vscode.CustomReadonlyEditorProvider<ModelDocument> {
  constructor(private readonly deps: ModelEditorDeps) {}

  static register(deps: ModelEditorDeps): vscode.Disposable {
    return vscode.window.registerCustomEditorProvider(MODEL_EDITOR_VIEW_TYPE, new ModelEditorProvider(deps), {
      supportsMultipleEditorsPerDocument: true,
    });
  }

  openCustomDocument(uri: vscode.Uri): ModelDocument {
    return new ModelDocument(uri);
  }

  async resolveCustomEditor(document: ModelDocument, panel: vscode.WebviewPanel): Promise<void> {
    const nonce = randomBytes(16).toString('base64').replace(/[^A-Za-z0-9]/g, '');
    panel.webview.options = { enableScripts: true, localResourceRoots: [] };
    const name = document.uri.path.slice(document.uri.path.lastIndexOf('/') + 1);
    panel.webview.html = page(panel.webview.cspSource, nonce, name, `<p class="muted">Loading ${esc(name)} in the DTD Lens engine…</p>`);
    panel.webview.onDidReceiveMessage((m: unknown) => {
      if (isWebviewToHost(m) && m.type === 'explain') {
        void vscode.commands.executeCommand('dtdLens.explainOutput', document.uri);
      }
    });
    try {
      const summary = await this.deps.inspect(document.uri);
      panel.webview.html = page(panel.webview.cspSource, nonce, name, summaryHtml(summary));
      this.deps.onShown(document.uri, { summary });
    } catch (e) {
      const message = e instanceof Error ? e.message : String(e);
      const code = e instanceof EngineError ? e.code : 'internal';
      const heading = code === 'unsupported' ? 'DTD Lens cannot explain this model yet' : 'DTD Lens could not read this model';
      panel.webview.html = page(
        panel.webview.cspSource,
        nonce,
        name,
        `<div class="error" role="alert"><h2>${esc(heading)}</h2><p>${esc(message)}</p></div>`,
      );
      this.deps.log.info(logText(`model inspector: ${name}: ${message}`));
      this.deps.onShown(document.uri, { error: message });
    }
  }
}

function summaryHtml(s: ModelSummary): string {
  const total = s.layers.reduce((n, l) => n + l.parameters, 0);
  const rows = s.layers
    .map(
      (l, i) => `<tr>
  <td>${i + 1}</td><td>${esc(l.name)}</td><td>${esc(l.kind)}</td>
  <td class="num">${l.inFeatures} → ${l.outFeatures}</td><td>${esc(l.activation)}</td>
  <td class="num">${l.parameters.toLocaleString('en-US')}</td><td class="ok" title="DTD Lens can explain this layer">✓ supported</td>
</tr>`,
    )
    .join('\n');
  const notes = s.notes.length ? `<h3>Notes from the loader</h3><ul>${s.notes.map((n) => `<li>${esc(n)}</li>`).join('')}</ul>` : '';
  return `<p class="summary" data-testid="summary">${esc(s.format)} model · input ${s.inputSize} · output ${s.outputSize} ·
  ${s.layers.length} layers · ${total.toLocaleString('en-US')} parameters · <span class="ok">every layer is supported</span></p>
<p><button id="explain" type="button">Explain Output…</button></p>
<table>
<thead><tr><th>#</th><th>layer</th><th>kind</th><th class="num">shape</th><th>activation</th><th class="num">parameters</th><th>DTD</th></tr></thead>
<tbody>
${rows}
</tbody>
</table>
${notes}`;
}

function page(cspSource: string, nonce: string, title: string, body: string): string {
  const csp = `default-src 'none'; style-src 'nonce-${nonce}'; script-src 'nonce-${nonce}'; img-src ${cspSource} data:`;
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<title>${esc(title)}</title>
<style nonce="${nonce}">
  body { font-family: var(--vscode-font-family); color: var(--vscode-foreground); padding: 0 20px 20px; }
  h1 { font-size: 1.4em; font-weight: 600; }
  table { border-collapse: collapse; margin-top: 8px; }
  th, td { text-align: left; padding: 4px 12px; border-bottom: 1px solid var(--vscode-panel-border, #8884); }
  th { font-weight: 600; }
  .num { text-align: right; font-variant-numeric: tabular-nums; }
  .ok { color: var(--vscode-testing-iconPassed, #3a3); }
  .muted { opacity: .7; }
  .error { border-left: 3px solid var(--vscode-errorForeground, #e51400); padding: 2px 12px; }
  .error h2 { font-size: 1.1em; color: var(--vscode-errorForeground, #e51400); }
  button { background: var(--vscode-button-background); color: var(--vscode-button-foreground); border: none; padding: 6px 14px; cursor: pointer; }
  button:hover { background: var(--vscode-button-hoverBackground); }
</style></head>
<body>
<h1>${esc(title)}</h1>
${body}
<script nonce="${nonce}">
  const vscode = acquireVsCodeApi();
  document.getElementById('explain')?.addEventListener('click', () => vscode.postMessage({ type: 'explain' }));
</script>
</body></html>`;
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}
