// Hosts the D3 visualizer (dist/webview.js) in two places: an editor panel
// ("DTD Lens" tab, restored after reload by a serializer) and the side-bar
// webview view (the latest explanation). Both talk the host⇄webview protocol:
// the webview posts 'ready', the host then posts what it should draw; the
// webview answers 'rendered' with a summary of what it drew, and 'exported'
// with SVG/PNG data on request. No `retainContextWhenHidden`: a hidden webview
// is rebuilt from the last message when it becomes visible again.

import * as vscode from 'vscode';
import { randomBytes } from 'node:crypto';
import { isWebviewToHost, type BaselinesReply, type ConceptHeatmap, type ExplainResult, type HostToWebview, type VisualizerView, type WebviewSettings, type WebviewToHost } from './protocol';
import { describeValue, logText, webviewHtml } from './protocol';
import { readSettings } from './config';

export type RenderedSummary = Extract<WebviewToHost, { type: 'rendered' }>['summary'];
export type VisualizerTarget = 'panel' | 'view';

/** What a webview is told it is: the side-bar view draws its compact layout (webview/sidebar.ts). */
export function visualizerViewOf(target: VisualizerTarget): VisualizerView {
  return target === 'view' ? 'sidebar' : 'panel';
}

/** A content message as one webview gets it: its settings say which webview it is. */
export function forTarget(message: HostToWebview, target: VisualizerTarget): HostToWebview {
  if ((message.type === 'result' || message.type === 'compare') && message.settings) return { ...message, settings: { ...message.settings, view: visualizerViewOf(target) } };
  return message;
}

export interface RenderedEvent {
  target: VisualizerTarget;
  summary: RenderedSummary;
  at: number;
  /** Set when the webview drew a root audit instead of a network. */
  audit?: { rows: number; bars: number };
}

/** One webview showing the visualizer: handshake, the last content, exports. */
class VisualizerWebview implements vscode.Disposable {
  private ready = false;
  /** The last content message; replayed whenever the webview (re)loads. */
  private content: HostToWebview | undefined;
  private nextExportId = 1;
  private readonly exports = new Map<number, { resolve: (data: string) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();
  private readonly subs: vscode.Disposable[] = [];

  constructor(
    readonly target: VisualizerTarget,
    readonly webview: vscode.Webview,
    private readonly extensionUri: vscode.Uri,
    private readonly hooks: VisualizerHooks,
  ) {
    webview.options = {
      enableScripts: true,
      localResourceRoots: [vscode.Uri.joinPath(extensionUri, 'dist'), vscode.Uri.joinPath(extensionUri, 'media')],
    };
    this.subs.push(webview.onDidReceiveMessage((m: unknown) => this.onMessage(m)));
    this.reload();
  }

  /** Sets fresh HTML (a new nonce); the webview posts 'ready' once its script runs. */
  reload(): void {
    this.ready = false;
    const nonce = randomBytes(16).toString('base64').replace(/[^A-Za-z0-9]/g, '');
    this.webview.html = webviewHtml({
      cspSource: this.webview.cspSource,
      nonce,
      scriptUri: this.webview.asWebviewUri(vscode.Uri.joinPath(this.extensionUri, 'dist', 'webview.js')).toString(),
      styleUri: this.webview.asWebviewUri(vscode.Uri.joinPath(this.extensionUri, 'media', 'webview.css')).toString(),
      title: 'DTD Lens',
    });
  }

  get hasContent(): boolean {
    return this.content !== undefined;
  }

  show(message: HostToWebview): void {
    this.content = forTarget(message, this.target);
    if (this.ready) void this.webview.postMessage(this.content);
  }

  /** Transient messages (progress) are dropped while the webview is not ready. */
  post(message: HostToWebview): void {
    if (this.ready) void this.webview.postMessage(message);
  }

  /** Whether this webview shows stored run `runId` (by the id its result carries, or as the result object `stored`). */
  showsRun(runId: string, stored?: ExplainResult): boolean {
    const c = this.content;
    return c?.type === 'result' && ((stored !== undefined && c.result === stored) || c.result.paged?.run === runId);
  }

  /** The shown result, updated (baselines computed): replayed on a reload, not posted now. */
  replaceResult(result: ExplainResult): void {
    if (this.content?.type === 'result') this.content = { ...this.content, result };
  }

  requestExport(format: 'svg' | 'png', timeoutMs = 20000): Promise<string> {
    if (!this.ready || !this.content) return Promise.reject(new Error('The visualizer is not showing a result yet.'));
    const requestId = this.nextExportId++;
    return new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.exports.delete(requestId);
        reject(new Error(`The visualizer did not produce the ${format.toUpperCase()} within ${timeoutMs / 1000} s.`));
      }, timeoutMs);
      this.exports.set(requestId, { resolve, reject, timer });
      void this.webview.postMessage({ type: 'export', format, requestId } satisfies HostToWebview);
    });
  }

  private onMessage(raw: unknown): void {
    if (!isWebviewToHost(raw)) {
      this.hooks.log.warn(`visualizer (${this.target}) sent a malformed message: ${logText(describeValue(raw, 200))}`);
      return;
    }
    const m = raw;
    switch (m.type) {
      case 'ready':
        this.ready = true;
        // First which webview this is (the side bar lays out for ~300 px), then what to draw.
        void this.webview.postMessage({ type: 'hello', view: visualizerViewOf(this.target) } satisfies HostToWebview);
        if (this.content) void this.webview.postMessage(this.content);
        return;
      case 'rendered':
        this.hooks.log.debug(`visualizer (${this.target}) rendered ${JSON.stringify(m.summary)}`);
        this.hooks.onRendered({ target: this.target, summary: m.summary, at: Date.now() });
        return;
      case 'auditRendered':
        this.hooks.log.debug(`visualizer (${this.target}) drew an audit: ${m.rows} rows, ${m.bars} bars`);
        this.hooks.onRendered({ target: this.target, summary: { layers: 0, nodesPerLayer: [], flows: 0, renderMs: 0 }, audit: { rows: m.rows, bars: m.bars }, at: Date.now() });
        return;
      case 'saveAudit':
        this.hooks.onSaveAudit(m.format);
        return;
      case 'exported': {
        const pending = this.exports.get(m.requestId);
        if (!pending) {
          // requestId 0: the user pressed the panel's own SVG / PNG / JSON button; the host saves it.
          if (m.requestId === 0) this.hooks.onUserExport(this.target, m.format, m.data);
          else this.hooks.log.warn(`visualizer (${this.target}) sent an export nobody asked for (request ${m.requestId})`);
          return;
        }
        this.exports.delete(m.requestId);
        clearTimeout(pending.timer);
        pending.resolve(m.data);
        return;
      }
      case 'drawn':
        this.hooks.onDrawn(this.target);
        return;
      case 'page': {
        const { requestId, run, key } = m;
        this.hooks.onPage(run, key).then(
          (data) => void this.webview.postMessage({ type: 'page', requestId, run, key, data } satisfies HostToWebview),
          (e: unknown) => void this.webview.postMessage({ type: 'page', requestId, run, key, error: e instanceof Error ? e.message : String(e) } satisfies HostToWebview),
        );
        return;
      }
      case 'select':
        this.hooks.log.debug(`visualizer (${this.target}) selected layer ${m.layer} unit ${m.unit}`);
        return;
      case 'explain':
        this.hooks.onExplainRequest(this.target);
        return;
      case 'openInEditor':
        this.hooks.onOpenInEditor(this.target, m.run);
        return;
      case 'concept': {
        const { requestId, layer, channel } = m;
        this.hooks.onConceptRequest(this.target, layer, channel).then(
          (concept) => void this.webview.postMessage({ type: 'concept', requestId, concept } satisfies HostToWebview),
          (e: unknown) => void this.webview.postMessage({ type: 'concept', requestId, error: e instanceof Error ? e.message : String(e) } satisfies HostToWebview),
        );
        return;
      }
      case 'baselines': {
        const { requestId } = m;
        this.hooks.onBaselinesRequest(this.target, m.run).then(
          ({ run, reply }) => void this.webview.postMessage({ type: 'baselines', requestId, run, show: true, reply } satisfies HostToWebview),
          (e: unknown) => void this.webview.postMessage({ type: 'baselines', requestId, run: m.run, show: false, error: e instanceof Error ? e.message : String(e) } satisfies HostToWebview),
        );
        return;
      }
      case 'error':
        this.hooks.log.error(`visualizer (${this.target}): ${logText(m.message)}`);
        this.hooks.onError(m.message);
        return;
    }
  }

  dispose(): void {
    for (const [, p] of this.exports) {
      clearTimeout(p.timer);
      p.reject(new Error('The visualizer was closed.'));
    }
    this.exports.clear();
    for (const s of this.subs) s.dispose();
  }
}

export interface VisualizerHooks {
  log: vscode.LogOutputChannel;
  onRendered(e: RenderedEvent): void;
  onError(message: string): void;
  /** The webview's Re-run / Explain button. */
  onExplainRequest(target: VisualizerTarget): void;
  /** The side bar's "Open in editor": the panel with the run the webview shows (`run`, when it knows it). */
  onOpenInEditor(target: VisualizerTarget, run: string | null): void;
  /** The webview's own export buttons: what it drew, to be saved where the user says. */
  onUserExport(target: VisualizerTarget, format: 'svg' | 'png' | 'json', data: string): void;
  /** The audit view's own Save CSV / Save JSON buttons. */
  onSaveAudit(format: 'csv' | 'json'): void;
  /** Concepts (CRP): the conditional heatmap of a channel of the result the webview shows, computed by the engine. */
  onConceptRequest(target: VisualizerTarget, layer: number, channel: number): Promise<ConceptHeatmap>;
  /** Baselines on demand: the user opened the comparison on the result the webview shows (`run`, when it knows it). */
  onBaselinesRequest(target: VisualizerTarget, run: string | null): Promise<{ run: string | null; reply: BaselinesReply }>;
  /** The webview drew (painted) the result it was sent. */
  onDrawn(target: VisualizerTarget): void;
  /** A page of a stored run (its root tree, a large layer), read from its page file. */
  onPage(run: string, key: string): Promise<unknown>;
  /** The run to show when a panel is restored after a reload. */
  restoreRun(): Promise<HostToWebview | undefined>;
}

export const PANEL_VIEW_TYPE = 'dtdLens.visualizer';
export const LATEST_VIEW_ID = 'dtdLens.latest';

/** The editor panel and the side-bar view, and what each shows. */
export class Visualizers implements vscode.Disposable, vscode.WebviewViewProvider, vscode.WebviewPanelSerializer {
  private panel: { panel: vscode.WebviewPanel; host: VisualizerWebview } | undefined;
  private view: { view: vscode.WebviewView; host: VisualizerWebview } | undefined;
  /** What the side view should show (kept while it is not resolved or hidden). */
  private latest: HostToWebview | undefined;
  private readonly disposables: vscode.Disposable[] = [];

  constructor(
    private readonly extensionUri: vscode.Uri,
    private readonly hooks: VisualizerHooks,
  ) {
    this.disposables.push(
      vscode.window.registerWebviewViewProvider(LATEST_VIEW_ID, this),
      vscode.window.registerWebviewPanelSerializer(PANEL_VIEW_TYPE, this),
    );
  }

  settings(): WebviewSettings {
    const kind = vscode.window.activeColorTheme.kind;
    const theme =
      kind === vscode.ColorThemeKind.Light || kind === vscode.ColorThemeKind.HighContrastLight
        ? 'light'
        : kind === vscode.ColorThemeKind.HighContrast
          ? 'high-contrast'
          : 'dark';
    const s = readSettings();
    // baselinesOnDemand: runs carry no baselines; the compare menu asks this host for them.
    return { topK: s.topK, theme, inputShape: s.inputShape, baselinesOnDemand: true };
  }

  /** Shows content in the panel (opening it beside the editor) and in the side view. */
  showEverywhere(message: HostToWebview, opts: { revealPanel?: boolean; title?: string } = {}): void {
    this.latest = message;
    this.view?.host.show(message);
    this.openPanel(opts.title, opts.revealPanel ?? true).show(message);
  }

  showInPanel(message: HostToWebview, title?: string): void {
    this.openPanel(title, true).show(message);
  }

  /** Progress goes to the visible webviews as a transient message. */
  progress(p: Extract<HostToWebview, { type: 'progress' }>['progress']): void {
    this.panel?.host.post({ type: 'progress', progress: p });
    this.view?.host.post({ type: 'progress', progress: p });
  }

  /**
   * Baselines were computed for stored run `runId` (whose result was `stored`): every webview showing it keeps
   * `updated` for a reload, and those but `except` (the one that asked, answered already) merge the baselines.
   */
  baselinesComputed(runId: string, stored: ExplainResult, updated: ExplainResult, reply: BaselinesReply, except?: VisualizerTarget): void {
    for (const w of [this.panel?.host, this.view?.host]) {
      if (!w?.showsRun(runId, stored)) continue;
      w.replaceResult(updated);
      if (w.target !== except) w.post({ type: 'baselines', requestId: 0, run: runId, show: false, reply });
    }
    if (this.latest?.type === 'result' && (this.latest.result === stored || this.latest.result.paged?.run === runId)) this.latest = { ...this.latest, result: updated };
  }

  /** The panel, when it shows stored run `runId`, merges the baselines and draws the first next to the result. */
  showBaselinesInPanel(runId: string, result: ExplainResult, reply: BaselinesReply): void {
    if (this.panel?.host.showsRun(runId, result)) this.panel.host.post({ type: 'baselines', requestId: 0, run: runId, show: true, reply });
  }

  get panelOpen(): boolean {
    return this.panel !== undefined;
  }

  get viewResolved(): boolean {
    return this.view !== undefined;
  }

  /** Opens (or reveals) the panel without changing what it shows. */
  openPanel(title = 'DTD Lens', reveal = true): VisualizerWebview {
    if (this.panel) {
      this.panel.panel.title = title;
      if (reveal) this.panel.panel.reveal(undefined, true);
      return this.panel.host;
    }
    const panel = vscode.window.createWebviewPanel(PANEL_VIEW_TYPE, title, { viewColumn: vscode.ViewColumn.Beside, preserveFocus: true }, {});
    return this.adoptPanel(panel);
  }

  async exportFromPanel(format: 'svg' | 'png'): Promise<string> {
    if (!this.panel) throw new Error('The visualizer panel is not open.');
    return this.panel.host.requestExport(format);
  }

  // ── WebviewViewProvider ────────────────────────────────────────────────
  async resolveWebviewView(view: vscode.WebviewView): Promise<void> {
    const host = new VisualizerWebview('view', view.webview, this.extensionUri, this.hooks);
    this.view = { view, host };
    // After a reload nothing is in memory: show the latest stored run.
    this.latest ??= await this.hooks.restoreRun();
    if (this.latest) host.show(this.latest);
    view.onDidDispose(() => {
      host.dispose();
      if (this.view?.view === view) this.view = undefined;
    });
  }

  // ── WebviewPanelSerializer ─────────────────────────────────────────────
  async deserializeWebviewPanel(panel: vscode.WebviewPanel): Promise<void> {
    const host = this.adoptPanel(panel);
    const content = await this.hooks.restoreRun();
    if (content) host.show(content);
  }

  private adoptPanel(panel: vscode.WebviewPanel): VisualizerWebview {
    panel.iconPath = vscode.Uri.joinPath(this.extensionUri, 'media', 'dtd.svg');
    const host = new VisualizerWebview('panel', panel.webview, this.extensionUri, this.hooks);
    this.panel = { panel, host };
    panel.onDidDispose(() => {
      host.dispose();
      if (this.panel?.panel === panel) this.panel = undefined;
    });
    return host;
  }

  dispose(): void {
    this.panel?.panel.dispose();
    for (const d of this.disposables) d.dispose();
  }
}
