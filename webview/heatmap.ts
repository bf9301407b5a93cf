// Input relevance as a heatmap over the image, when the input has an image
// shape (H×W or H×W×C, channels last). Canvas pixels, scaled up with
// nearest-neighbour so each input unit stays a crisp square.

import { color as d3color } from 'd3';
import type { ExplainResult, WebviewSettings } from '../extension/protocol';
import type { Palette } from './colors';
import { divergingColor } from './colors';
import type { PaneSpec } from './compare';
import { h } from './dom';

export interface ImageShape {
  height: number;
  width: number;
  channels: number;
  /** Where the shape came from, shown to the user. */
  source: 'setting' | 'result' | 'assumed square';
  /** Memory order of the flat values: the engine's NCHW (C-major) or channels last (the imageShape setting). */
  layout: 'chw' | 'hwc';
}

function fromArray(s: unknown, size: number, source: ImageShape['source']): ImageShape | null {
  if (!Array.isArray(s) || s.length < 2 || s.length > 3 || !s.every((v) => Number.isInteger(v) && v > 0)) return null;
  const [height, width, channels = 1] = s as number[];
  return height * width * channels === size ? { height, width, channels, source, layout: 'hwc' } : null;
}

/** The engine's shapes[0] = [C, H, W] (NCHW, flattened C-major). */
function fromEngine(s: unknown, size: number): ImageShape | null {
  if (!Array.isArray(s) || s.length !== 3 || !s.every((v) => Number.isInteger(v) && v > 0)) return null;
  const [channels, height, width] = s as number[];
  return height * width * channels === size && height > 1 && width > 1 ? { height, width, channels, source: 'result', layout: 'chw' } : null;
}

/** Value of channel c at pixel i (row-major over H×W). */
function at(v: number[], shape: ImageShape, i: number, c: number): number {
  return (shape.layout === 'chw' ? v[c * shape.width * shape.height + i] : v[i * shape.channels + c]) ?? 0;
}

/** settings.imageShape (H×W or H×W×C), then the engine's result.shapes[0] ([C, H, W]), then a square input of ≥ 100 units (marked as assumed). */
export function imageShapeOf(result: ExplainResult, settings?: WebviewSettings): ImageShape | null {
  const size = result.input?.length ?? result.activations[0]?.length ?? 0;
  const fromSetting = fromArray(settings?.imageShape, size, 'setting');
  if (fromSetting) return fromSetting;
  const fromResult = fromEngine(result.shapes?.[0], size);
  if (fromResult) return fromResult;
  const side = Math.round(Math.sqrt(size));
  if (size >= 100 && side * side === size) return { height: side, width: side, channels: 1, source: 'assumed square', layout: 'hwc' };
  return null;
}

function canvasFor(shape: ImageShape, pixel: (i: number) => [number, number, number], label: string, cls: string): HTMLElement {
  const canvas = h('canvas', { class: `heat ${cls}`, width: shape.width, height: shape.height, 'aria-label': label, role: 'img' });
  const ctx = canvas.getContext('2d');
  if (ctx) {
    const img = ctx.createImageData(shape.width, shape.height);
    for (let i = 0; i < shape.width * shape.height; i++) {
      const [r, g, b] = pixel(i);
      img.data[i * 4] = r;
      img.data[i * 4 + 1] = g;
      img.data[i * 4 + 2] = b;
      img.data[i * 4 + 3] = 255;
    }
    ctx.putImageData(img, 0, 0);
  }
  const scale = Math.max(1, Math.floor(168 / Math.max(shape.width, shape.height)));
  canvas.style.width = `${shape.width * scale}px`;
  canvas.style.height = `${shape.height * scale}px`;
  return h('figure', { class: 'heat-figure' }, canvas, h('figcaption', {}, label));
}

/** Sum over channels of pixel i. */
function pixelSum(v: number[], shape: ImageShape, i: number): number {
  let s = 0;
  for (let c = 0; c < shape.channels; c++) s += at(v, shape, i, c);
  return s;
}

export function heatmapPanel(
  shape: ImageShape,
  input: number[],
  maps: { label: string; relevance: number[] }[],
  palette: Palette,
  sharedMaxAbs?: number,
): HTMLElement {
  const n = shape.width * shape.height;
  const section = h('section', { class: 'heatmap', 'data-shape': `${shape.height}x${shape.width}x${shape.channels}` });
  section.append(h('h3', {}, 'Input relevance over the image', h('span', { class: 'muted' }, ` · ${shape.height}×${shape.width}${shape.channels > 1 ? '×' + shape.channels : ''} (${shape.source})`)));
  const row = h('div', { class: 'heat-row' });
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of input) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  const span = hi - lo || 1;
  row.append(
    canvasFor(
      shape,
      (i) => {
        if (shape.channels === 3) return [0, 1, 2].map((c) => Math.round((255 * (at(input, shape, i, c) - lo)) / span)) as [number, number, number];
        const g = Math.round((255 * (pixelSum(input, shape, i) / shape.channels - lo)) / span);
        return [g, g, g];
      },
      'input',
      'heat-input',
    ),
  );
  let maxAbs = sharedMaxAbs ?? 0;
  if (sharedMaxAbs === undefined)
    for (const m of maps) for (let i = 0; i < n; i++) maxAbs = Math.max(maxAbs, Math.abs(pixelSum(m.relevance, shape, i)));
  for (const m of maps) {
    row.append(
      canvasFor(
        shape,
        (i) => {
          const c = d3color(divergingColor(palette, pixelSum(m.relevance, shape, i), maxAbs))?.rgb();
          return c ? [c.r, c.g, c.b] : [128, 128, 128];
        },
        m.label,
        'heat-relevance',
      ),
    );
  }
  section.append(row);
  return section;
}

/** Fills the heatmap area: the input and each pane's input relevance, when `main`'s input has an image shape. */
export function renderHeatmaps(container: HTMLElement, specs: PaneSpec[], main: ExplainResult, settings: WebviewSettings | undefined, palette: Palette): void {
  container.replaceChildren();
  const shape = imageShapeOf(main, settings);
  if (!shape) return;
  const maps = specs.flatMap((s) => {
    const rel = (s.relevance ?? s.result.relevance)[0];
    return rel ? [{ label: s.label, relevance: rel }] : [];
  });
  if (maps.length) container.append(heatmapPanel(shape, main.input ?? main.activations[0], maps, palette));
}
