// Read-only custom editor "DTD Lens Model Inspector" (priority: option) for
// the model files of protocol/formats.ts (MODEL_EXTENSIONS and model.json; the
// selector in package.json is checked against them): the engine loads the model and summarizes it;
// the page (drawn by modelInspectorHtml.ts) shows the graph — each layer, what it
// reads (joins marked), its output shape, kernel/stride/padding, activation and
// parameters — the input shape and what the loader assumed, with an Explain
// button. Models are data: nothing in the file is executed, and the page runs
// only its own nonce'd script.

import * as vscode from 'vscode';
import { randomBytes } from 'node:crypto';
import type { ModelSummary } from './protocol';
import { EngineError } from './engineClient';
import { errorHtml, inspectorBodyHtml, inspectorPageHtml, loadingHtml } from './modelInspectorHtml';
import { isWebviewToHost, logText } from './protocol';

export const MODEL_EDITOR_VIEW_TYPE = 'dtdLens.modelInspector';

/** What the inspector showed: the summary or the error, and the page's HTML. */
export interface InspectorOutcome {
  summary?: ModelSummary;
  error?: string;
  html?: string;
}

export interface ModelEditorDeps {
  /** Loads the model in the engine and returns its summary (throws EngineError for bad/unsupported models). */
  inspect(uri: vscode.Uri): Promise<ModelSummary>;
  log: vscode.LogOutputChannel;
  /** Tests observe what the editor showed. */
  onShown(uri: vscode.Uri, outcome: InspectorOutcome): void;
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
    const show = (body: string) => (panel.webview.html = inspectorPageHtml(panel.webview.cspSource, nonce, name, body));
    show(loadingHtml(name));
    panel.webview.onDidReceiveMessage((m: unknown) => {
      if (isWebviewToHost(m) && m.type === 'explain') {
        void vscode.commands.executeCommand('dtdLens.explainOutput', document.uri);
      }
    });
    try {
      const summary = await this.deps.inspect(document.uri);
      const html = show(inspectorBodyHtml(summary));
      this.deps.onShown(document.uri, { summary, html });
    } catch (e) {
      const message = e instanceof Error ? e.message : String(e);
      const code = e instanceof EngineError ? e.code : 'internal';
      const heading = code === 'unsupported' ? 'DTD Lens cannot explain this model yet' : 'DTD Lens could not read this model';
      const html = show(errorHtml(heading, message));
      this.deps.log.info(logText(`model inspector: ${name}: ${message}`));
      this.deps.onShown(document.uri, { error: message, html });
    }
  }
}
