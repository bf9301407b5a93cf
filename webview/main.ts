// The webview program: receives validated messages from the host (or the
// standalone report's fake host), keeps the UI state (restored through
// getState/setState), and draws the network pane(s), the root inspector, the
// conservation ledger and the image heatmap. Imports d3 and protocol types only.

import type { ZoomTransform } from 'd3';
import type { ExplainResult, LayerDiagnostics } from '../extension/protocol';
import { isConserved, isHostToWebview, type HostToWebview, type WebviewSettings, type WebviewToHost } from '../extension/protocol';
import { readPalette, type Palette } from './colors';
import { h, num } from './dom';
import { exportSvg, svgToPng } from './export';
import { heatmapPanel, imageShapeOf } from './heatmap';
import { RootTree, treePanel, unitPanel } from './inspector';
import { ledgerPanel } from './ledger';
import { auditPanel } from './audit';
import { buildNetworkView, defaultViewOptions, findNode, layerName, type NetworkView, type ViewEdge, type ViewNode } from './model';
import { renderPane, type PaneRender } from './network';

interface VsCodeApi {
  postMessage(message: unknown): void;
  getState(): unknown;
  setState(state: unknown): void;
}
declare function acquireVsCodeApi(): VsCodeApi;

type Format = 'svg' | 'png' | 'json';

interface UiState {
  v: 1;
  /** Flows drawn per unit: the host's settings.topK unless the user changed it in the toolbar. */
  topK: number;
  /** The user set topK in the toolbar (kept over the host's setting when the state is restored). */
  topKByUser?: boolean;
  maxUnits: number;
  expanded: number[];
  selection: { pane: number; layer: number; unit: number } | null;
  treePath: string[];
  transform: { k: number; x: number; y: number } | null;
  compareMode: 'side' | 'diff';
  /** Single result: compare with a baseline carried in the result ('' = none, 'gradientTimesInput', 'lrp:<key>'). */
  baseline: string;
}

interface Saved {
  ui: UiState;
  message?: HostToWebview;
}

interface PaneSpec {
  result: ExplainResult;
  label: string;
  /** Drawn relevance when it is not result.relevance (difference view). */
  relevance?: (number[] | null)[];
}

type Current =
  | { kind: 'single'; result: ExplainResult; settings?: WebviewSettings }
  | { kind: 'compare'; left: ExplainResult; right: ExplainResult; settings?: WebviewSettings };

const MAX_STATE_CHARS = 8_000_000;

function defaultUi(): UiState {
  return { v: 1, topK: defaultViewOptions.topK, maxUnits: defaultViewOptions.maxUnits, expanded: [], selection: null, treePath: [], transform: null, compareMode: 'side', baseline: '' };
}

/** settings.topK when it is a usable count (1–100), else null. */
export function topKOf(settings: WebviewSettings | undefined): number | null {
  const k = settings?.topK;
  return typeof k === 'number' && Number.isFinite(k) && k >= 1 ? Math.min(100, Math.round(k)) : null;
}

function isUi(v: unknown): v is UiState {
  return typeof v === 'object' && v !== null && (v as UiState).v === 1 && typeof (v as UiState).topK === 'number' && Array.isArray((v as UiState).expanded);
}

function describe(r: ExplainResult): string {
  const rules = r.rules?.length ? r.rules.join(', ') : '';
  return `${r.method}${rules ? ' · ' + rules : ''}${r.method === 'full-backward' ? ' · ' + r.rootFinder : ''}`;
}

/** A result whose relevance is a baseline the engine carried along (gradient × input, an LRP rule). */
export function baselineResult(r: ExplainResult, key: string): ExplainResult | null {
  if (!r.baselines) return null;
  const L = r.activations.length - 1;
  let layers: (number[] | null)[];
  let label: string;
  if (key === 'gradientTimesInput') {
    layers = [r.baselines.gradientTimesInput];
    label = 'gradient × input';
  } else if (key.startsWith('lrp:') && r.baselines.lrp[key.slice(4)]) {
    const b = r.baselines.lrp[key.slice(4)];
    layers = b.perLayer && b.perLayer.length ? b.perLayer : [b.relevance];
    label = `LRP ${key.slice(4)}`;
  } else return null;
  const relevance: (number[] | null)[] = Array.from({ length: L + 1 }, (_, l) => (l < L ? (layers[l] ?? null) : r.relevance[L]));
  const diag: LayerDiagnostics[] = [];
  relevance.forEach((v, l) => {
    if (!v) return;
    let sum = 0;
    let neg = 0;
    for (const x of v) {
      sum += x;
      if (x < 0) neg += x;
    }
    diag.push({ index: l, name: layerName(r, l), relevanceSum: sum, explainedValue: r.explainedValue, conservationError: sum - r.explainedValue, conserved: isConserved(sum, r.explainedValue), negativeMass: neg, rootsTotal: 0, rootsInRegion: 0, rootsInDomain: 0, rootsWithZeroRelevance: 0 });
  });
  // No flows: a baseline has none, and `flowsOf` must not fall back to the DTD result's.
  return { ...r, relevance, roots: [], tree: null, flows: [], rules: [label], diagnostics: { layers: diag }, baselines: null, message: null, warnings: [] } as ExplainResult;
}

class App {
  private readonly api: VsCodeApi;
  private ui: UiState;
  private current: Current | null = null;
  private lastMessage: HostToWebview | null = null;
  private panes: PaneRender[] = [];
  private specs: PaneSpec[] = [];
  private palette: Palette | null = null;
  private stateTimer = 0;
  private readonly el: {
    app: HTMLElement;
    title: HTMLElement;
    meta: HTMLElement;
    search: HTMLInputElement;
    topK: HTMLInputElement;
    baseline: HTMLSelectElement;
    compareMode: HTMLSelectElement;
    progress: HTMLElement;
    progressBar: HTMLElement;
    progressText: HTMLElement;
    errors: HTMLElement;
    warnings: HTMLElement;
    panes: HTMLElement;
    inspector: HTMLElement;
    ledgers: HTMLElement;
    heatmaps: HTMLElement;
    tooltip: HTMLElement;
    status: HTMLElement;
  };

  constructor(api: VsCodeApi) {
    this.api = api;
    const saved = api.getState() as Saved | undefined;
    this.ui = saved && isUi(saved.ui) ? { ...defaultUi(), ...saved.ui } : defaultUi();
    const app = document.getElementById('app') ?? document.body.appendChild(h('div', { id: 'app' }));
    const button = (label: string, title: string, fn: () => void, cls = '') => {
      const b = h('button', { class: `tool ${cls}`, title, type: 'button' }, label);
      b.addEventListener('click', fn);
      return b;
    };
    const search = h('input', { class: 'search', type: 'search', placeholder: 'find unit, e.g. 2:15', 'aria-label': 'find a unit by layer and index', spellcheck: 'false' });
    const topK = h('input', { class: 'topk', type: 'number', min: 1, max: 100, value: this.ui.topK, 'aria-label': 'flows per unit', title: 'flows drawn per unit (top-k by |flow|); the rest is aggregated' });
    const baseline = h('select', { class: 'baseline', 'aria-label': 'compare with a baseline', title: 'compare with a baseline carried in the result' });
    const compareMode = h('select', { class: 'compare-mode', 'aria-label': 'comparison view' }, h('option', { value: 'side' }, 'side by side'), h('option', { value: 'diff' }, 'difference (right − left)'));
    compareMode.value = this.ui.compareMode;
    const progressBar = h('div', { class: 'progress-bar' });
    const progressText = h('span', { class: 'progress-text' });
    this.el = {
      app,
      title: h('h1', { class: 'title' }, 'DTD Lens'),
      meta: h('div', { class: 'meta' }),
      search,
      topK,
      baseline,
      compareMode,
      progress: h('div', { class: 'progress', hidden: true, role: 'progressbar', 'aria-label': 'explaining' }, h('div', { class: 'progress-track' }, progressBar), progressText),
      progressBar,
      progressText,
      errors: h('div', { class: 'errors', role: 'alert' }),
      warnings: h('div', { class: 'warnings' }),
      panes: h('div', { class: 'panes' }),
      inspector: h('aside', { class: 'inspector', 'aria-label': 'root inspector' }),
      ledgers: h('div', { class: 'ledgers' }),
      heatmaps: h('div', { class: 'heatmaps' }),
      tooltip: h('div', { class: 'tooltip', hidden: true, role: 'tooltip' }),
      status: h('div', { class: 'status', 'aria-live': 'polite' }),
    };
    const e = this.el;
    const toolbar = h(
      'header',
      { class: 'toolbar' },
      h('div', { class: 'heading' }, e.title, e.meta),
      h(
        'div',
        { class: 'controls' },
        search,
        h('label', { class: 'ctl' }, 'top-k ', topK),
        h('label', { class: 'ctl baseline-ctl' }, 'compare ', baseline),
        h('label', { class: 'ctl compare-ctl' }, 'view ', compareMode),
        button('Fit', 'fit the network in view (0)', () => this.panes.forEach((p) => p.resetZoom())),
        button('SVG', 'export the view as SVG', () => void this.userExport('svg'), 'export-svg'),
        button('PNG', 'export the view as PNG', () => void this.userExport('png'), 'export-png'),
        button('JSON', 'export the result as JSON', () => void this.userExport('json'), 'export-json'),
        button('Re-run', 'explain again', () => this.post({ type: 'explain' }), 'rerun'),
      ),
    );
    app.replaceChildren(
      toolbar,
      e.progress,
      e.errors,
      e.warnings,
      h('main', { class: 'layout' }, h('div', { class: 'left' }, e.panes, e.status), e.inspector),
      h('div', { class: 'bottom' }, e.ledgers, e.heatmaps),
      e.tooltip,
    );
    app.setAttribute('data-state', 'empty');
    e.panes.append(h('p', { class: 'empty' }, 'Waiting for a result…'));

    search.addEventListener('keydown', (ev) => {
      if (ev.key === 'Enter') this.search(search.value);
      if (ev.key === 'Escape') search.blur();
    });
    topK.addEventListener('change', () => {
      const k = Math.round(Number(topK.value));
      if (Number.isFinite(k) && k >= 1 && k <= 100) {
        this.ui.topK = k;
        this.ui.topKByUser = true;
        this.render();
      } else topK.value = String(this.ui.topK);
    });
    baseline.addEventListener('change', () => {
      this.ui.baseline = baseline.value;
      this.ui.transform = null;
      this.render();
    });
    compareMode.addEventListener('change', () => {
      this.ui.compareMode = compareMode.value === 'diff' ? 'diff' : 'side';
      this.ui.transform = null;
      this.render();
    });
    document.addEventListener('keydown', (ev) => this.onKey(ev));
    window.addEventListener('message', (ev: MessageEvent) => this.onMessage(ev.data));
    // VS Code switches themes by changing the body class and the --vscode-* variables.
    new MutationObserver(() => {
      if (this.current) this.render();
    }).observe(document.body, { attributes: true, attributeFilter: ['class'] });
    let resizeTimer = 0;
    window.addEventListener('resize', () => {
      clearTimeout(resizeTimer);
      resizeTimer = window.setTimeout(() => this.current && this.render(), 150);
    });

    this.post({ type: 'ready' });
    if (saved?.message && isHostToWebview(saved.message)) this.onMessage(saved.message, true);
  }

  private post(m: WebviewToHost): void {
    this.api.postMessage(m);
  }

  private saveState(): void {
    clearTimeout(this.stateTimer);
    this.stateTimer = window.setTimeout(() => this.saveStateNow(), 100);
  }

  private saveStateNow(): void {
    const s: Saved = { ui: this.ui };
    if (this.lastMessage) {
      // Large results are not kept: the host re-sends them (its serializer knows the run).
      const text = JSON.stringify(this.lastMessage);
      if (text.length <= MAX_STATE_CHARS) s.message = this.lastMessage;
    }
    this.api.setState(s);
  }

  showError(message: string): void {
    const close = h('button', { class: 'close', title: 'dismiss', type: 'button' }, '×');
    const item = h('div', { class: 'error' }, h('span', {}, message), close);
    close.addEventListener('click', () => item.remove());
    this.el.errors.append(item);
    this.post({ type: 'error', message });
  }

  onMessage(data: unknown, restoring = false): void {
    if (!isHostToWebview(data)) {
      const type = typeof data === 'object' && data !== null && typeof (data as { type?: unknown }).type === 'string' ? String((data as { type: string }).type) : typeof data;
      this.showError(`Ignored a message that failed validation (type: ${type.slice(0, 40)}).`);
      return;
    }
    const m = data;
    switch (m.type) {
      case 'result':
      case 'compare': {
        const prev = this.current;
        this.current = m.type === 'result' ? { kind: 'single', result: m.result, settings: m.settings } : { kind: 'compare', left: m.left, right: m.right, settings: m.settings };
        if (!restoring && prev) {
          // A new run: keep the preferences, drop what belonged to the old result.
          this.ui.selection = null;
          this.ui.treePath = [];
          this.ui.transform = null;
        }
        // The host's dtdLens.topK decides the drawing; a restored view keeps a top-k the user chose in the toolbar.
        const k = topKOf(m.settings);
        if (k !== null && (!restoring || !this.ui.topKByUser)) {
          this.ui.topK = k;
          this.ui.topKByUser = false;
        }
        const theme = m.settings?.theme;
        if (theme && !/\bvscode-/.test(document.body.className)) document.body.classList.add(theme === 'high-contrast' ? 'vscode-high-contrast' : `vscode-${theme}`);
        this.lastMessage = m;
        this.setProgress(null);
        this.render();
        break;
      }
      case 'audit': {
        // The audit replaces the network view; the last explanation stays in the host's recent runs.
        this.current = null;
        this.panes = [];
        this.lastMessage = m;
        this.setProgress(null);
        const { panel, bars } = auditPanel(m.audit, readPalette());
        for (const x of [this.el.inspector, this.el.ledgers, this.el.heatmaps, this.el.warnings]) x.replaceChildren();
        this.el.panes.classList.remove('two');
        this.el.panes.replaceChildren(panel);
        this.el.title.textContent = `Root audit · ${m.audit.model.name}`;
        this.el.meta.textContent = `${m.audit.inputs} inputs · seed ${m.audit.seed}`;
        this.el.app.setAttribute('data-state', 'audit');
        this.saveStateNow();
        this.post({ type: 'auditRendered', rows: m.audit.rows.length, bars });
        break;
      }
      case 'progress':
        this.setProgress(m.progress);
        break;
      case 'export':
        this.exportData(m.format).then(
          (data) => this.post({ type: 'exported', requestId: m.requestId, format: m.format, data }),
          (err: unknown) => this.showError(`Export as ${m.format.toUpperCase()} failed: ${err instanceof Error ? err.message : String(err)}`),
        );
        break;
      case 'clear':
        this.current = null;
        this.lastMessage = null;
        this.ui.selection = null;
        this.ui.treePath = [];
        this.panes = [];
        this.el.panes.replaceChildren(h('p', { class: 'empty' }, 'No result.'));
        for (const x of [this.el.inspector, this.el.ledgers, this.el.heatmaps, this.el.warnings, this.el.errors]) x.replaceChildren();
        this.el.title.textContent = 'DTD Lens';
        this.el.meta.textContent = '';
        this.el.app.setAttribute('data-state', 'empty');
        this.saveStateNow();
        break;
    }
  }

  private setProgress(p: { stage: string; fraction?: number } | null): void {
    const e = this.el;
    if (!p) {
      e.progress.hidden = true;
      return;
    }
    e.progress.hidden = false;
    const known = typeof p.fraction === 'number' && Number.isFinite(p.fraction);
    e.progress.classList.toggle('indeterminate', !known);
    const pct = known ? Math.max(0, Math.min(1, p.fraction as number)) * 100 : 0;
    e.progressBar.style.width = known ? `${pct}%` : '30%';
    e.progress.setAttribute('aria-valuenow', known ? String(Math.round(pct)) : '');
    e.progressText.textContent = `${p.stage}${known ? ` · ${Math.round(pct)} %` : ''}`;
  }

  // ── drawing ──────────────────────────────────────────────────────────────

  private paneSpecs(): PaneSpec[] {
    const c = this.current;
    if (!c) return [];
    if (c.kind === 'single') {
      const b = this.ui.baseline ? baselineResult(c.result, this.ui.baseline) : null;
      if (!b) return [{ result: c.result, label: describe(c.result) }];
      return this.comparePanes(c.result, b, describe(c.result), b.rules[0]);
    }
    return this.comparePanes(c.left, c.right, describe(c.left), describe(c.right));
  }

  private comparePanes(left: ExplainResult, right: ExplainResult, ll: string, rl: string): PaneSpec[] {
    if (this.ui.compareMode === 'diff') {
      const same = left.activations.length === right.activations.length && left.activations.every((a, l) => a.length === right.activations[l].length);
      if (same) {
        const relevance = left.relevance.map((a, l) => {
          const b = right.relevance[l];
          return a && b ? a.map((v, i) => b[i] - v) : null;
        });
        return [{ result: right, label: `difference: ${rl} − ${ll}`, relevance }];
      }
      this.el.status.textContent = 'The two networks differ in shape: showing them side by side.';
    }
    return [
      { result: left, label: ll },
      { result: right, label: rl },
    ];
  }

  render(): void {
    const c = this.current;
    if (!c) return;
    const t0 = performance.now();
    const e = this.el;
    e.status.textContent = '';
    const palette = readPalette();
    this.palette = palette;
    const main = c.kind === 'single' ? c.result : c.left;
    e.app.setAttribute('data-state', c.kind);
    e.title.textContent = main.model?.name ? `${main.model.name}` : 'DTD Lens';
    e.meta.replaceChildren(
      c.kind === 'single' ? describe(c.result) : `${describe(c.left)}  vs  ${describe(c.right)}`,
      ' · output ',
      String(main.explainedOutput),
      ' · f(x) = ',
      num(main.explainedValue),
      main.status === 'failed' ? h('span', { class: 'fail-text' }, ' · failed') : '',
    );
    // Baseline choices (single result only).
    e.baseline.replaceChildren(h('option', { value: '' }, 'none'));
    if (c.kind === 'single' && c.result.baselines) {
      e.baseline.append(h('option', { value: 'gradientTimesInput' }, 'gradient × input'));
      for (const k of Object.keys(c.result.baselines.lrp ?? {})) e.baseline.append(h('option', { value: `lrp:${k}` }, `LRP ${k}`));
    }
    e.baseline.value = this.ui.baseline;
    if (e.baseline.value !== this.ui.baseline) this.ui.baseline = '';
    (e.baseline.parentElement as HTMLElement).hidden = c.kind !== 'single' || !c.result.baselines;
    const comparing = c.kind === 'compare' || this.ui.baseline !== '';
    (e.compareMode.parentElement as HTMLElement).hidden = !comparing;
    e.compareMode.value = this.ui.compareMode;
    e.topK.value = String(this.ui.topK);

    // Warnings and failures the result itself reports.
    e.warnings.replaceChildren();
    for (const r of c.kind === 'single' ? [c.result] : [c.left, c.right]) {
      if (r.message) e.warnings.append(h('div', { class: r.status === 'failed' ? 'warning failed' : 'warning' }, `${r.status === 'failed' ? 'Failed' : 'Note'} (${r.statusCode}): ${r.message}`));
      for (const w of r.warnings ?? []) e.warnings.append(h('div', { class: 'warning' }, w));
    }

    const specs = this.paneSpecs();
    this.specs = specs;
    const opts = { ...defaultViewOptions, topK: this.ui.topK, maxUnits: this.ui.maxUnits, expanded: new Set(this.ui.expanded) };
    const views = specs.map((s) => buildNetworkView(s.result, opts, s.relevance));
    // One colour scale per layer shared by all panes: a comparison compares colours honestly.
    const depth = Math.max(...views.map((v) => v.layers.length));
    const maxAbs = Array.from({ length: depth }, (_, l) => Math.max(0, ...views.map((v) => v.layers[l]?.maxAbs ?? 0)));
    e.panes.replaceChildren();
    e.panes.classList.toggle('two', specs.length > 1);
    // All pane containers first, so each measures its final width before drawing.
    const bodies = specs.map((s, i) => {
      const body = h('div', { class: 'pane-body' });
      const wrap = h('section', { class: 'pane', 'data-pane': i }, h('h2', { class: 'pane-title' }, s.label), body);
      e.panes.append(wrap);
      if (!views[i].flowsAvailable) wrap.append(h('p', { class: 'muted note' }, 'This result carries no relevance flows: only unit colours are drawn.'));
      return body;
    });
    this.panes = specs.map((s, i) =>
      renderPane(bodies[i], i, views[i], palette, maxAbs, s.label, {
        select: (pane, node) => this.select(pane, node.layer, node.start, false),
        toggleExpand: (layer) => this.toggleExpand(layer),
        hover: (pane, node, edge, ev) => this.hover(pane, node, edge, ev),
        zoomed: (pane, t) => this.zoomed(pane, t),
      }),
    );
    if (this.ui.transform) for (const p of this.panes) p.setTransform(this.ui.transform);

    // Ledger(s) and heatmap(s).
    e.ledgers.replaceChildren();
    const distinct = [...new Set(specs.map((s) => s.result))];
    const ledgerResults = c.kind === 'compare' ? [c.left, c.right] : distinct.length > 1 ? distinct : [c.result];
    for (const r of ledgerResults) e.ledgers.append(ledgerPanel(r, palette, describe(r)));
    e.heatmaps.replaceChildren();
    const shape = imageShapeOf(main, c.settings);
    if (shape) {
      const maps = specs.flatMap((s) => {
        const rel = (s.relevance ?? s.result.relevance)[0];
        return rel ? [{ label: s.label, relevance: rel }] : [];
      });
      if (maps.length) e.heatmaps.append(heatmapPanel(shape, main.input ?? main.activations[0], maps, palette));
    }

    this.renderInspector();
    const renderMs = performance.now() - t0;
    const first = views[0];
    this.post({ type: 'rendered', summary: { layers: first.layers.length, nodesPerLayer: first.layers.map((l) => l.nodes.length), flows: this.panes[0]?.flowCount ?? 0, renderMs } });
    e.app.setAttribute('data-render-ms', renderMs.toFixed(1));
    this.saveState();
  }

  // ── selection, inspector, tree ───────────────────────────────────────────

  private nodeFor(pane: number, layer: number, unit: number): ViewNode | undefined {
    const p = this.panes[pane] ?? this.panes[0];
    return p ? findNode(p.view, layer, unit) : undefined;
  }

  select(pane: number, layer: number, unit: number, center: boolean): void {
    if (!this.panes.length) return;
    pane = Math.min(pane, this.panes.length - 1);
    const node = this.nodeFor(pane, layer, unit);
    if (!node) return;
    this.ui.selection = { pane, layer, unit: node.start };
    const r = this.specs[pane]?.result;
    if (r?.tree && layer === 1 && !node.isBin) {
      const key = ['layer1', `root_${node.start}`];
      if (r.tree.some((t) => t.path.length === 2 && t.path[1] === key[1])) this.ui.treePath = key;
    }
    this.renderInspector();
    if (center) this.panes[pane].centerOn(node);
    if (!node.isBin) this.post({ type: 'select', layer, unit: node.start });
    this.saveState();
  }

  private renderInspector(): void {
    const e = this.el;
    const palette = this.palette ?? readPalette();
    e.inspector.replaceChildren();
    for (const p of this.panes) p.setFocus(null);
    const sel = this.ui.selection;
    const spec = sel ? this.specs[Math.min(sel.pane, this.specs.length - 1)] : this.specs[0];
    if (sel) {
      const node = this.nodeFor(sel.pane, sel.layer, sel.unit);
      if (node) {
        for (const p of this.panes) {
          const n = findNode(p.view, sel.layer, sel.unit);
          p.setFocus(n ?? null);
        }
        if (node.isBin) e.inspector.append(this.binPanel(spec, node));
        else {
          const shown = new Set<ExplainResult>();
          for (const s of this.specs) {
            if (shown.has(s.result)) continue;
            shown.add(s.result);
            const panel = unitPanel(s.result, node.layer, node.start, palette);
            if (this.specs.length > 1) panel.prepend(h('div', { class: 'pane-tag' }, s.label));
            e.inspector.append(panel);
          }
          e.inspector.append(this.flowList(this.panes[sel.pane].view, node));
        }
      }
    } else {
      e.inspector.append(h('p', { class: 'muted hint' }, 'Click a unit (or use the arrow keys in the network) to inspect its root. Bins group the units of a wide layer: expand them from the column header.'));
    }
    // The root tree of the first full-backward result on screen.
    const withTree = (spec && spec.result.tree ? spec : this.specs.find((s) => s.result.tree))?.result;
    if (withTree?.tree) {
      const tree = new RootTree(withTree.tree);
      const path = this.ui.treePath.length && !tree.byKey.has(this.ui.treePath.join('/')) ? [] : this.ui.treePath;
      e.inspector.append(
        treePanel(tree, path, withTree.treeTruncated, palette, (p) => {
          this.ui.treePath = p;
          this.renderInspector();
          this.saveState();
          (e.inspector.querySelector('.tree-panel .crumb[aria-current]') as HTMLElement | null)?.focus();
        }),
      );
    }
  }

  private binPanel(spec: PaneSpec, node: ViewNode): HTMLElement {
    const r = spec.result;
    const rel = (spec.relevance ?? r.relevance)[node.layer];
    const panel = h('section', { class: 'bin-panel', 'data-layer': node.layer, 'data-start': node.start, 'data-end': node.end });
    panel.append(h('h3', {}, `${layerName(r, node.layer)} · units ${node.start}–${node.end - 1}`));
    panel.append(h('div', { class: 'kv' }, h('span', { class: 'k' }, 'Σ relevance'), num(node.relevance)), h('div', { class: 'kv' }, h('span', { class: 'k' }, 'mean activation'), num(node.activation)));
    const expand = h('button', { class: 'tool expand', type: 'button' }, 'Expand this layer');
    expand.addEventListener('click', () => this.toggleExpand(node.layer));
    panel.append(expand);
    if (rel) {
      const units = Array.from({ length: node.end - node.start }, (_, i) => node.start + i).sort((a, b) => Math.abs(rel[b]) - Math.abs(rel[a]));
      const list = h('ol', { class: 'bin-units' });
      for (const u of units.slice(0, 12)) {
        const b = h('button', { class: 'link', type: 'button' }, `unit ${u}`);
        b.addEventListener('click', () => {
          if (!this.ui.expanded.includes(node.layer)) this.ui.expanded.push(node.layer);
          this.render();
          this.select(this.ui.selection?.pane ?? 0, node.layer, u, true);
        });
        list.append(h('li', {}, b, ' ', num(rel[u])));
      }
      panel.append(h('h4', {}, 'Largest |relevance| in this bin'), list);
    }
    return panel;
  }

  private flowList(view: NetworkView, node: ViewNode): HTMLElement {
    const into = view.edges.filter((e) => e.target === node).sort((a, b) => Math.abs(b.value) - Math.abs(a.value));
    const out = view.edges.filter((e) => e.source === node).sort((a, b) => Math.abs(b.value) - Math.abs(a.value));
    const rest = view.rests.find((r) => r.node === node);
    const sec = h('section', { class: 'flow-list' });
    const item = (e: ViewEdge, other: ViewNode) => {
      const b = h('button', { class: 'link', type: 'button' }, other.isBin ? `${layerName(this.specs[0].result, other.layer)} ${other.start}–${other.end - 1}` : `${layerName(this.specs[0].result, other.layer)} ${other.start}`);
      b.addEventListener('click', () => this.select(this.ui.selection?.pane ?? 0, other.layer, other.start, true));
      return h('li', {}, b, ' ', num(e.value));
    };
    if (into.length) sec.append(h('h4', {}, `Flows into this unit (top ${into.length})`), h('ol', { class: 'flows-in' }, ...into.map((e) => item(e, e.source))));
    if (rest) sec.append(h('p', { class: 'muted rest-note' }, `… and ${rest.count} more, summing to `, num(rest.value)));
    if (out.length) sec.append(h('h4', {}, `Flows out of this unit (drawn: ${out.length})`), h('ol', { class: 'flows-out' }, ...out.slice(0, 10).map((e) => item(e, e.target))));
    return sec;
  }

  private toggleExpand(layer: number): void {
    const i = this.ui.expanded.indexOf(layer);
    if (i >= 0) this.ui.expanded.splice(i, 1);
    else this.ui.expanded.push(layer);
    this.ui.transform = null;
    this.render();
  }

  private hover(pane: number, node: ViewNode | null, edge: ViewEdge | null, ev: MouseEvent): void {
    const t = this.el.tooltip;
    if (!node && !edge) {
      t.hidden = true;
      return;
    }
    const r = this.specs[pane]?.result;
    if (!r) return;
    const lines: (string | Node)[] = [];
    if (node) {
      const name = layerName(r, node.layer);
      lines.push(h('b', {}, node.isBin ? `${name} · units ${node.start}–${node.end - 1}` : `${name} · unit ${node.start}`));
      lines.push(h('div', {}, node.isBin ? 'Σ relevance ' : 'relevance ', node.relevance === null ? 'not computed' : String(node.relevance)));
      lines.push(h('div', {}, node.isBin ? 'mean activation ' : 'activation ', String(node.activation), node.off ? ' (off)' : ''));
      const info = !node.isBin && node.layer >= 1 ? r.roots[node.layer - 1]?.[node.start] : undefined;
      if (info && info.unit === node.start && info.checks) {
        const c = info.checks;
        lines.push(h('div', {}, `root: ${c.relevanceZero ? '✓' : '✗'} R≈0  ${c.inRegion ? '✓' : '✗'} region  ${c.inDomain ? '✓' : '✗'} domain`));
      }
      if (node.explained) lines.push(h('div', {}, 'the explained output'));
    } else if (edge) {
      const rr = this.specs[pane].result;
      lines.push(h('b', {}, `${layerName(rr, edge.source.layer)} ${edge.source.isBin ? `${edge.source.start}–${edge.source.end - 1}` : edge.source.start} → ${layerName(rr, edge.target.layer)} ${edge.target.isBin ? `${edge.target.start}–${edge.target.end - 1}` : edge.target.start}`));
      lines.push(h('div', {}, 'flow ', String(edge.value)));
    }
    t.replaceChildren(...lines);
    t.hidden = false;
    const x = Math.min(window.innerWidth - 280, ev.clientX + 14);
    t.style.left = `${x + window.scrollX}px`;
    t.style.top = `${ev.clientY + 14 + window.scrollY}px`;
  }

  private zoomed(pane: number, t: ZoomTransform): void {
    if (pane !== 0) return;
    this.ui.transform = { k: t.k, x: t.x, y: t.y };
    this.saveState();
  }

  // ── keyboard and search ──────────────────────────────────────────────────

  private onKey(ev: KeyboardEvent): void {
    const target = ev.target as HTMLElement | null;
    const typing = target && (target.tagName === 'INPUT' || target.tagName === 'SELECT' || target.tagName === 'TEXTAREA');
    if (typing) return;
    if (ev.key === '/') {
      ev.preventDefault();
      this.el.search.focus();
      return;
    }
    if (!this.panes.length) return;
    const sel = this.ui.selection;
    const pane = sel?.pane ?? 0;
    const view = this.panes[pane].view;
    const move = (layer: number, index: number) => {
      const l = view.layers[Math.max(0, Math.min(view.layers.length - 1, layer))];
      const n = l.nodes[Math.max(0, Math.min(l.nodes.length - 1, index))];
      this.select(pane, n.layer, n.start, false);
      ev.preventDefault();
    };
    const cur = sel ? findNode(view, sel.layer, sel.unit) : undefined;
    switch (ev.key) {
      case 'ArrowDown':
      case 'ArrowUp':
        if (!cur) move(0, 0);
        else move(cur.layer, cur.index + (ev.key === 'ArrowDown' ? 1 : -1));
        break;
      case 'ArrowLeft':
      case 'ArrowRight': {
        if (!cur) {
          move(0, 0);
          break;
        }
        const to = cur.layer + (ev.key === 'ArrowRight' ? 1 : -1);
        if (to < 0 || to >= view.layers.length) break;
        const from = view.layers[cur.layer].nodes.length;
        const rel = from > 1 ? cur.index / (from - 1) : 0.5;
        move(to, Math.round(rel * (view.layers[to].nodes.length - 1)));
        break;
      }
      case 'Enter':
        if (cur?.isBin) this.toggleExpand(cur.layer);
        else if (cur) this.panes[pane].centerOn(cur);
        break;
      case 'Escape':
        this.ui.selection = null;
        this.renderInspector();
        this.saveState();
        break;
      case '+':
      case '=':
        this.panes.forEach((p) => p.zoomBy(1.25));
        break;
      case '-':
        this.panes.forEach((p) => p.zoomBy(0.8));
        break;
      case '0':
        this.panes.forEach((p) => p.resetZoom());
        break;
      case 'e':
        if (cur) this.toggleExpand(cur.layer);
        break;
    }
  }

  /** "2:15", "layer2 15", "L2.15", or "15" (a unit of the selected layer, else the input). */
  search(text: string): void {
    const s = text.trim();
    const m = /^(?:l(?:ayer)?\s*)?(\d+)\s*[:.,\s]\s*(\d+)$/i.exec(s) ?? null;
    const only = /^(\d+)$/.exec(s);
    const view = this.panes[0]?.view;
    if (!view || (!m && !only)) {
      this.el.search.classList.add('invalid');
      this.el.status.textContent = `Search "${s}": write layer:unit, e.g. 1:3 (layer 0 is the input).`;
      return;
    }
    const layer = m ? Number(m[1]) : (this.ui.selection?.layer ?? 0);
    const unit = Number(m ? m[2] : only![1]);
    const l = view.layers[layer];
    if (!l || unit >= l.width) {
      this.el.search.classList.add('invalid');
      this.el.status.textContent = l ? `${l.name} has ${l.width} units (0–${l.width - 1}).` : `There is no layer ${layer} (0–${view.layers.length - 1}).`;
      return;
    }
    this.el.search.classList.remove('invalid');
    if (l.binSize > 1) {
      this.ui.expanded.push(layer);
      this.render();
    }
    this.select(this.ui.selection?.pane ?? 0, layer, unit, true);
    this.el.status.textContent = `Found ${l.name} unit ${unit}.`;
  }

  // ── export ───────────────────────────────────────────────────────────────

  async exportData(format: Format): Promise<string> {
    const c = this.current;
    if (!c) throw new Error('there is nothing to export yet');
    if (format === 'json') return JSON.stringify(c.kind === 'single' ? c.result : { left: c.left, right: c.right });
    const svgs = this.panes.map((p) => p.svg);
    const bg = (this.palette ?? readPalette()).background;
    const svg = exportSvg(svgs, bg);
    if (format === 'svg') return svg;
    const W = svgs.reduce((a, s) => a + (Number(s.getAttribute('width')) || 0), 0);
    const H = Math.max(...svgs.map((s) => Number(s.getAttribute('height')) || 0));
    return svgToPng(svg, W, H);
  }

  private async userExport(format: Format): Promise<void> {
    try {
      const data = await this.exportData(format);
      // requestId 0: asked from the webview's own toolbar; the host offers a save dialog.
      this.post({ type: 'exported', requestId: 0, format, data });
    } catch (err) {
      this.showError(`Export as ${format.toUpperCase()} failed: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
}

function start(): void {
  const api: VsCodeApi =
    typeof acquireVsCodeApi === 'function'
      ? acquireVsCodeApi()
      : { postMessage: () => undefined, getState: () => undefined, setState: () => undefined };
  const app = new App(api);
  (window as unknown as { dtdLens?: App }).dtdLens = app;
}

if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
else start();
