// The side-bar layout (the host says a webview is the side-bar view: hello /
// settings.view 'sidebar'): made for ~260–400 px, not the panel squeezed. The
// summary line (model, method and rules, output, f(x), status with the failing
// checks), "Open in editor" (the full panel for the same run), the compact
// conservation ledger (ledger.ts), a mini network (the layers, their relevance
// colours and the strongest flows, drawn to the width) and the Assumptions.

import type { ExplainResult } from '../extension/protocol';
import { divergingColor, type Palette } from './colors';
import { describe } from './compare';
import { badge, h, num } from './dom';
import { compactLedger, failedChecks } from './ledger';
import { buildNetworkView, defaultViewOptions, type NetworkView } from './model';
import type { Current } from './state';
import { Assumptions } from './toolbar';

const SVGNS = 'http://www.w3.org/2000/svg';
/** Units per column of the mini network before a layer is drawn as bins. */
const MINI_MAX_UNITS = 16;
/** Flows drawn: the strongest by |flow| over the whole network. */
const MINI_FLOWS = 40;

export interface SideBarActions {
  openInEditor(): void;
}

export interface SideBarDrawn {
  nodesPerLayer: number[];
  flows: number;
}

export class SideBar {
  readonly element = h('div', { class: 'sidebar' });
  private readonly assumptions = new Assumptions();

  constructor(private readonly actions: SideBarActions) {
    this.showMessage('Waiting for a result…');
  }

  showMessage(text: string): void {
    this.element.replaceChildren(h('p', { class: 'empty' }, text));
  }

  /** Draws what `c` shows; the mini network's node counts and flows, for 'rendered'. */
  render(c: Current, palette: Palette): SideBarDrawn {
    const open = h('button', { class: 'tool open-in-editor', type: 'button', title: 'open the full visualizer (network, inspector, heatmaps) in an editor tab' }, 'Open in editor');
    open.addEventListener('click', () => this.actions.openInEditor());
    if (c.kind !== 'single') {
      this.element.replaceChildren(h('p', { class: 'muted' }, 'A comparison is shown in the editor.'), open);
      return { nodesPerLayer: [], flows: 0 };
    }
    const r = c.result;
    this.assumptions.show([r]);
    const mini = h('figure', { class: 'mini-network-figure' });
    this.element.replaceChildren(summary(r), open, compactLedger(r, palette), mini, this.assumptions.element);
    // Drawn after it is in the page: the figure's width is the side bar's.
    return drawMiniNetwork(mini, r, palette);
  }
}

/** Model, method and rules, output, f(x), and the status: the failing checks as badges. */
function summary(r: ExplainResult): HTMLElement {
  const layers = r.diagnostics?.layers ?? [];
  const failing = layers.map((d) => ({ d, fails: failedChecks(layers, d) })).filter((x) => x.fails.length > 0);
  // Per check, how many layers fail it (the ledger below says which).
  const byCheck = new Map<string, { label: string; layers: string[] }>();
  const names = { conservation: 'Σ R ≠ f(x)', region: 'roots outside region', domain: 'roots outside domain', zero: 'R ≠ 0 at root' } as const;
  for (const { d, fails } of failing) {
    for (const f of fails) {
      const e = byCheck.get(f.check) ?? { label: names[f.check], layers: [] };
      e.layers.push(d.name);
      byCheck.set(f.check, e);
    }
  }
  const ok = r.status !== 'failed' && byCheck.size === 0;
  const status = h(
    'div',
    { class: 'sb-status badges', 'data-status': ok ? 'pass' : 'fail' },
    r.status === 'failed' ? badge('failed', 'fail', r.message ?? 'the explanation failed') : null,
    byCheck.size === 0 ? badge('all checks pass', r.status === 'failed' ? 'unknown' : 'pass', 'every layer conserves f(x) and every root passes its checks') : null,
    ...[...byCheck.entries()].map(([check, e]) => {
      const b = badge(`${e.label} (${e.layers.length} layer${e.layers.length === 1 ? '' : 's'})`, 'fail', `${e.label}: ${e.layers.join(', ')}`);
      b.setAttribute('data-failed-check', check);
      return b;
    }),
  );
  return h(
    'section',
    { class: 'sb-summary', 'aria-label': 'summary' },
    h('h1', { class: 'title', title: r.model?.name ?? '' }, r.model?.name ?? 'DTD Lens'),
    h('div', { class: 'meta' }, describe(r), ' · output ', String(r.explainedOutput), ' · f(x) = ', num(r.explainedValue)),
    status,
  );
}

function svg<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Record<string, string | number>): SVGElementTagNameMap[K] {
  const el = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  return el;
}

/** Short enough for `chars` characters; the full text goes in a title. */
function ellipsize(text: string, chars: number): string {
  return text.length > chars ? `${text.slice(0, Math.max(1, chars - 1))}…` : text;
}

/**
 * The mini network: one column per layer spread over the figure's width, its units (or bins of a wide layer)
 * coloured by relevance (one scale per layer, as in the panel), and the strongest flows of the whole network.
 * Not zoomable; each unit's title gives its relevance.
 */
export function drawMiniNetwork(fig: HTMLElement, r: ExplainResult, palette: Palette): SideBarDrawn {
  const view: NetworkView = buildNetworkView(r, { ...defaultViewOptions, topK: 3, maxUnits: MINI_MAX_UNITS, expanded: new Set() });
  const W = Math.max(200, Math.floor(fig.clientWidth || 280));
  const L = view.layers.length;
  const rows = Math.max(1, ...view.layers.map((l) => l.nodes.length));
  const top = 18;
  const labelRoom = 16;
  const drawH = Math.min(220, Math.max(90, rows * 12));
  const H = top + drawH + labelRoom;
  const padX = 14;
  const colGap = L > 1 ? (W - 2 * padX) / (L - 1) : 0;
  const rowGap = drawH / rows;
  const radius = Math.max(2, Math.min(6, rowGap / 2.6, L > 1 ? colGap / 4 : 6));
  const pos = new Map<string, { x: number; y: number }>();
  view.layers.forEach((layer, li) => {
    const x = L > 1 ? padX + li * colGap : W / 2;
    const n = layer.nodes.length;
    layer.nodes.forEach((node, i) => pos.set(node.id, { x, y: top + drawH / 2 + (i - (n - 1) / 2) * rowGap }));
  });
  const el = svg('svg', { class: 'mini-network', width: W, height: H, viewBox: `0 0 ${W} ${H}`, role: 'img', 'font-family': 'system-ui, -apple-system, "Segoe UI", sans-serif' });
  el.setAttribute('aria-label', `network of ${L} layers: units coloured by relevance, the ${MINI_FLOWS} strongest flows`);
  el.append(svg('rect', { width: W, height: H, fill: palette.background }));
  // The strongest flows over the whole network, stroke by |flow| ÷ the largest drawn.
  const edges = [...view.edges].sort((a, b) => Math.abs(b.value) - Math.abs(a.value)).slice(0, MINI_FLOWS);
  const maxFlow = Math.max(0, ...edges.map((e) => Math.abs(e.value))) || 1;
  const flows = svg('g', { class: 'flows', fill: 'none' });
  for (const e of edges) {
    const s = pos.get(e.source.id);
    const t = pos.get(e.target.id);
    if (!s || !t) continue;
    const k = Math.abs(e.value) / maxFlow;
    const mx = (s.x + t.x) / 2;
    flows.append(
      svg('path', {
        class: 'flow',
        d: `M${s.x.toFixed(1)},${s.y.toFixed(1)}C${mx.toFixed(1)},${s.y.toFixed(1)} ${mx.toFixed(1)},${t.y.toFixed(1)} ${t.x.toFixed(1)},${t.y.toFixed(1)}`,
        stroke: e.value > 0 ? palette.positive : palette.negative,
        'stroke-width': (0.6 + 3.4 * k).toFixed(2),
        'stroke-opacity': (0.25 + 0.6 * k).toFixed(2),
        'data-value': e.value,
      }),
    );
  }
  el.append(flows);
  const nodes = svg('g', { class: 'nodes' });
  const labels = svg('g', { class: 'labels', 'font-size': 10, fill: palette.muted, 'text-anchor': 'middle' });
  const chars = Math.max(3, Math.floor((L > 1 ? colGap : W) / 6.2));
  view.layers.forEach((layer, li) => {
    for (const node of layer.nodes) {
      const p = pos.get(node.id)!;
      const fill = divergingColor(palette, node.relevance, layer.maxAbs);
      const shape = node.isBin
        ? svg('rect', { x: p.x - radius, y: p.y - radius, width: 2 * radius, height: 2 * radius, rx: 1 })
        : svg('circle', { cx: p.x, cy: p.y, r: radius });
      shape.setAttribute('class', `node${node.isBin ? ' bin' : ''}${node.explained ? ' explained' : ''}`);
      shape.setAttribute('fill', fill);
      shape.setAttribute('stroke', node.explained ? palette.focus : palette.highContrast ? palette.foreground : 'none');
      shape.setAttribute('stroke-width', node.explained ? '2' : '1');
      shape.setAttribute('data-layer', String(node.layer));
      shape.setAttribute('data-unit', String(node.start));
      shape.setAttribute('data-relevance', node.relevance === null ? 'null' : String(node.relevance));
      const title = svg('title', {});
      const units = node.isBin ? `units ${node.start}–${node.end - 1}` : `unit ${node.start}`;
      title.textContent = `${layer.name} ${units}: R ${node.relevance === null ? '—' : Number(node.relevance.toPrecision(5))}`;
      shape.append(title);
      nodes.append(shape);
    }
    // Layer names under the columns; the first and last anchor inward so they stay inside the drawing.
    const x = L > 1 ? padX + li * colGap : W / 2;
    const anchor = L > 1 && li === 0 ? 'start' : L > 1 && li === L - 1 ? 'end' : 'middle';
    const lx = anchor === 'start' ? 2 : anchor === 'end' ? W - 2 : x;
    // Crowded columns: only every other name (the first and last always).
    if (L > 8 && li % 2 === 1 && li !== L - 1) return;
    const room = anchor === 'middle' ? chars : Math.floor(chars * 0.9);
    const text = svg('text', { class: 'layer-name', x: lx, y: H - 4, 'text-anchor': anchor, 'data-layer': layer.index });
    text.textContent = ellipsize(layer.name, L > 8 ? room * 2 : room);
    const t = svg('title', {});
    t.textContent = `${layer.name} · ${layer.width} unit${layer.width === 1 ? '' : 's'}${layer.binSize > 1 ? ` in ${layer.nodes.length} bins` : ''}`;
    text.append(t);
    labels.append(text);
  });
  el.append(nodes, labels);
  const head = svg('text', { x: 2, y: 11, 'font-size': 10, fill: palette.muted, class: 'mini-caption' });
  head.textContent = `${ellipsize(`colour: R ÷ layer max · ${edges.length} strongest flows`, Math.floor(W / 5.4))}`;
  el.append(head);
  fig.replaceChildren(el);
  return { nodesPerLayer: view.layers.map((l) => l.nodes.length), flows: edges.length };
}
