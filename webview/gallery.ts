// The dataset gallery (`dtd-lens explain MODEL --inputs … --html`, and VS
// Code's panel for a folder of images or a file of several inputs): a summary
// over the set (mean |R| map, share of inputs with roots outside their region)
// and one card per input with the input and its relevance heatmap, sortable by
// f(x), conservation error and roots outside. Clicking a card opens the input's
// full explanation in VS Code (a message to the host) or its details in the
// standalone page. Every value from the payload is set as text or drawn on a
// canvas, never parsed as markup.

import { h, fmt } from './dom';
import { GALLERY_DATA_ID, type GalleryItem, type GalleryPayload, type GalleryToHost } from '../extension/protocol';

interface VsCodeApi {
  postMessage(msg: unknown): void;
}
declare function acquireVsCodeApi(): VsCodeApi;

type SortKey = 'index' | 'fx-desc' | 'fx-asc' | 'error-desc' | 'outside-desc';
const SORTS: { key: SortKey; label: string }[] = [
  { key: 'index', label: 'input order' },
  { key: 'fx-desc', label: 'f(x), largest first' },
  { key: 'fx-asc', label: 'f(x), smallest first' },
  { key: 'error-desc', label: '|conservation error|, largest first' },
  { key: 'outside-desc', label: 'roots outside their region, most first' },
];

function sortItems(items: GalleryItem[], key: SortKey): GalleryItem[] {
  const err = (it: GalleryItem) => (it.conservationError === null ? -1 : Math.abs(it.conservationError));
  const by: Record<SortKey, (a: GalleryItem, b: GalleryItem) => number> = {
    index: (a, b) => a.inputIndex - b.inputIndex,
    'fx-desc': (a, b) => b.explainedValue - a.explainedValue,
    'fx-asc': (a, b) => a.explainedValue - b.explainedValue,
    'error-desc': (a, b) => err(b) - err(a),
    'outside-desc': (a, b) => b.rootsOutside - a.rootsOutside,
  };
  return [...items].sort((a, b) => by[key](a, b) || a.inputIndex - b.inputIndex);
}

/** [C, H, W] to draw: the image shape, else a square for a square count, else one row. */
function drawShape(shape: number[] | null, n: number): [number, number, number] {
  if (shape && shape.length === 3 && shape[0] * shape[1] * shape[2] === n) return [shape[0], shape[1], shape[2]];
  const side = Math.round(Math.sqrt(n));
  return side * side === n ? [1, side, side] : [1, 1, n];
}

function canvasFor(W: number, H: number, cls: string, label: string): { canvas: HTMLCanvasElement; img: ImageData; ctx: CanvasRenderingContext2D } {
  const canvas = h('canvas', { class: cls, width: W, height: H, role: 'img', 'aria-label': label });
  const ctx = canvas.getContext('2d')!;
  return { canvas, ctx, img: ctx.createImageData(W, H) };
}

/** The input as an image: grey (1 channel, or the channel mean), RGB for 3 channels; min–max scaled per input. */
function drawInput(values: number[], shape: number[] | null, label: string): HTMLCanvasElement {
  const [C, H, W] = drawShape(shape, values.length);
  const { canvas, ctx, img } = canvasFor(W, H, 'gallery-input', label);
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  const span = hi > lo ? hi - lo : 1;
  const px = H * W;
  for (let p = 0; p < px; p++) {
    let r: number, g: number, b: number;
    if (C === 3) {
      r = values[p];
      g = values[px + p];
      b = values[2 * px + p];
    } else {
      let m = 0;
      for (let c = 0; c < C; c++) m += values[c * px + p];
      r = g = b = m / C;
    }
    img.data[4 * p] = Math.round((255 * (r - lo)) / span);
    img.data[4 * p + 1] = Math.round((255 * (g - lo)) / span);
    img.data[4 * p + 2] = Math.round((255 * (b - lo)) / span);
    img.data[4 * p + 3] = 255;
  }
  ctx.putImageData(img, 0, 0);
  return canvas;
}

/** Relevance summed over channels, red for positive and blue for negative, white at 0, scaled by the largest |R| of this map. */
function drawHeatmap(values: number[], shape: number[] | null, label: string): HTMLCanvasElement {
  const [C, H, W] = drawShape(shape, values.length);
  const { canvas, ctx, img } = canvasFor(W, H, 'gallery-heatmap', label);
  const px = H * W;
  const sum = new Float64Array(px);
  let max = 0;
  for (let p = 0; p < px; p++) {
    for (let c = 0; c < C; c++) sum[p] += values[c * px + p];
    max = Math.max(max, Math.abs(sum[p]));
  }
  const pos = [214, 39, 40];
  const neg = [31, 119, 180];
  for (let p = 0; p < px; p++) {
    const t = max > 0 ? Math.min(1, Math.abs(sum[p]) / max) : 0;
    const col = sum[p] >= 0 ? pos : neg;
    for (let k = 0; k < 3; k++) img.data[4 * p + k] = Math.round(255 + (col[k] - 255) * t);
    img.data[4 * p + 3] = 255;
  }
  ctx.putImageData(img, 0, 0);
  return canvas;
}

function itemLine(it: GalleryItem): string {
  return `output ${it.explainedOutput} · f(x) = ${fmt(it.explainedValue)}`;
}

function card(it: GalleryItem, data: GalleryPayload, open: (it: GalleryItem) => void): HTMLElement {
  const outside = it.rootsChecked ? `${it.rootsOutside} of ${it.rootsChecked} roots outside` : 'no roots checked';
  const btn = h(
    'button',
    {
      class: `gallery-item${it.status === 'ok' ? '' : ' failed'}${it.rootsOutside > 0 ? ' outside' : ''}`,
      type: 'button',
      'data-index': it.inputIndex,
      title: `${it.inputName}: ${itemLine(it)}${it.message ? ` — ${it.message}` : ''}`,
    },
    h(
      'span',
      { class: 'gallery-maps' },
      drawInput(it.input, data.shape, `input ${it.inputName}`),
      it.inputRelevance ? drawHeatmap(it.inputRelevance, data.shape, `relevance of ${it.inputName}`) : h('span', { class: 'gallery-nomap' }, 'no relevance'),
    ),
    h('span', { class: 'gallery-name' }, it.inputName),
    h('span', { class: 'gallery-fx', 'data-value': it.explainedValue }, itemLine(it)),
    h('span', { class: 'gallery-err', 'data-value': it.conservationError ?? '' }, `Σ R − f(x) = ${fmt(it.conservationError)}`),
    h('span', { class: 'gallery-outside', 'data-value': it.rootsOutside }, outside),
    it.status === 'ok' ? null : h('span', { class: 'gallery-status' }, 'failed'),
  );
  btn.addEventListener('click', () => open(it));
  return btn;
}

function summaryBlock(data: GalleryPayload): HTMLElement {
  const s = data.summary;
  const share = s.inputsWithRootChecks ? `${s.inputsWithRootsOutside} of ${s.inputsWithRootChecks} (${fmt((100 * s.inputsWithRootsOutside) / s.inputsWithRootChecks)} %)` : 'no roots checked (this method has no root points)';
  const rows: [string, string][] = [
    ['Inputs', `${s.inputs} (${s.ok} ok, ${s.failed} failed)`],
    ['Mean f(x)', fmt(s.meanExplainedValue)],
    ['Largest |Σ R(input) − f(x)|', fmt(s.maxConservationError)],
    ['Inputs with roots outside their region', share],
    ['Explained outputs', Object.entries(s.outputCounts).sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k}: ${n}`).join(', ')],
  ];
  return h(
    'section',
    { class: 'gallery-summary', 'aria-label': 'Summary over the set' },
    h('div', { class: 'gallery-mean' }, drawHeatmap(s.meanAbsRelevance, data.shape, 'mean |R| over the set'), h('span', {}, 'mean |R|')),
    h('table', {}, h('tbody', {}, ...rows.map(([k, v]) => h('tr', {}, h('th', { scope: 'row' }, k), h('td', { class: 'gallery-summary-value' }, v))))),
  );
}

function detail(it: GalleryItem, data: GalleryPayload): HTMLElement {
  return h(
    'section',
    { class: 'gallery-detail', 'aria-label': `Details of ${it.inputName}` },
    h('h2', {}, it.inputName),
    h('div', { class: 'gallery-maps large' }, drawInput(it.input, data.shape, `input ${it.inputName}`), it.inputRelevance ? drawHeatmap(it.inputRelevance, data.shape, `relevance of ${it.inputName}`) : null),
    h('p', {}, `${itemLine(it)} · Σ R − f(x) = ${fmt(it.conservationError)} · ${it.rootsChecked ? `${it.rootsOutside} of ${it.rootsChecked} roots outside their region` : 'no roots checked'} · status ${it.status}`),
    it.message ? h('p', { class: 'gallery-message' }, it.message) : null,
    h('p', { class: 'gallery-hint' }, 'The full explanation of one input: dtd-lens explain MODEL --input FILE --html report.html, or Explain Output in VS Code.'),
  );
}

export function renderGallery(root: HTMLElement, data: GalleryPayload, post?: (m: GalleryToHost) => void): void {
  root.replaceChildren();
  root.dataset.state = 'gallery';
  const grid = h('div', { class: 'gallery-grid', role: 'list' });
  const detailHost = h('div', { class: 'gallery-detail-host' });
  const open = (it: GalleryItem) => {
    if (post && data.interactive) post({ type: 'openItem', inputIndex: it.inputIndex });
    else detailHost.replaceChildren(detail(it, data));
  };
  const select = h('select', { id: 'gallery-sort', 'aria-label': 'Sort by' }, ...SORTS.map((s) => h('option', { value: s.key }, s.label)));
  const fill = () => grid.replaceChildren(...sortItems(data.items, select.value as SortKey).map((it) => card(it, data, open)));
  select.addEventListener('change', fill);
  root.append(
    h('header', { class: 'gallery-head' }, h('h1', {}, data.title), h('p', { class: 'gallery-meta' }, `${data.model.name} (${data.model.format}) · method ${data.method} · rule ${data.rule} · ${data.backend}, ${data.precision}`)),
    summaryBlock(data),
    h('div', { class: 'gallery-controls' }, h('label', { for: 'gallery-sort' }, 'Sort by '), select, data.omitted > 0 ? h('span', { class: 'gallery-omitted' }, `${data.omitted} more inputs are in the summary but not drawn.`) : null, data.interactive ? h('span', { class: 'gallery-hint' }, 'Click an input to open its full explanation.') : null),
    detailHost,
    grid,
  );
  fill();
  if (post && data.interactive) post({ type: 'galleryRendered', items: grid.childElementCount });
}

function boot(): void {
  const block = document.getElementById(GALLERY_DATA_ID);
  const root = document.getElementById('app');
  if (!block || !root) return;
  const data = JSON.parse(block.textContent ?? 'null') as GalleryPayload;
  const api = typeof acquireVsCodeApi === 'function' ? acquireVsCodeApi() : undefined;
  renderGallery(root, data, api ? (m) => api.postMessage(m) : undefined);
}

boot();
