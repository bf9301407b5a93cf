// The webview entry: builds the page from its panels, validates what the host
// (or the standalone report's fake host) sends, and wires the state to the
// renderers: the toolbar (toolbar.ts), the network view (panes.ts, drawn by
// network.ts), the unit/root inspector and root tree (inspector.ts, tree.ts),
// the conservation ledger (ledger.ts), the image heatmap (heatmap.ts), the
// audit view (audit.ts), keyboard and search (keyboard.ts), and the notices
// (notices.ts, tooltip.ts). The state and its persistence live in state.ts.
// Imports d3 and the protocol package only.

import type { HostToWebview, VisualizerView } from '../extension/protocol';
import { isHostToWebview } from '../extension/protocol';
import { auditPanel } from './audit';
import { readPalette, type Palette } from './colors';
import { ledgerResults, paneSpecs, resultsOf } from './compare';
import { h } from './dom';
import { exportHeatmapPng, exportView } from './export';
import { FeatureMapView } from './featureMaps';
import { renderHeatmaps } from './heatmap';
import { renderInspector, type InspectorActions } from './inspector';
import { onKey, searchUnit, type Navigator } from './keyboard';
import { renderLedgers } from './ledger';
import { defaultViewOptions } from './model';
import type { PaneCallbacks } from './network';
import { Notices } from './notices';
import { PageClient } from './pages';
import { SideBar } from './sidebar';
import { withStandIns } from './summaries';
import { NetworkPanel } from './panes';
import { AppState, type Format, type VsCodeApi } from './state';
import { COMPUTE_BASELINES, Toolbar } from './toolbar';
import { Tooltip } from './tooltip';
import { topEntries } from './tree';

declare function acquireVsCodeApi(): VsCodeApi;
import { reportHost } from './reportHost';

class App {
  private readonly state: AppState;
  private readonly app: HTMLElement;
  private readonly toolbar: Toolbar;
  private readonly notices = new Notices();
  private readonly network = new NetworkPanel();
  private readonly inspector = h('aside', { class: 'inspector', 'aria-label': 'root inspector' });
  private readonly ledgers = h('div', { class: 'ledgers' });
  private readonly heatmaps = h('div', { class: 'heatmaps' });
  private readonly tooltip = new Tooltip();
  private readonly nav: Navigator;
  private readonly paneCallbacks: PaneCallbacks;
  private readonly inspectorActions: InspectorActions;
  private palette: Palette | null = null;
  private readonly featureMaps: FeatureMapView;
  private readonly pages: PageClient;
  /** A result message was drawn and 'drawn' is still to be posted once its frame is painted. */
  private drawnPending = false;
  /** Which webview this is (the host's hello, or the settings of what it sends): the side bar has its own layout. */
  private view: VisualizerView = 'panel';
  private readonly sideBar: SideBar;
  /** The panel layout's children (the side bar swaps them for its own). */
  private panelChildren: Node[] = [];
  /** Baselines on demand: the id of the request the host has not answered yet (0: none), and the last id used. */
  private baselinesPending = 0;
  private nextBaselinesId = 1;

  constructor(api: VsCodeApi) {
    const state = (this.state = new AppState(api));
    this.pages = new PageClient((m) => state.post(m));
    this.pages.onChange = () => this.renderInspector();
    const ui = state.ui;
    this.toolbar = new Toolbar(ui, {
      search: (text) => this.search(text),
      topK: (k) => {
        state.setTopK(k);
        this.render();
      },
      baseline: (key) => {
        if (key === COMPUTE_BASELINES) {
          this.requestBaselines();
          return;
        }
        ui.baseline = key;
        ui.transform = null;
        this.render();
      },
      compareMode: (mode) => {
        ui.compareMode = mode;
        ui.transform = null;
        this.render();
      },
      fit: () => this.network.fit(),
      export: (format) => void this.userExport(format),
      rerun: () => state.post({ type: 'explain' }),
    });
    this.nav = {
      network: this.network,
      selection: () => ui.selection,
      select: (pane, layer, unit, center) => this.select(pane, layer, unit, center),
      clearSelection: () => {
        ui.selection = null;
        this.renderInspector();
        state.save();
      },
      toggleExpand: (layer) => this.toggleExpand(layer),
      expand: (layer) => {
        ui.expanded.push(layer);
        this.render();
      },
      focusSearch: () => this.toolbar.focusSearch(),
    };
    this.paneCallbacks = {
      select: (pane, node) => this.select(pane, node.layer, node.start, false),
      toggleExpand: (layer) => this.toggleExpand(layer),
      hover: (pane, node, edge, ev) => this.tooltip.show(this.network.specs[pane]?.result, node, edge, ev),
      zoomed: (pane, t) => {
        if (pane !== 0) return;
        ui.transform = { k: t.k, x: t.x, y: t.y };
        state.save();
      },
    };
    this.inspectorActions = {
      selectUnit: (layer, unit) => this.select(ui.selection?.pane ?? 0, layer, unit, true),
      toggleExpand: (layer) => this.toggleExpand(layer),
      expandAndSelect: (layer, unit) => {
        if (!ui.expanded.includes(layer)) ui.expanded.push(layer);
        this.render();
        this.select(ui.selection?.pane ?? 0, layer, unit, true);
      },
      navigateTree: (path) => {
        ui.treePath = path;
        this.renderInspector();
        state.save();
        (this.inspector.querySelector('.tree-panel .crumb[aria-current]') as HTMLElement | null)?.focus();
      },
    };

    this.featureMaps = new FeatureMapView({ post: (m) => state.post(m), showUnits: (show) => (this.network.element.hidden = !show) });
    const app = (this.app = document.getElementById('app') ?? document.body.appendChild(h('div', { id: 'app' })));
    const n = this.notices;
    this.panelChildren = [
      this.toolbar.element,
      n.progress,
      n.errors,
      n.warnings,
      h('main', { class: 'layout' }, h('div', { class: 'left' }, this.featureMaps.element, this.network.element, n.status), this.inspector),
      h('div', { class: 'bottom' }, this.ledgers, this.heatmaps),
      this.tooltip.element,
    ];
    // "Open in editor": the host opens the full panel for the run shown (its id, when the result carries it).
    this.sideBar = new SideBar({ openInEditor: () => state.post({ type: 'openInEditor', run: this.shownRun() }) });
    app.replaceChildren(...this.panelChildren);
    app.setAttribute('data-state', 'empty');

    document.addEventListener('keydown', (ev) => onKey(ev, this.nav));
    window.addEventListener('message', (ev: MessageEvent) => {
      if (api.acceptsMessage && !api.acceptsMessage(ev)) return; // the report: not from its own window
      this.onMessage(ev.data);
    });
    // VS Code switches themes by changing the body class and the --vscode-* variables.
    new MutationObserver(() => {
      if (state.current) this.render();
    }).observe(document.body, { attributes: true, attributeFilter: ['class'] });
    let resizeTimer = 0;
    window.addEventListener('resize', () => {
      clearTimeout(resizeTimer);
      resizeTimer = window.setTimeout(() => state.current && this.render(), 150);
    });

    state.post({ type: 'ready' });
    if (state.savedMessage) this.onMessage(state.savedMessage, true);
  }

  showError(message: string): void {
    this.notices.showError(message);
    this.state.post({ type: 'error', message });
  }

  onMessage(data: unknown, restoring = false): void {
    if (!isHostToWebview(data)) {
      const type = typeof data === 'object' && data !== null && typeof (data as { type?: unknown }).type === 'string' ? String((data as { type: string }).type) : typeof data;
      this.showError(`Ignored a message that failed validation (type: ${type.slice(0, 40)}).`);
      return;
    }
    const m: HostToWebview = data;
    switch (m.type) {
      case 'hello':
        this.setView(m.view);
        if (this.state.current) this.render();
        break;
      case 'result':
      case 'compare': {
        if (m.settings?.view) this.setView(m.settings.view);
        // Large layers arrive summarized: drawn from their maps (summaries.ts); pages of the previous result are forgotten.
        this.pages.clear();
        // An answer still due for the previous result is not this one's.
        this.baselinesPending = 0;
        this.state.setResult(m.type === 'result' ? { ...m, result: withStandIns(m.result) } : { ...m, left: withStandIns(m.left), right: withStandIns(m.right) }, restoring);
        this.drawnPending = true;
        const theme = m.settings?.theme;
        if (theme && !/\bvscode-/.test(document.body.className)) document.body.classList.add(theme === 'high-contrast' ? 'vscode-high-contrast' : `vscode-${theme}`);
        this.notices.setProgress(null);
        this.render();
        break;
      }
      case 'audit': {
        // The audit replaces the network view; the last explanation stays in the host's recent runs.
        this.state.setAudit(m);
        this.featureMaps.clear();
        this.notices.setProgress(null);
        const { panel, bars } = auditPanel(m.audit, readPalette(), (format) => this.state.post({ type: 'saveAudit', format }));
        for (const x of [this.inspector, this.ledgers, this.heatmaps, this.notices.warnings]) x.replaceChildren();
        this.network.showPanel(panel);
        this.sideBar.showMessage('A root audit is shown in the editor.');
        this.toolbar.showAudit(m.audit);
        this.app.setAttribute('data-state', 'audit');
        this.state.saveNow();
        this.state.post({ type: 'auditRendered', rows: m.audit.rows.length, bars });
        break;
      }
      case 'progress':
        this.notices.setProgress(m.progress);
        break;
      case 'page':
        this.pages.receive(m);
        break;
      case 'export':
        this.exportData(m.format).then(
          (data) => this.state.post({ type: 'exported', requestId: m.requestId, format: m.format, data }),
          (err: unknown) => this.showError(`Export as ${m.format.toUpperCase()} failed: ${err instanceof Error ? err.message : String(err)}`),
        );
        break;
      case 'concept':
        this.featureMaps.onConcept(m);
        break;
      case 'baselines':
        this.onBaselines(m);
        break;
      case 'clear':
        this.state.clear();
        this.featureMaps.clear();
        this.network.showMessage('No result.');
        this.sideBar.showMessage('No result.');
        for (const x of [this.inspector, this.ledgers, this.heatmaps, this.notices.warnings, this.notices.errors]) x.replaceChildren();
        this.toolbar.showEmpty();
        this.app.setAttribute('data-state', 'empty');
        this.state.saveNow();
        break;
    }
  }

  /** Draws everything for the current result(s) and reports 'rendered'. */
  render(): void {
    const { state, notices } = this;
    const c = state.current;
    if (!c) return;
    const ui = state.ui;
    const t0 = performance.now();
    notices.setStatus('');
    const palette = (this.palette = readPalette());
    this.app.setAttribute('data-state', c.kind);
    if (this.view === 'sidebar') {
      notices.showWarnings(resultsOf(c));
      const drawn = this.sideBar.render(c, palette);
      const renderMs = performance.now() - t0;
      state.post({ type: 'rendered', summary: { layers: c.kind === 'single' ? c.result.activations.length : 0, nodesPerLayer: drawn.nodesPerLayer, flows: drawn.flows, renderMs, view: 'sidebar' } });
      this.finishRender(renderMs);
      return;
    }
    ui.baseline = this.toolbar.showResult(c, ui, { onDemand: c.settings?.baselinesOnDemand === true, pending: this.baselinesPending !== 0 });
    notices.showWarnings(resultsOf(c));

    const { specs, note } = paneSpecs(c, ui);
    if (note) notices.setStatus(note);
    else if (this.baselinesPending !== 0) notices.setStatus('Computing the baselines (gradient, gradient × input, LRP rules)…');
    const opts = { ...defaultViewOptions, topK: ui.topK, maxUnits: ui.maxUnits, expanded: new Set(ui.expanded) };
    const views = this.network.draw(specs, opts, palette, this.paneCallbacks, ui.transform);
    // Networks with image-shaped layers: channels as feature maps, concepts on click (featureMaps.ts).
    this.featureMaps.render(c.kind === 'single' ? c.result : null, palette);
    renderLedgers(this.ledgers, ledgerResults(c, specs), palette);
    renderHeatmaps(this.heatmaps, specs, c.kind === 'single' ? c.result : c.left, c.settings, palette, { exportPng: (section) => void this.exportHeatmap(section) });
    this.renderInspector();

    const renderMs = performance.now() - t0;
    const first = views[0];
    state.post({ type: 'rendered', summary: { layers: first.layers.length, nodesPerLayer: first.layers.map((l) => l.nodes.length), flows: this.network.panes[0]?.flowCount ?? 0, renderMs, view: 'panel', ...(ui.baseline ? { baseline: ui.baseline } : {}) } });
    this.finishRender(renderMs);
  }

  private finishRender(renderMs: number): void {
    const { state } = this;
    this.app.setAttribute('data-render-ms', renderMs.toFixed(1));
    state.save();
    if (this.drawnPending) {
      this.drawnPending = false;
      // Two frames: the one that lays out and paints the new DOM has been produced (the host's progress ends here).
      requestAnimationFrame(() => requestAnimationFrame(() => state.post({ type: 'drawn' })));
    }
  }

  /** The side bar lays out for ~300 px: summary, compact ledger, mini network, assumptions, "Open in editor" (sidebar.ts). */
  private setView(view: VisualizerView): void {
    if (view === this.view) return;
    this.view = view;
    const n = this.notices;
    document.body.classList.toggle('dtd-sidebar', view === 'sidebar');
    this.app.setAttribute('data-view', view);
    this.app.replaceChildren(...(view === 'sidebar' ? [n.progress, n.errors, n.warnings, this.sideBar.element] : this.panelChildren));
  }

  /** Baselines on demand: the user opened the comparison on a result without baselines; the host computes them. */
  private requestBaselines(): void {
    const c = this.state.current;
    if (c?.kind !== 'single' || c.result.baselines || this.baselinesPending !== 0) return;
    const requestId = (this.baselinesPending = this.nextBaselinesId++);
    this.state.post({ type: 'baselines', requestId, run: this.shownRun() });
    this.render();
  }

  /** Baselines arrived (the answer to this webview's request, or computed for the run it shows): merged and, when asked, drawn. */
  private onBaselines(m: Extract<HostToWebview, { type: 'baselines' }>): void {
    const c = this.state.current;
    const answer = m.requestId !== 0 && m.requestId === this.baselinesPending;
    const run = this.shownRun();
    // Unasked: only for the stored run shown here.
    if (!answer && (m.requestId !== 0 || m.run === null || m.run !== run)) return;
    if (answer) this.baselinesPending = 0;
    if (c?.kind !== 'single') return;
    if (m.error !== undefined || !m.reply) {
      this.render();
      this.notices.showError(`Baselines: ${m.error ?? 'none arrived.'}`);
      return;
    }
    if (!c.result.baselines) this.state.setBaselines(m.reply, withStandIns);
    const got = this.state.current?.kind === 'single' ? this.state.current.result.baselines : null;
    if (got && m.show) {
      this.state.ui.baseline = 'gradientTimesInput';
      this.state.ui.transform = null;
    }
    this.render();
    if (!got) this.notices.setStatus(`No baselines: ${m.reply.warnings.join(' ') || 'the engine computed none.'}`);
    this.state.saveNow();
  }

  /** The stored run the shown result belongs to (the host sets it in the result's paged parts), when known. */
  private shownRun(): string | null {
    const c = this.state.current;
    const run = c?.kind === 'single' ? c.result.paged?.run : null;
    return typeof run === 'string' ? run : null;
  }

  private renderInspector(): void {
    const ui = this.state.ui;
    const node = this.network.focus(ui.selection);
    renderInspector(
      this.inspector,
      { specs: this.network.specs, views: this.network.views, selection: ui.selection, node, treePath: ui.treePath, palette: this.palette ?? readPalette(), pages: this.pages },
      this.inspectorActions,
    );
  }

  select(pane: number, layer: number, unit: number, center: boolean): void {
    const { network, state } = this;
    if (!network.panes.length) return;
    pane = Math.min(pane, network.panes.length - 1);
    const node = network.nodeFor(pane, layer, unit);
    if (!node) return;
    state.ui.selection = { pane, layer, unit: node.start };
    // Selecting a unit of layer 1 opens its entry of the root tree.
    const r = network.specs[pane]?.result;
    if (r && layer === 1 && !node.isBin) {
      const key = ['layer1', `root_${node.start}`];
      if (topEntries(r).some((t) => t.path[1] === key[1])) state.ui.treePath = key;
    }
    this.renderInspector();
    if (center) network.centerOn(pane, node);
    if (!node.isBin) state.post({ type: 'select', layer, unit: node.start });
    state.save();
  }

  private toggleExpand(layer: number): void {
    this.state.toggleExpanded(layer);
    this.render();
  }

  search(text: string): void {
    const { found, status } = searchUnit(text, this.nav);
    this.toolbar.markSearch(found);
    this.notices.setStatus(status);
  }

  exportData(format: Format): Promise<string> {
    return exportView(format, this.state.current, this.network.svgs, (this.palette ?? readPalette()).background);
  }

  /** The heatmap section's PNG button: saved through the same message as the toolbar's export. */
  private async exportHeatmap(section: HTMLElement): Promise<void> {
    try {
      const data = await exportHeatmapPng(section, this.state.current, (this.palette ?? readPalette()).background);
      this.state.post({ type: 'exported', requestId: 0, format: 'png', data });
    } catch (err) {
      this.showError(`Export of the heatmap as PNG failed: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  private async userExport(format: Format): Promise<void> {
    try {
      const data = await this.exportData(format);
      // requestId 0: asked from the webview's own toolbar; the host offers a save dialog.
      this.state.post({ type: 'exported', requestId: 0, format, data });
    } catch (err) {
      this.showError(`Export as ${format.toUpperCase()} failed: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
}

function start(): void {
  const api: VsCodeApi =
    typeof acquireVsCodeApi === 'function'
      ? acquireVsCodeApi()
      : (reportHost() ?? { postMessage: () => undefined, getState: () => undefined, setState: () => undefined });
  const app = new App(api);
  (window as unknown as { dtdLens?: App }).dtdLens = app;
}

if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
else start();
