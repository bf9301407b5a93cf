// The input relevance as an image: a large heatmap per pane (one result, or two
// compared on one scale) over the input image with an opacity slider, a colour
// bar symmetric around 0 with its values, the value of the pixel under the
// pointer (or the keyboard cursor), a palette choice (zennit's maps, palettes.ts),
// per-channel maps and their sum for multi-channel inputs, and PNG export.
//
// The shape comes from settings.imageShape (the command line's report, H×W(×C)
// channels last), else the result's shapes[0] ([C, H, W]: the model's own), else the
// dtdLens.inputShape setting ([C, H, W]), else a square input of ≥ 100 units (said).
//
// drawHeatmap and colorBar are the reusable pieces (CRP's conditional heatmaps).

import type { ExplainResult, WebviewSettings } from '../extension/protocol';
import { asInputShape } from '../extension/protocol';
import type { Palette } from './colors';
import type { PaneSpec } from './compare';
import { fmt, h } from './dom';
import { defaultPaletteName, heatPalette, isPaletteName, PALETTE_NAMES, type HeatPalette, type PaletteName } from './palettes';

export interface ImageShape {
  height: number;
  width: number;
  channels: number;
  /** Where the shape came from, shown to the user. */
  source: 'setting' | 'result' | 'dtdLens.inputShape' | 'assumed square';
  /** Memory order of the flat values: the engine's NCHW (C-major) or channels last (the imageShape setting). */
  layout: 'chw' | 'hwc';
}

function fromArray(s: unknown, size: number, source: ImageShape['source']): ImageShape | null {
  if (!Array.isArray(s) || s.length < 2 || s.length > 3 || !s.every((v) => Number.isInteger(v) && v > 0)) return null;
  const [height, width, channels = 1] = s as number[];
  return height * width * channels === size ? { height, width, channels, source, layout: 'hwc' } : null;
}

/** [C, H, W] (NCHW, flattened C-major): the engine's shapes[0], or the dtdLens.inputShape setting. */
function fromChw(s: unknown, size: number, source: ImageShape['source']): ImageShape | null {
  const shape = asInputShape(s);
  if (!shape) return null;
  const [channels, height, width] = shape;
  return height * width * channels === size && height > 1 && width > 1 ? { height, width, channels, source, layout: 'chw' } : null;
}

function inputSizeOf(result: ExplainResult): number {
  return result.input?.length ?? result.activations[0]?.length ?? 0;
}

/** settings.imageShape (H×W or H×W×C), then the result's shapes[0] ([C, H, W]), then settings.inputShape ([C, H, W]), then a square input of ≥ 100 units (marked as assumed). */
export function imageShapeOf(result: ExplainResult, settings?: WebviewSettings): ImageShape | null {
  const size = inputSizeOf(result);
  const fromSetting = fromArray(settings?.imageShape, size, 'setting');
  if (fromSetting) return fromSetting;
  const fromResult = fromChw(result.shapes?.[0], size, 'result');
  if (fromResult) return fromResult;
  const fromInputShape = fromChw(settings?.inputShape, size, 'dtdLens.inputShape');
  if (fromInputShape) return fromInputShape;
  const side = Math.round(Math.sqrt(size));
  if (size >= 100 && side * side === size) return { height: side, width: side, channels: 1, source: 'assumed square', layout: 'hwc' };
  return null;
}

/** Why the dtdLens.inputShape setting was not used, when it was given (null: used, or not given). */
function inputShapeNote(result: ExplainResult, settings: WebviewSettings | undefined, used: ImageShape | null): string | null {
  const s = asInputShape(settings?.inputShape);
  if (!s || used?.source === 'dtdLens.inputShape') return null;
  const size = inputSizeOf(result);
  if (s[0] * s[1] * s[2] !== size) return `dtdLens.inputShape [${s.join(', ')}] has ${s[0] * s[1] * s[2]} values, but the input has ${size}: ignored.`;
  return `The model's own input shape is used; dtdLens.inputShape [${s.join(', ')}] is ignored.`;
}

/** Value of channel c at pixel i (row-major over H×W). */
function at(v: ArrayLike<number>, shape: ImageShape, i: number, c: number): number {
  return (shape.layout === 'chw' ? v[c * shape.width * shape.height + i] : v[i * shape.channels + c]) ?? 0;
}

/** Which plane of a multi-channel map: the sum over channels, or one channel. */
export type ChannelChoice = 'sum' | number;

/** The H×W plane (row-major) of a flat C×H×W (or H×W×C) map: one channel, or the sum over channels. */
export function planeOf(v: ArrayLike<number>, shape: ImageShape, channel: ChannelChoice): Float64Array {
  const n = shape.width * shape.height;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    if (channel === 'sum') {
      let s = 0;
      for (let c = 0; c < shape.channels; c++) s += at(v, shape, i, c);
      out[i] = s;
    } else out[i] = at(v, shape, i, channel);
  }
  return out;
}

export function maxAbsOf(values: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < values.length; i++) {
    const a = Math.abs(values[i]);
    if (a > m) m = a;
  }
  return m;
}

/**
 * Draws an H×W plane of signed values (row-major) into a canvas, one canvas pixel per value:
 * colour = palette(value / scale), symmetric around 0 (scale = the max |value| shown; 0 draws
 * every pixel in the centre colour). The canvas keeps its H×W size; CSS scales it up
 * (image-rendering: pixelated keeps each value a crisp square).
 */
export function drawHeatmap(canvas: HTMLCanvasElement, values: ArrayLike<number>, shape: { height: number; width: number }, palette: HeatPalette, scale: number): void {
  canvas.width = shape.width;
  canvas.height = shape.height;
  const ctx = canvas.getContext('2d');
  if (!ctx) return;
  const img = ctx.createImageData(shape.width, shape.height);
  for (let i = 0; i < shape.width * shape.height; i++) {
    const v = values[i] ?? 0;
    const [r, g, b] = palette.rgb(scale > 0 && Number.isFinite(v) ? v / scale : 0);
    img.data.set([r, g, b, 255], i * 4);
  }
  ctx.putImageData(img, 0, 0);
}

/** The input as a picture: RGB for 3 channels, else grey (one channel, or the channel mean); min–max over the whole input. */
function drawInput(canvas: HTMLCanvasElement, input: ArrayLike<number>, shape: ImageShape, channel: ChannelChoice): void {
  canvas.width = shape.width;
  canvas.height = shape.height;
  const ctx = canvas.getContext('2d');
  if (!ctx) return;
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < input.length; i++) {
    if (input[i] < lo) lo = input[i];
    if (input[i] > hi) hi = input[i];
  }
  const span = hi - lo || 1;
  const grey = shape.channels === 3 ? null : planeOf(input, shape, channel);
  const img = ctx.createImageData(shape.width, shape.height);
  for (let i = 0; i < shape.width * shape.height; i++) {
    const rgb = grey
      ? Array(3).fill(Math.round((255 * ((channel === 'sum' ? grey[i] / shape.channels : grey[i]) - lo)) / span))
      : [0, 1, 2].map((c) => Math.round((255 * (at(input, shape, i, c) - lo)) / span));
    img.data.set([rgb[0], rgb[1], rgb[2], 255], i * 4);
  }
  ctx.putImageData(img, 0, 0);
}

const SVGNS = 'http://www.w3.org/2000/svg';
function svg<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Record<string, string | number>, text?: string): SVGElementTagNameMap[K] {
  const el = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  if (text !== undefined) el.textContent = text;
  return el;
}

/**
 * A vertical colour bar for ±scale: +scale at the top, 0 in the middle, −scale at the bottom, with
 * five labelled ticks (exact values in data-value). Colours are explicit (the SVG exports as is).
 */
export function colorBar(palette: HeatPalette, scale: number, height: number, theme: Palette, label = 'relevance'): SVGSVGElement {
  const barW = 14;
  const top = 8;
  const H = Math.max(60, height);
  const barH = H - 2 * top;
  const W = 92;
  const root = svg('svg', { class: 'colorbar', width: W, height: H, viewBox: `0 0 ${W} ${H}`, role: 'img', 'data-scale': String(scale), 'data-palette': palette.name });
  root.setAttribute('aria-label', `colour bar: ${fmt(-scale)} to ${fmt(scale)}, 0 in the middle (${palette.text})`);
  const slices = 128;
  for (let k = 0; k < slices; k++) {
    const t = 1 - (2 * (k + 0.5)) / slices;
    const [r, g, b] = palette.rgb(t);
    root.append(svg('rect', { x: 0, y: top + (k * barH) / slices, width: barW, height: barH / slices + 0.6, fill: `rgb(${r},${g},${b})` }));
  }
  root.append(svg('rect', { x: 0, y: top, width: barW, height: barH, fill: 'none', stroke: theme.muted, 'stroke-width': 1 }));
  const ticks = [1, 0.5, 0, -0.5, -1];
  for (const f of ticks) {
    const y = top + ((1 - f) / 2) * barH;
    const v = f * scale;
    root.append(svg('line', { x1: barW, x2: barW + 4, y1: y, y2: y, stroke: theme.foreground }));
    const t = svg('text', { x: barW + 6, y: y + 4, fill: theme.foreground, 'font-size': 11, class: `tick${f === 1 ? ' max' : f === -1 ? ' min' : f === 0 ? ' zero' : ''}`, 'data-value': String(v) }, fmt(v));
    root.append(t);
  }
  const cap = svg('text', { x: W - 4, y: H / 2, fill: theme.muted, 'font-size': 10, 'text-anchor': 'middle', transform: `rotate(-90 ${W - 4} ${H / 2})` }, label);
  root.append(cap);
  return root;
}

/** What the user chose; kept across redraws (the next result keeps the palette and the opacity). */
const prefs: { palette: PaletteName | null; opacity: number; channel: ChannelChoice } = { palette: null, opacity: 0.7, channel: 'sum' };

interface HeatMapInput {
  label: string;
  relevance: number[];
}

export interface HeatmapActions {
  /** Exports the drawn section as PNG (export.ts exportHeatmapPng) and saves it as the toolbar's export does. */
  exportPng?: (section: HTMLElement) => void;
}

/** Pixel size of one input unit in the large view: about 336 px for the longer side, whole pixels. */
function zoomOf(shape: { height: number; width: number }, target = 336): number {
  return Math.max(1, Math.floor(target / Math.max(shape.width, shape.height)));
}

export function heatmapPanel(shape: ImageShape, input: number[], maps: HeatMapInput[], theme: Palette, actions: HeatmapActions = {}, note: string | null = null): HTMLElement {
  const section = h('section', { class: 'heatmap', 'data-shape': `${shape.height}x${shape.width}x${shape.channels}`, 'aria-label': 'input relevance heatmap' });
  section.append(h('h3', {}, 'Input relevance over the image', h('span', { class: 'muted' }, ` · ${shape.height}×${shape.width}${shape.channels > 1 ? '×' + shape.channels : ''} (${shape.source})`)));
  if (note) section.append(h('p', { class: 'muted note heat-shape-note' }, note));
  if (prefs.channel !== 'sum' && prefs.channel >= shape.channels) prefs.channel = 'sum';
  const paletteName = prefs.palette ?? defaultPaletteName(theme);

  // Controls: real form controls, labelled.
  const paletteSelect = h('select', { class: 'heat-palette', 'aria-label': 'heatmap palette' });
  for (const name of PALETTE_NAMES) {
    const opt = h('option', { value: name }, name === 'theme' ? 'theme colours' : name);
    opt.title = heatPalette(name, theme).text;
    paletteSelect.append(opt);
  }
  paletteSelect.value = paletteName;
  const opacity = h('input', { type: 'range', class: 'heat-opacity', min: 0, max: 100, step: 5, value: Math.round(prefs.opacity * 100), 'aria-label': 'heatmap opacity over the input image' });
  const opacityText = h('output', { class: 'heat-opacity-value num' }, `${Math.round(prefs.opacity * 100)} %`);
  const channelSelect = shape.channels > 1 ? h('select', { class: 'heat-channel', 'aria-label': 'channel' }) : null;
  if (channelSelect) {
    channelSelect.append(h('option', { value: 'sum' }, `Σ of ${shape.channels} channels`));
    for (let c = 0; c < shape.channels; c++) channelSelect.append(h('option', { value: String(c) }, `channel ${c}`));
    channelSelect.value = String(prefs.channel);
  }
  const exportButton = actions.exportPng ? h('button', { class: 'tool heat-export', type: 'button', title: 'Save the heatmap with its colour bar as PNG' }, 'PNG') : null;
  section.append(
    h(
      'div',
      { class: 'heat-controls' },
      h('label', { class: 'ctl' }, 'Palette ', paletteSelect),
      channelSelect ? h('label', { class: 'ctl' }, 'Channel ', channelSelect) : null,
      h('label', { class: 'ctl' }, 'Heatmap opacity ', opacity, opacityText),
      exportButton,
    ),
  );

  const zoom = zoomOf(shape);
  const W = shape.width * zoom;
  const H = shape.height * zoom;
  const views = maps.map((m, pane) => {
    const inputCanvas = h('canvas', { class: 'heat heat-input', 'aria-hidden': 'true' });
    const relCanvas = h('canvas', { class: 'heat heat-relevance', role: 'img', 'aria-label': `input relevance: ${m.label}` });
    const cursor = h('div', { class: 'heat-cursor', hidden: true });
    const stack = h('div', { class: 'heat-stack', tabindex: 0, 'data-pane': pane, 'aria-label': `${m.label}: arrow keys move a cursor over the pixels` }, inputCanvas, relCanvas, cursor);
    for (const c of [inputCanvas, relCanvas]) {
      c.style.width = `${W}px`;
      c.style.height = `${H}px`;
    }
    stack.style.width = `${W}px`;
    stack.style.height = `${H}px`;
    cursor.style.width = `${zoom}px`;
    cursor.style.height = `${zoom}px`;
    const figure = h('figure', { class: 'heat-view', 'data-pane': pane }, stack, h('figcaption', {}, m.label));
    return { m, inputCanvas, relCanvas, cursor, stack, figure };
  });
  const barHolder = h('div', { class: 'heat-bar' });
  section.append(h('div', { class: 'heat-row' }, ...views.map((v) => v.figure), barHolder));
  const readout = h('output', { class: 'heat-readout', 'aria-live': 'polite' }, 'Point at a pixel (or focus the image and use the arrow keys) for its value.');
  section.append(readout);
  const thumbs = shape.channels > 1 ? h('div', { class: 'heat-channels', role: 'group', 'aria-label': 'per-channel maps' }) : null;
  if (thumbs) section.append(thumbs);
  const legend = h('p', { class: 'muted note heat-legend' });
  section.append(legend);

  // The planes and scales: Σ has its own scale; the channels share one (comparable with each other); panes share both.
  const planes = maps.map((m) => ({ sum: planeOf(m.relevance, shape, 'sum'), channels: Array.from({ length: shape.channels }, (_, c) => planeOf(m.relevance, shape, c)) }));
  const sumScale = Math.max(0, ...planes.map((p) => maxAbsOf(p.sum)));
  const channelScale = Math.max(0, ...planes.flatMap((p) => p.channels.map(maxAbsOf)));
  const scaleOf = (ch: ChannelChoice) => (ch === 'sum' || shape.channels === 1 ? sumScale : channelScale);
  const planeFor = (pane: number, ch: ChannelChoice) => (ch === 'sum' ? planes[pane].sum : planes[pane].channels[ch]);

  let palette = heatPalette(paletteName, theme);
  const draw = () => {
    const ch = prefs.channel;
    const scale = scaleOf(ch);
    views.forEach((v, pane) => {
      drawInput(v.inputCanvas, input, shape, ch);
      drawHeatmap(v.relCanvas, planeFor(pane, ch), shape, palette, scale);
      v.relCanvas.style.opacity = String(prefs.opacity);
      v.relCanvas.dataset.channel = String(ch);
      v.relCanvas.dataset.scale = String(scale);
    });
    barHolder.replaceChildren(colorBar(palette, scale, H, theme, ch === 'sum' && shape.channels > 1 ? 'Σ relevance' : 'relevance'));
    section.dataset.palette = palette.name;
    legend.textContent =
      `Colour: ${palette.text}, symmetric around 0: ±${fmt(scale)} = the largest |R| shown` +
      (shape.channels > 1 ? (ch === 'sum' ? ' (Σ over channels)' : ' (over all channels, so channels compare)') : '') +
      (maps.length > 1 ? ', shared by the panes' : '') +
      `; linear${palette.name === 'theme' ? ' in √|R|' : ''}. Under it the input (${shape.channels === 3 ? 'RGB' : 'grey'}, min–max).`;
    if (thumbs) drawThumbs();
  };
  const drawThumbs = () => {
    if (!thumbs) return;
    thumbs.replaceChildren();
    const tz = zoomOf(shape, 72);
    const choices: ChannelChoice[] = ['sum', ...Array.from({ length: Math.min(shape.channels, 16) }, (_, c) => c)];
    for (const ch of choices) {
      const c = h('canvas', { class: 'heat heat-thumb', 'aria-hidden': 'true' });
      drawHeatmap(c, planeFor(0, ch), shape, palette, scaleOf(ch));
      c.style.width = `${shape.width * tz}px`;
      c.style.height = `${shape.height * tz}px`;
      const b = h('button', { type: 'button', class: 'heat-thumb-button', 'data-channel': String(ch), 'aria-pressed': String(prefs.channel === ch) }, c, h('span', {}, ch === 'sum' ? 'Σ' : `ch ${ch}`));
      b.addEventListener('click', () => setChannel(ch));
      thumbs.append(b);
    }
    if (shape.channels > 16) thumbs.append(h('span', { class: 'muted' }, `first 16 of ${shape.channels} channels; choose others above`));
  };
  const setChannel = (ch: ChannelChoice) => {
    prefs.channel = ch;
    if (channelSelect) channelSelect.value = String(ch);
    draw();
  };

  paletteSelect.addEventListener('change', () => {
    if (!isPaletteName(paletteSelect.value)) return;
    prefs.palette = paletteSelect.value;
    palette = heatPalette(prefs.palette, theme);
    draw();
  });
  opacity.addEventListener('input', () => {
    prefs.opacity = Math.max(0, Math.min(1, Number(opacity.value) / 100));
    opacityText.textContent = `${Math.round(prefs.opacity * 100)} %`;
    for (const v of views) v.relCanvas.style.opacity = String(prefs.opacity);
  });
  channelSelect?.addEventListener('change', () => setChannel(channelSelect.value === 'sum' ? 'sum' : Number(channelSelect.value)));

  // The value under the pointer or the keyboard cursor.
  const show = (pane: number, row: number, col: number) => {
    const v = views[pane];
    if (!v || row < 0 || col < 0 || row >= shape.height || col >= shape.width) return;
    const i = row * shape.width + col;
    const ch = prefs.channel;
    const value = planeFor(pane, ch)[i];
    const inputs = ch === 'sum' ? Array.from({ length: shape.channels }, (_, c) => at(input, shape, i, c)) : [at(input, shape, i, ch)];
    const chText = shape.channels === 1 ? '' : ch === 'sum' ? ` · Σ of ${shape.channels} channels` : ` · channel ${ch}`;
    const inputText = inputs.length === 1 ? fmt(inputs[0]) : `(${inputs.slice(0, 8).map(fmt).join(', ')}${inputs.length > 8 ? ', …' : ''})`;
    readout.replaceChildren(
      maps.length > 1 ? `${v.m.label} · ` : '',
      `row ${row}, column ${col}${chText} · R = `,
      h('span', { class: 'heat-value num', 'data-value': String(value), title: String(value) }, fmt(value)),
      ' · input = ',
      h('span', { class: 'heat-input-value num', 'data-value': inputs.join(','), title: inputs.join(', ') }, inputText),
    );
    readout.dataset.row = String(row);
    readout.dataset.col = String(col);
    for (const o of views) o.cursor.hidden = true;
    v.cursor.hidden = false;
    v.cursor.style.left = `${col * zoom}px`;
    v.cursor.style.top = `${row * zoom}px`;
    cursorAt = { pane, row, col };
  };
  let cursorAt = { pane: 0, row: 0, col: 0 };
  views.forEach((v, pane) => {
    v.stack.addEventListener('mousemove', (ev) => {
      const r = v.relCanvas.getBoundingClientRect();
      show(pane, Math.floor(((ev.clientY - r.top) / r.height) * shape.height), Math.floor(((ev.clientX - r.left) / r.width) * shape.width));
    });
    v.stack.addEventListener('mouseleave', () => (v.cursor.hidden = true));
    v.stack.addEventListener('focus', () => show(pane, cursorAt.pane === pane ? cursorAt.row : 0, cursorAt.pane === pane ? cursorAt.col : 0));
    v.stack.addEventListener('keydown', (ev) => {
      const d = ({ ArrowUp: [-1, 0], ArrowDown: [1, 0], ArrowLeft: [0, -1], ArrowRight: [0, 1] } as Record<string, [number, number]>)[ev.key];
      if (!d) return;
      ev.preventDefault();
      ev.stopPropagation(); // not the network view's arrow keys
      const base = cursorAt.pane === pane ? cursorAt : { pane, row: 0, col: 0 };
      show(pane, Math.max(0, Math.min(shape.height - 1, base.row + d[0])), Math.max(0, Math.min(shape.width - 1, base.col + d[1])));
    });
  });

  exportButton?.addEventListener('click', () => actions.exportPng?.(section));

  draw();
  return section;
}

/** Fills the heatmap area: each pane's input relevance over the input, when `main`'s input has an image shape. */
export function renderHeatmaps(container: HTMLElement, specs: PaneSpec[], main: ExplainResult, settings: WebviewSettings | undefined, palette: Palette, actions: HeatmapActions = {}): void {
  container.replaceChildren();
  const shape = imageShapeOf(main, settings);
  const note = inputShapeNote(main, settings, shape);
  if (!shape) {
    if (note) container.append(h('p', { class: 'muted note heat-shape-note' }, note));
    return;
  }
  const maps = specs.flatMap((s) => {
    const rel = (s.relevance ?? s.result.relevance)[0];
    return rel ? [{ label: s.label, relevance: rel }] : [];
  });
  if (maps.length) container.append(heatmapPanel(shape, main.input ?? main.activations[0], maps, palette, actions, note));
}
