// Feature maps and concepts (Concept Relevance Propagation) for networks with
// image-shaped layers: every tensor is a column of channels, each channel a small
// heatmap of its relevance (sign-aware, symmetric scale shared by the column),
// ordered by its total relevance, the top ones shown and the rest behind "+ N more";
// the engine's channel-to-channel flows (result.channelFlows) connect them, skip
// connections and joins included (a flow names the tensor it comes `from`). Vector
// layers are columns of one-unit channels, joined by the unit flows.
// Clicking a channel (or Enter on it) asks the host for its conditional heatmap —
// the input relevance that passes through that channel only, computed by the
// engine — and pins it beside the others, with the channels below that feed it.

import type { ChannelFlows, ConceptHeatmap, ExplainResult, HostToWebview, WebviewToHost } from '../extension/protocol';
import { divergingColor, type Palette } from './colors';
import { fmt, h } from './dom';
import { flowsOf } from './flows';

/** Channels shown per column before "+ N more". */
const TOP_CHANNELS = 8;
/** A column with at most this many channels shows them all. */
const SHOW_ALL = 10;
/** Flows drawn into each shown channel. */
const FLOWS_PER_CHANNEL = 3;
/** Pinned concepts kept side by side. */
const MAX_PINNED = 6;
/** A concept request without an answer for this long is reported as failed. */
const CONCEPT_TIMEOUT_MS = 60_000;
const THUMB = 44;

export interface FeatureMapHost {
  post(m: WebviewToHost): void;
  /** The units view (the network pane) is shown when the feature maps are not. */
  showUnits(show: boolean): void;
}

interface Column {
  tensor: number;
  /** [C, H, W] or [n] (n one-unit channels). */
  shape: number[];
  title: string;
  sub: string;
  /** Channel sums, in channel order. */
  sums: number[];
  /** Channels in display order (by total relevance, largest first). */
  order: number[];
  relevance: number[] | null;
  maxAbs: number;
}

interface Edge {
  layer: number;
  from: number;
  c: number;
  d: number;
  value: number;
}

interface Pinned {
  layer: number;
  channel: number;
  state: 'loading' | 'ready' | 'failed';
  concept?: ConceptHeatmap;
  error?: string;
}

const SVGNS = 'http://www.w3.org/2000/svg';

function channelCount(shape: number[]): number {
  return shape.length === 3 ? shape[0] : shape[0];
}
function channelSize(shape: number[]): number {
  return shape.length === 3 ? shape[1] * shape[2] : 1;
}

/** Whether a result has image-shaped layers to draw as feature maps. */
export function hasFeatureMaps(r: ExplainResult): boolean {
  const s = r.shapes;
  return Array.isArray(s) && s.length === r.activations.length && s.slice(1).some((x) => Array.isArray(x) && x.length === 3);
}

/** "conv2 · 3×3 · 16×8×8": the layer's name as the model gives it, its kind (kernel) and its output shape. */
export function columnTitle(r: ExplainResult, t: number): { title: string; sub: string } {
  const shape = r.shapes?.[t] ?? [r.activations[t]?.length ?? 0];
  const dims = shape.join('×');
  if (t === 0) return { title: 'input', sub: dims };
  const layer = r.model.layers[t - 1];
  const kind = layer?.kind ?? '';
  const kernel = layer?.kernel ? `${layer.kernel.join('×')}${layer.stride && layer.stride.some((s) => s > 1) ? ` /${layer.stride.join('×')}` : ''}` : '';
  const what =
    kind === 'add' ? 'add (join)' : kind === 'concat' ? 'concat (join)' : kind === 'dense' ? 'dense' : kind === 'maxpool2d' ? `max pool ${kernel}` : kind === 'avgpool2d' ? `avg pool ${kernel}` : kind === 'affine' ? 'affine' : kernel ? `${kernel}${layer?.groups && layer.groups > 1 ? ` g${layer.groups}` : ''}` : kind;
  return { title: `${layer?.name ?? `layer${t}`} · ${what} · ${dims}`, sub: kind };
}

function columnOf(r: ExplainResult, t: number): Column {
  const shape = r.shapes?.[t] ?? [r.activations[t].length];
  const rel = r.relevance[t] ?? null;
  const C = channelCount(shape), size = channelSize(shape);
  const sums = Array.from({ length: C }, (_, c) => {
    let s = 0;
    if (rel) for (let p = c * size; p < (c + 1) * size; p++) s += rel[p] ?? 0;
    return s;
  });
  let maxAbs = 0;
  if (rel) for (const v of rel) if (Math.abs(v) > maxAbs) maxAbs = Math.abs(v);
  const order = Array.from({ length: C }, (_, c) => c).sort((a, b) => sums[b] - sums[a] || a - b);
  const { title, sub } = columnTitle(r, t);
  return { tensor: t, shape, title, sub, sums, order, relevance: rel, maxAbs };
}

/** Channel flows of the result, validated (bad entries dropped), plus the unit flows between vector layers. */
export function channelEdges(r: ExplainResult): Edge[] {
  const out: Edge[] = [];
  const raw: unknown = (r as { channelFlows?: unknown }).channelFlows;
  const covered = new Set<number>();
  if (Array.isArray(raw)) {
    for (const f of raw as ChannelFlows[]) {
      if (!f || !Number.isInteger(f.layer) || !Number.isInteger(f.from) || f.from >= f.layer || !Array.isArray(f.matrix)) continue;
      covered.add(f.layer);
      f.matrix.forEach((row, c) => {
        if (Array.isArray(row)) row.forEach((v, d) => typeof v === 'number' && v !== 0 && Number.isFinite(v) && out.push({ layer: f.layer, from: f.from, c, d, value: v }));
      });
    }
  }
  // Vector layers (dense after the flatten): the unit flows, each unit its own channel.
  for (const f of flowsOf(r)) {
    if (covered.has(f.layer)) continue;
    if ((r.shapes?.[f.layer]?.length ?? 1) === 3) continue;
    const from = f.from ?? f.layer - 1;
    for (const e of f.top) if (e.value !== 0) out.push({ layer: f.layer, from, c: e.from, d: e.to, value: e.value });
  }
  return out;
}

function paint(canvas: HTMLCanvasElement, values: (i: number) => number, n: number, maxAbs: number, palette: Palette): void {
  const ctx = canvas.getContext('2d');
  if (!ctx) return;
  const img = ctx.createImageData(canvas.width, canvas.height);
  const cache = new Map<string, [number, number, number]>();
  for (let i = 0; i < n; i++) {
    const col = divergingColor(palette, values(i), maxAbs);
    let rgb = cache.get(col);
    if (!rgb) {
      const m = /rgba?\((\d+),\s*(\d+),\s*(\d+)/.exec(col);
      rgb = m ? [Number(m[1]), Number(m[2]), Number(m[3])] : [128, 128, 128];
      cache.set(col, rgb);
    }
    img.data.set([rgb[0], rgb[1], rgb[2], 255], i * 4);
  }
  ctx.putImageData(img, 0, 0);
}

export class FeatureMapView {
  readonly element = h('section', { class: 'feature-maps', 'aria-label': 'feature maps' });
  private readonly modes = h('div', { class: 'view-modes', role: 'group', 'aria-label': 'view' });
  private readonly mapsButton = h('button', { type: 'button', class: 'mode', 'data-mode': 'maps' }, 'Feature maps');
  private readonly unitsButton = h('button', { type: 'button', class: 'mode', 'data-mode': 'units' }, 'Units');
  private readonly body = h('div', { class: 'fm-body' });
  private readonly concepts = h('div', { class: 'concepts', 'aria-label': 'concepts', 'aria-live': 'polite' });
  private mode: 'maps' | 'units' = 'maps';
  private result: ExplainResult | null = null;
  private palette: Palette | null = null;
  private readonly expanded = new Set<number>();
  private pinned: Pinned[] = [];
  private selected: { layer: number; channel: number } | null = null;
  private nextRequest = 1;
  private readonly pending = new Map<number, { pin: Pinned; timer: number }>();

  constructor(private readonly host: FeatureMapHost) {
    this.modes.append(this.mapsButton, this.unitsButton);
    for (const b of [this.mapsButton, this.unitsButton]) b.addEventListener('click', () => this.setMode(b.dataset.mode === 'units' ? 'units' : 'maps'));
    this.element.append(this.modes, this.body, this.concepts);
    this.element.hidden = true;
    this.element.addEventListener('keydown', (ev) => this.onKey(ev));
  }

  /** Draws the feature maps of a single result (hidden, with the units view shown, when it has no image-shaped layer). */
  render(result: ExplainResult | null, palette: Palette): void {
    if (result !== this.result) {
      this.expanded.clear();
      this.pinned = this.result && result && this.result.input === result.input ? this.pinned : [];
      this.selected = null;
    }
    this.result = result;
    this.palette = palette;
    if (!result || !hasFeatureMaps(result)) {
      this.element.hidden = true;
      this.host.showUnits(true);
      return;
    }
    this.element.hidden = false;
    this.setMode(this.mode);
  }

  clear(): void {
    this.render(null, this.palette ?? ({} as Palette));
  }

  private setMode(mode: 'maps' | 'units'): void {
    this.mode = mode;
    this.mapsButton.setAttribute('aria-pressed', String(mode === 'maps'));
    this.unitsButton.setAttribute('aria-pressed', String(mode === 'units'));
    this.host.showUnits(mode === 'units');
    this.body.hidden = mode !== 'maps';
    this.concepts.hidden = mode !== 'maps';
    if (mode === 'maps') this.draw();
  }

  private draw(): void {
    const r = this.result, palette = this.palette;
    if (!r || !palette) return;
    const L = r.activations.length - 1;
    const cols = Array.from({ length: L + 1 }, (_, t) => columnOf(r, t));
    const edges = channelEdges(r);
    const grid = h('div', { class: 'fm-grid' });
    const overlay = document.createElementNS(SVGNS, 'svg');
    overlay.setAttribute('class', 'fm-flows');
    overlay.setAttribute('aria-hidden', 'true');
    const scroller = h('div', { class: 'fm-scroll' }, overlay, grid);
    const shown = new Map<string, HTMLElement>();
    for (const col of cols) {
      const C = col.order.length;
      const all = C <= SHOW_ALL || this.expanded.has(col.tensor);
      const visible = all ? col.order : col.order.slice(0, TOP_CHANNELS);
      const kind = col.tensor === 0 ? 'input' : (r.model.layers[col.tensor - 1]?.kind ?? '');
      const column = h(
        'div',
        { class: `fm-column${kind === 'add' || kind === 'concat' ? ' join' : ''}`, 'data-tensor': col.tensor, 'data-kind': kind },
        h('div', { class: 'fm-head', title: `${col.title}\nColour: relevance, symmetric around 0, scaled to the column's largest |value| (${fmt(col.maxAbs)}). Channels by total relevance, largest first.` }, h('div', { class: 'fm-title' }, col.title), h('div', { class: 'fm-sub' }, col.relevance ? `${C} channel${C === 1 ? '' : 's'} · max |R| ${fmt(col.maxAbs)}` : 'no relevance')),
      );
      const list = h('div', { class: 'fm-channels', role: 'list' });
      for (const c of visible) {
        const el = this.channelElement(col, c, palette);
        shown.set(`${col.tensor}:${c}`, el);
        list.append(el);
      }
      column.append(list);
      if (C > TOP_CHANNELS && C > SHOW_ALL) {
        const more = h('button', { type: 'button', class: 'fm-more', 'data-tensor': col.tensor, 'aria-expanded': String(all) }, all ? '− fewer' : `+ ${C - TOP_CHANNELS} more`);
        more.addEventListener('click', () => {
          if (this.expanded.has(col.tensor)) this.expanded.delete(col.tensor);
          else this.expanded.add(col.tensor);
          this.draw();
          (this.body.querySelector(`.fm-more[data-tensor="${col.tensor}"]`) as HTMLElement | null)?.focus();
        });
        column.append(more);
      }
      grid.append(column);
    }
    this.body.replaceChildren(scroller);
    this.drawFlows(overlay, scroller, edges, shown, palette);
    this.renderConcepts();
  }

  private channelElement(col: Column, c: number, palette: Palette): HTMLElement {
    const size = channelSize(col.shape);
    const spatial = col.shape.length === 3;
    const [Hh, Ww] = spatial ? [col.shape[1], col.shape[2]] : [1, 1];
    const canvas = h('canvas', { class: 'fm-thumb', width: Ww, height: Hh });
    const rel = col.relevance;
    paint(canvas, (i) => (rel ? (rel[c * size + i] ?? 0) : 0), size, col.maxAbs, palette);
    const scale = Math.max(1, Math.floor(THUMB / Math.max(Hh, Ww)));
    canvas.style.width = `${spatial ? Ww * scale : 14}px`;
    canvas.style.height = `${spatial ? Hh * scale : 14}px`;
    const layerName = col.title.split(' · ')[0];
    const label = `${layerName} channel ${c}: relevance ${fmt(col.sums[c])}`;
    const isSel = this.selected?.layer === col.tensor && this.selected.channel === c;
    const pinned = this.pinned.some((p) => p.layer === col.tensor && p.channel === c);
    const el = h(
      'button',
      {
        type: 'button',
        class: `fm-channel${isSel ? ' selected' : ''}${pinned ? ' pinned' : ''}${spatial ? '' : ' unit'}`,
        role: 'listitem',
        'data-tensor': col.tensor,
        'data-channel': c,
        'data-relevance': String(col.sums[c]),
        'aria-label': col.tensor === 0 ? `input channel ${c}: relevance ${fmt(col.sums[c])}` : `${label}. Enter: its concept (conditional heatmap)`,
        'aria-pressed': String(pinned),
        title: col.tensor === 0 ? `input channel ${c}\nrelevance ${col.sums[c]}` : `${label}\nClick or Enter: the input relevance through this channel only (CRP)`,
      },
      canvas,
      h('span', { class: 'fm-label' }, `${spatial ? 'c' : 'u'}${c}`, h('span', { class: 'fm-value' }, fmt(col.sums[c]))),
    );
    if (col.tensor > 0) el.addEventListener('click', () => this.choose(col.tensor, c));
    return el;
  }

  private drawFlows(svg: SVGSVGElement, scroller: HTMLElement, edges: Edge[], shown: Map<string, HTMLElement>, palette: Palette): void {
    const box = scroller.getBoundingClientRect();
    const w = scroller.scrollWidth, hgt = scroller.scrollHeight;
    svg.setAttribute('width', String(w));
    svg.setAttribute('height', String(hgt));
    // Per target channel, its FLOWS_PER_CHANNEL largest incoming flows among the shown channels.
    const byTarget = new Map<string, Edge[]>();
    for (const e of edges) {
      if (!shown.has(`${e.from}:${e.c}`) || !shown.has(`${e.layer}:${e.d}`)) continue;
      const k = `${e.layer}:${e.d}`;
      const list = byTarget.get(k) ?? [];
      list.push(e);
      byTarget.set(k, list);
    }
    const kept: Edge[] = [];
    for (const list of byTarget.values()) kept.push(...list.sort((a, b) => Math.abs(b.value) - Math.abs(a.value)).slice(0, FLOWS_PER_CHANNEL));
    const maxPer = new Map<number, number>();
    for (const e of kept) maxPer.set(e.layer, Math.max(maxPer.get(e.layer) ?? 0, Math.abs(e.value)));
    const sel = this.selected;
    for (const e of kept) {
      const a = shown.get(`${e.from}:${e.c}`)!.getBoundingClientRect();
      const b = shown.get(`${e.layer}:${e.d}`)!.getBoundingClientRect();
      const sx = a.right - box.left + scroller.scrollLeft, sy = a.top + a.height / 2 - box.top + scroller.scrollTop;
      const tx = b.left - box.left + scroller.scrollLeft, ty = b.top + b.height / 2 - box.top + scroller.scrollTop;
      const t = Math.abs(e.value) / (maxPer.get(e.layer) || 1);
      const mx = (sx + tx) / 2;
      const path = document.createElementNS(SVGNS, 'path');
      const hl = sel !== null && sel.layer === e.layer && sel.channel === e.d;
      path.setAttribute('d', `M${sx.toFixed(1)},${sy.toFixed(1)}C${mx.toFixed(1)},${sy.toFixed(1)} ${mx.toFixed(1)},${ty.toFixed(1)} ${tx.toFixed(1)},${ty.toFixed(1)}`);
      path.setAttribute('class', `fm-flow${e.from !== e.layer - 1 ? ' skip' : ''}${hl ? ' hl' : ''}`);
      path.setAttribute('fill', 'none');
      path.setAttribute('stroke', e.value > 0 ? palette.positive : palette.negative);
      path.setAttribute('stroke-width', (0.6 + 4.4 * t).toFixed(2));
      path.setAttribute('stroke-opacity', (hl ? 0.95 : 0.15 + 0.6 * t).toFixed(2));
      if (e.from !== e.layer - 1) path.setAttribute('stroke-dasharray', '5 3');
      path.setAttribute('data-layer', String(e.layer));
      path.setAttribute('data-from', `${e.from}:${e.c}`);
      path.setAttribute('data-to', `${e.layer}:${e.d}`);
      path.setAttribute('data-value', String(e.value));
      svg.append(path);
    }
  }

  /** Selects a channel and pins its concept (asking the host for it). */
  choose(layer: number, channel: number): void {
    this.selected = { layer, channel };
    if (!this.pinned.some((p) => p.layer === layer && p.channel === channel)) {
      const pin: Pinned = { layer, channel, state: 'loading' };
      this.pinned.push(pin);
      while (this.pinned.length > MAX_PINNED) this.pinned.shift();
      const requestId = this.nextRequest++;
      const timer = window.setTimeout(() => this.settle(requestId, undefined, 'No answer from the engine (the standalone report cannot compute concepts).'), CONCEPT_TIMEOUT_MS);
      this.pending.set(requestId, { pin, timer });
      this.host.post({ type: 'concept', requestId, layer, channel });
    }
    this.draw();
    (this.body.querySelector(`.fm-channel[data-tensor="${layer}"][data-channel="${channel}"]`) as HTMLElement | null)?.focus();
  }

  /** The host's answer to a concept request. */
  onConcept(m: Extract<HostToWebview, { type: 'concept' }>): void {
    this.settle(m.requestId, m.concept, m.error);
  }

  private settle(requestId: number, concept: ConceptHeatmap | undefined, error: string | undefined): void {
    const p = this.pending.get(requestId);
    if (!p) return;
    this.pending.delete(requestId);
    clearTimeout(p.timer);
    if (concept && concept.layer === p.pin.layer && concept.channel === p.pin.channel && concept.relevance.length === (this.result?.activations[0]?.length ?? -1)) {
      p.pin.state = 'ready';
      p.pin.concept = concept;
    } else {
      p.pin.state = 'failed';
      p.pin.error = error ?? 'The answer did not match the request.';
    }
    this.renderConcepts();
  }

  private renderConcepts(): void {
    const r = this.result, palette = this.palette;
    if (!r || !palette) return;
    this.concepts.replaceChildren();
    if (!this.pinned.length) {
      this.concepts.append(h('p', { class: 'muted fm-hint' }, 'Click a channel (or focus it and press Enter) to see its concept: the input relevance that passes through that channel only (Concept Relevance Propagation). Several can be pinned side by side.'));
      return;
    }
    const shape = r.shapes?.[0] ?? [r.activations[0].length];
    const [C, Hh, Ww] = shape.length === 3 ? shape : [1, 1, shape[0]];
    const hw = Hh * Ww;
    const pixel = (v: number[], i: number) => {
      let s = 0;
      for (let c = 0; c < C; c++) s += v[c * hw + i] ?? 0;
      return s;
    };
    // One symmetric scale for all pinned heatmaps, so they compare.
    let maxAbs = 0;
    for (const p of this.pinned) if (p.concept) for (let i = 0; i < hw; i++) maxAbs = Math.max(maxAbs, Math.abs(pixel(p.concept.relevance, i)));
    const row = h('div', { class: 'concept-row' });
    for (const p of this.pinned) {
      const col = columnOf(r, p.layer);
      const name = col.title.split(' · ')[0];
      const card = h('figure', { class: `concept ${p.state}`, 'data-tensor': p.layer, 'data-channel': p.channel, 'data-state': p.state });
      const close = h('button', { type: 'button', class: 'concept-close', 'aria-label': `unpin ${name} channel ${p.channel}`, title: 'Unpin' }, '×');
      close.addEventListener('click', () => {
        this.pinned = this.pinned.filter((q) => q !== p);
        this.draw();
      });
      card.append(h('figcaption', {}, h('span', { class: 'concept-title' }, `${name} · channel ${p.channel}`), close));
      if (p.state === 'loading') card.append(h('div', { class: 'concept-wait' }, 'computing…'));
      else if (p.state === 'failed') card.append(h('div', { class: 'concept-error', role: 'alert' }, p.error ?? 'failed'));
      else if (p.concept) {
        const canvas = h('canvas', { class: 'heat concept-heat', width: Ww, height: Hh, role: 'img', 'aria-label': `conditional heatmap of ${name} channel ${p.channel}` });
        const v = p.concept.relevance;
        paint(canvas, (i) => pixel(v, i), hw, maxAbs, palette);
        const scale = Math.max(1, Math.floor(150 / Math.max(Hh, Ww)));
        canvas.style.width = `${Ww * scale}px`;
        canvas.style.height = `${Hh * scale}px`;
        let total = 0;
        for (const x of v) total += x;
        card.append(
          canvas,
          h('div', { class: 'concept-values' }, `R(channel) ${fmt(p.concept.channelRelevance)} · Σ at input ${fmt(total)}${r.explainedValue ? ` · ${fmt((100 * p.concept.channelRelevance) / r.explainedValue)} % of f(x)` : ''}`),
        );
      }
      card.append(this.feeders(r, p.layer, p.channel));
      row.append(card);
    }
    this.concepts.append(h('h3', {}, 'Concepts', h('span', { class: 'muted' }, ` · input relevance through one channel (CRP), one scale ±${fmt(maxAbs)}`)), row);
  }

  /** The channels below that feed channel d of layer `layer` most (from the channel flows). */
  private feeders(r: ExplainResult, layer: number, d: number): HTMLElement {
    const list = channelEdges(r)
      .filter((e) => e.layer === layer && e.d === d)
      .sort((a, b) => Math.abs(b.value) - Math.abs(a.value))
      .slice(0, 5);
    const box = h('div', { class: 'feeders' });
    if (!list.length) return box;
    box.append(h('div', { class: 'muted' }, 'fed most by'));
    for (const e of list) {
      const name = e.from === 0 ? 'input' : columnTitle(r, e.from).title.split(' · ')[0];
      const b = h('button', { type: 'button', class: `feeder ${e.value > 0 ? 'pos' : 'neg'}`, 'data-tensor': e.from, 'data-channel': e.c, 'data-value': String(e.value), title: String(e.value) }, `${name} c${e.c}: ${fmt(e.value)}`);
      if (e.from > 0) b.addEventListener('click', () => this.choose(e.from, e.c));
      else b.disabled = true;
      box.append(b);
    }
    return box;
  }

  /** Arrows move between channels (up/down in a column, left/right across columns); Enter and Space are the buttons' own. */
  private onKey(ev: KeyboardEvent): void {
    const t = ev.target as HTMLElement | null;
    if (!t || !t.classList.contains('fm-channel')) {
      if (ev.key === 'Enter' || ev.key === ' ') ev.stopPropagation();
      return;
    }
    ev.stopPropagation();
    const col = t.closest('.fm-column');
    let next: Element | null | undefined = null;
    if (ev.key === 'ArrowDown') next = t.nextElementSibling;
    else if (ev.key === 'ArrowUp') next = t.previousElementSibling;
    else if (ev.key === 'ArrowRight' || ev.key === 'ArrowLeft') {
      const other = ev.key === 'ArrowRight' ? col?.nextElementSibling : col?.previousElementSibling;
      const items = other ? [...other.querySelectorAll('.fm-channel')] : [];
      const here = col ? [...col.querySelectorAll('.fm-channel')] : [];
      const i = here.indexOf(t);
      next = items[Math.min(items.length - 1, Math.round((i / Math.max(1, here.length - 1)) * Math.max(0, items.length - 1)))];
    } else return;
    if (next instanceof HTMLElement) {
      ev.preventDefault();
      next.focus();
    }
  }
}
