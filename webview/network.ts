// Draws one network pane with D3: columns of units (or bins), flows between
// consecutive layers, the "rest" stubs for flows not drawn, column headers and a
// colour legend, inside a zoomable viewport. Every visual property is an SVG
// attribute with an explicit colour, so the SVG exports as it looks.

import { select, zoom, zoomIdentity, type Selection, type ZoomBehavior, type ZoomTransform } from 'd3';
import type { Palette } from './colors';
import { divergingColor } from './colors';
import type { NetworkView, ViewEdge, ViewNode } from './model';

export interface PaneCallbacks {
  select(pane: number, node: ViewNode): void;
  toggleExpand(layer: number): void;
  hover(pane: number, node: ViewNode | null, edge: ViewEdge | null, ev: MouseEvent): void;
  zoomed(pane: number, t: ZoomTransform): void;
}

export interface PaneRender {
  svg: SVGSVGElement;
  view: NetworkView;
  setFocus(node: ViewNode | null): void;
  setTransform(t: { k: number; x: number; y: number }): void;
  centerOn(node: ViewNode): void;
  zoomBy(factor: number): void;
  resetZoom(): void;
  /** Number of flow paths drawn. */
  flowCount: number;
}

const SVGNS = 'http://www.w3.org/2000/svg';

/** What the colour of a pane means: its caption and the words at the two ends of the colour bar. */
export interface LegendText {
  caption: string;
  negative: string;
  positive: string;
}

export const RELEVANCE_LEGEND: LegendText = { caption: 'relevance', negative: '− relevance', positive: '+ relevance' };

/** The legend of a difference view "b − a": which run is larger where. */
export function differenceLegend(left: string, right: string): LegendText {
  return { caption: `difference ${right} − ${left}`, negative: `${left} larger`, positive: `${right} larger` };
}

const LEGEND_HEIGHT = 58;
/** Horizontal room of a column header beyond the column itself (a little under the gap between columns). */
const COLUMN_ROOM = 170;
/** Ticks of the colour bar: the colour scale is sqrt(|R| / max |R| of the layer), so equal steps of colour are these fractions. */
const LEGEND_TICKS = [-1, -0.25, 0, 0.25, 1];

function fmt(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  return a >= 1e4 || a < 1e-3 ? v.toExponential(2) : String(Number(v.toPrecision(3)));
}

export function renderPane(
  host: HTMLElement,
  pane: number,
  view: NetworkView,
  palette: Palette,
  maxAbs: number[],
  title: string,
  cb: PaneCallbacks,
  legendOf: LegendText = RELEVANCE_LEGEND,
): PaneRender {
  host.replaceChildren();
  const hostWidth = Math.max(240, host.clientWidth || 800);
  // The drawing, then a band for the legend below it (outside the zoomable viewport).
  const drawHeight = Math.max(host.classList.contains('mini') ? 160 : 260, Math.min(view.height, 760));
  const height = drawHeight + LEGEND_HEIGHT;
  const svg = select(host)
    .append('svg')
    .attr('xmlns', SVGNS)
    .attr('class', 'network')
    .attr('role', 'img')
    .attr('aria-label', title)
    .attr('tabindex', 0)
    .attr('width', hostWidth)
    .attr('height', height)
    .attr('viewBox', `0 0 ${hostWidth} ${height}`)
    .attr('font-family', 'system-ui, -apple-system, "Segoe UI", sans-serif')
    .attr('data-pane', pane);
  svg.append('rect').attr('class', 'bg').attr('width', hostWidth).attr('height', height).attr('fill', palette.background);
  const vp = svg.append('g').attr('class', 'viewport');

  // ── flows ──
  const edgesG = vp.append('g').attr('class', 'flows').attr('fill', 'none');
  for (const e of view.edges) {
    const mf = view.maxFlow.get(e.layer) || 1;
    const t = Math.abs(e.value) / mf;
    const sx = e.source.x + e.source.r;
    const tx = e.target.x - e.target.r;
    const mx = (sx + tx) / 2;
    edgesG
      .append('path')
      .datum(e)
      .attr('class', 'flow')
      .attr('d', `M${sx.toFixed(1)},${e.source.y.toFixed(1)}C${mx.toFixed(1)},${e.source.y.toFixed(1)} ${mx.toFixed(1)},${e.target.y.toFixed(1)} ${tx.toFixed(1)},${e.target.y.toFixed(1)}`)
      .attr('stroke', e.value > 0 ? palette.positive : palette.negative)
      // Strong flows stand out, weak ones recede: a dense 784-wide view stays readable.
      .attr('stroke-width', (0.5 + 5.5 * t * t).toFixed(2))
      .attr('stroke-opacity', (0.12 + 0.7 * t).toFixed(2))
      .attr('data-layer', e.layer)
      .attr('data-from', e.source.id)
      .attr('data-to', e.target.id)
      .attr('data-value', e.value);
  }
  const restG = vp.append('g').attr('class', 'rests');
  for (const r of view.rests) {
    const mf = view.maxFlow.get(r.node.layer) || 1;
    const t = Math.min(1, Math.abs(r.value) / mf);
    const tx = r.node.x - r.node.r;
    restG
      .append('line')
      .attr('class', 'rest')
      .attr('x1', tx - 22)
      .attr('x2', tx)
      .attr('y1', r.node.y)
      .attr('y2', r.node.y)
      .attr('stroke', r.value >= 0 ? palette.positive : palette.negative)
      .attr('stroke-width', (0.6 + 5.4 * t).toFixed(2))
      .attr('stroke-dasharray', '2 2')
      .attr('stroke-opacity', 0.7)
      .attr('data-node', r.node.id)
      .attr('data-count', r.count)
      .attr('data-value', r.value)
      .append('title')
      .text(`${r.count} more flows into ${r.node.id}, sum ${Number(r.value.toPrecision(5))}`);
  }

  // ── nodes ──
  const nodesG = vp.append('g').attr('class', 'nodes');
  for (const layer of view.layers) {
    const m = maxAbs[layer.index] ?? layer.maxAbs;
    for (const n of layer.nodes) {
      const fill = divergingColor(palette, n.relevance, m);
      const el = n.isBin
        ? nodesG
            .append<SVGElement>('rect')
            .attr('x', n.x - n.r)
            .attr('y', n.y - n.r)
            .attr('width', 2 * n.r)
            .attr('height', 2 * n.r)
            .attr('rx', Math.min(2, n.r / 3))
        : nodesG.append<SVGElement>('circle').attr('cx', n.x).attr('cy', n.y).attr('r', n.r);
      el.datum<ViewNode>(n)
        .attr('class', `node${n.isBin ? ' bin' : ''}${n.off ? ' off' : ''}${n.explained ? ' explained' : ''}`)
        .attr('id', `p${pane}-n${n.id.replace(':', '-')}`)
        .attr('fill', fill)
        .attr('fill-opacity', n.off ? 0.35 : 1)
        .attr('stroke', n.explained ? palette.focus : n.off ? palette.muted : palette.highContrast ? palette.foreground : 'none')
        .attr('stroke-width', n.explained ? 2.5 : n.off ? 1 : 1)
        .attr('stroke-dasharray', n.off ? '2 1.5' : null)
        .attr('data-layer', n.layer)
        .attr('data-unit', n.start)
        .attr('data-end', n.end)
        .attr('data-relevance', n.relevance === null ? 'null' : String(n.relevance))
        .attr('data-activation', n.activation)
        .attr('data-fill', fill);
    }
  }

  // ── unit index labels, where the rows leave room for them ──
  const unitLabels = vp.append('g').attr('class', 'unit-labels').attr('font-size', 9).attr('fill', palette.muted).attr('text-anchor', 'end');
  for (const layer of view.layers) {
    const last = layer.index === view.layers.length - 1;
    const dy = layer.nodes.length > 1 ? Math.abs(layer.nodes[1].y - layer.nodes[0].y) : Infinity;
    if (last && layer.nodes.length <= 16) continue; // the output column has its own labels
    if (dy < 11 || layer.columnWidth > 0) continue;
    for (const n of layer.nodes)
      unitLabels
        .append('text')
        .attr('class', 'unit-label')
        .attr('x', n.x - Math.max(n.r, 4) - 3)
        .attr('y', n.y + 3)
        .attr('data-layer', n.layer)
        .attr('data-unit', n.start)
        .text(n.isBin ? `${n.start}–${n.end - 1}` : String(n.start));
  }

  // Value labels of the output column: small networks only, they are the answer.
  const outLabels = vp.append('g').attr('class', 'output-labels').attr('font-size', 10);
  const last = view.layers[view.layers.length - 1];
  if (last && last.nodes.length <= 16) {
    for (const n of last.nodes)
      outLabels
        .append('text')
        .attr('x', n.x + n.r + 5)
        .attr('y', n.y + 4)
        .attr('fill', n.explained ? palette.foreground : palette.muted)
        .text(`${n.start}${n.explained ? ' f(x)=' + fmt(n.activation) : ''}`);
  }

  // ── column headers: fixed at the top, following the zoom horizontally only, so they stay in view ──
  const headers = svg.append('g').attr('class', 'headers');
  headers.append('rect').attr('class', 'header-bg').attr('width', hostWidth).attr('height', 50).attr('fill', palette.background).attr('fill-opacity', 0.88);
  const labels = headers.append('g').attr('class', 'labels').attr('font-size', 12).attr('fill', palette.foreground);
  const headerGroups: { g: Selection<SVGGElement, unknown, null, undefined>; cx: number }[] = [];
  for (const layer of view.layers) {
    const cx = layer.x + layer.columnWidth / 2;
    const g = labels.append('g').attr('class', 'column-label').attr('data-layer', layer.index) as unknown as Selection<SVGGElement, unknown, null, undefined>;
    headerGroups.push({ g, cx });
    // A long name (ONNX node paths) ellipsizes to its column's room; the full name is in its title.
    const room = Math.max(8, Math.floor((layer.columnWidth + COLUMN_ROOM) / 7.2));
    const shown = layer.name.length > room ? `${layer.name.slice(0, room - 1)}…` : layer.name;
    g.append('text').attr('class', 'layer-name').attr('x', 0).attr('y', 18).attr('text-anchor', 'middle').attr('font-weight', 600).attr('data-name', layer.name).text(shown).append('title').text(layer.name);
    const sub = layer.binSize > 1 ? `${layer.width} units in ${layer.nodes.length} bins` : `${layer.width} unit${layer.width === 1 ? '' : 's'}`;
    const m = maxAbs[layer.index] ?? layer.maxAbs;
    g.append('text')
      .attr('class', 'layer-scale')
      .attr('x', 0)
      .attr('y', 33)
      .attr('text-anchor', 'middle')
      .attr('font-size', 10)
      .attr('fill', palette.muted)
      .attr('data-max', m)
      .text(layer.hasRelevance ? `${sub} · max |R| ${fmt(m)}` : `${sub} · no relevance`)
      .append('title')
      .text(layer.hasRelevance ? `The colours of this layer are relative to its largest |relevance|, ${m}` : 'This layer has no relevance');
    if (layer.binSize > 1 || layer.width > 64) {
      g.append('text')
        .attr('class', 'expand-toggle')
        .attr('x', 0)
        .attr('y', 46)
        .attr('text-anchor', 'middle')
        .attr('font-size', 10)
        .attr('fill', palette.foreground)
        .attr('text-decoration', 'underline')
        .attr('cursor', 'pointer')
        .attr('data-layer', layer.index)
        .text(layer.binSize > 1 ? '⊞ expand' : '⊟ collapse')
        .on('click', (ev: MouseEvent) => {
          ev.stopPropagation();
          cb.toggleExpand(layer.index);
        });
    }
  }
  // Headers follow the columns horizontally and shrink with them when zoomed out (never grow beyond their size).
  const placeHeaders = (t: ZoomTransform) => {
    const k = Math.min(1, t.k);
    for (const { g, cx } of headerGroups) g.attr('transform', `translate(${t.applyX(cx).toFixed(1)},0) scale(${k.toFixed(3)})`);
  };

  // ── legend (fixed, below the drawing, outside the viewport) ──
  const legend = svg.append('g').attr('class', 'legend').attr('data-caption', legendOf.caption).attr('transform', `translate(0,${drawHeight})`);
  legend.append('rect').attr('class', 'legend-bg').attr('width', hostWidth).attr('height', LEGEND_HEIGHT).attr('fill', palette.background);
  legend.append('line').attr('x1', 0).attr('x2', hostWidth).attr('y1', 0.5).attr('y2', 0.5).attr('stroke', palette.muted).attr('stroke-opacity', 0.4);
  const gid = `dtd-legend-${pane}`;
  const grad = svg.append('defs').append('linearGradient').attr('id', gid);
  for (let i = 0; i <= 20; i++) {
    // Position along the bar is the colour scale's own coordinate: sqrt of the fraction of the layer's max.
    const pos = -1 + i / 10;
    grad.append('stop').attr('offset', `${i * 5}%`).attr('stop-color', divergingColor(palette, Math.sign(pos) * pos * pos, 1));
  }
  const barW = Math.max(80, Math.min(160, hostWidth - 200));
  const bx = 24;
  const text = (x: number, y: number, t: string, cls: string, anchor = 'start', fill = palette.foreground) =>
    legend.append('text').attr('class', cls).attr('x', x).attr('y', y).attr('text-anchor', anchor).attr('font-size', 10).attr('fill', fill).text(t);
  text(bx, 13, legendOf.negative, 'legend-end negative');
  text(bx + barW, 13, legendOf.positive, 'legend-end positive', 'end');
  legend.append('rect').attr('x', bx).attr('y', 17).attr('width', barW).attr('height', 8).attr('fill', `url(#${gid})`).attr('stroke', palette.muted).attr('stroke-width', 0.5);
  for (const t of LEGEND_TICKS) {
    const x = bx + ((Math.sign(t) * Math.sqrt(Math.abs(t)) + 1) / 2) * barW;
    legend.append('line').attr('x1', x).attr('x2', x).attr('y1', 25).attr('y2', 28).attr('stroke', palette.muted);
    text(x, 37, t === 0 ? '0' : `${t > 0 ? '+' : '−'}${Math.abs(t) === 1 ? 'max' : Math.abs(t)}`, 'legend-tick', 'middle', palette.muted).attr('data-fraction', t);
  }
  text(bx, 51, `colour: ${legendOf.caption} ÷ its layer's max |R| (shown under each layer name), square-root scale`, 'legend-norm', 'start', palette.muted);
  const kx = bx + barW + 30;
  text(kx, 13, 'size: activation (÷ layer max, square root)', 'legend-size', 'start', palette.muted);
  text(kx, 26, 'grey, dashed outline: inactive unit (activation ≤ 0)', 'legend-off', 'start', palette.muted);
  text(kx, 39, 'square: a bin of units · dashed stub: flows not drawn', 'legend-shapes', 'start', palette.muted);
  // Narrow panes: the key lines ellipsize; their full text stays in a title.
  for (const el of legend.selectAll<SVGTextElement, unknown>('text').nodes()) {
    const t = el.textContent ?? '';
    const x = Number(el.getAttribute('x'));
    const room = hostWidth - x - 4;
    if (el.getAttribute('text-anchor') === 'start' && t.length * 5.2 > room) {
      const keep = Math.max(4, Math.floor(room / 5.2) - 1);
      el.textContent = `${t.slice(0, keep)}…`;
      select(el).append('title').text(t);
    }
  }

  // ── interaction ──
  const svgEl = svg.node() as SVGSVGElement;
  svgEl.addEventListener('click', (ev) => {
    const t = ev.target as Element;
    const d = select<Element, ViewNode>(t).datum();
    if (t.classList.contains('node') && d) cb.select(pane, d);
  });
  svgEl.addEventListener('mouseover', (ev) => {
    const t = ev.target as Element;
    if (t.classList.contains('node')) cb.hover(pane, select<Element, ViewNode>(t).datum(), null, ev);
    else if (t.classList.contains('flow')) cb.hover(pane, null, select<Element, ViewEdge>(t).datum(), ev);
  });
  svgEl.addEventListener('mouseout', (ev) => {
    const t = ev.target as Element;
    if (t.classList.contains('node') || t.classList.contains('flow')) cb.hover(pane, null, null, ev);
  });

  const zb: ZoomBehavior<SVGSVGElement, unknown> = zoom<SVGSVGElement, unknown>()
    .scaleExtent([0.05, 40])
    .on('zoom', (ev: { transform: ZoomTransform }) => {
      vp.attr('transform', ev.transform.toString());
      placeHeaders(ev.transform);
      cb.zoomed(pane, ev.transform);
    });
  const svgSel = svg as unknown as Selection<SVGSVGElement, unknown, null, undefined>;
  svgSel.call(zb).on('dblclick.zoom', null);
  const fit = (): ZoomTransform => {
    const k = Math.min(1, hostWidth / view.width, drawHeight / view.height);
    return zoomIdentity.translate((hostWidth - view.width * k) / 2, (drawHeight - view.height * k) / 2).scale(k);
  };
  svgSel.call(zb.transform, fit());

  let focused: Element | null = null;
  return {
    svg: svgEl,
    view,
    flowCount: view.edges.length,
    setFocus(node) {
      focused?.classList.remove('focused');
      svgEl.classList.toggle('has-focus', node !== null);
      for (const el of svgEl.querySelectorAll('.flow.hl')) el.classList.remove('hl');
      focused = null;
      if (!node) return;
      focused = svgEl.querySelector(`#p${pane}-n${node.id.replace(':', '-')}`);
      focused?.classList.add('focused');
      for (const el of svgEl.querySelectorAll(`.flow[data-to="${node.id}"], .flow[data-from="${node.id}"]`)) el.classList.add('hl');
    },
    setTransform(t) {
      svgSel.call(zb.transform, zoomIdentity.translate(t.x, t.y).scale(t.k));
    },
    centerOn(node) {
      const k = Math.max(1.5, Math.min(4, 14 / Math.max(2, node.r)));
      svgSel.call(zb.transform, zoomIdentity.translate(hostWidth / 2 - node.x * k, drawHeight / 2 - node.y * k).scale(k));
    },
    zoomBy(f) {
      svgSel.call(zb.scaleBy, f);
    },
    resetZoom() {
      svgSel.call(zb.transform, fit());
    },
  };
}
