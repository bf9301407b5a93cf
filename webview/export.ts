// Export of what is on screen: the network SVG(s) as one standalone SVG, the
// same rasterised to PNG through a canvas (a data URL), and the result JSON; and
// the input heatmap section (heatmap.ts) as PNG.

import { reproducibilityRecord, type ExplainResult } from '../extension/protocol';
import type { Current, Format } from './state';

const SVGNS = 'http://www.w3.org/2000/svg';

/** One standalone SVG of the given pane SVGs placed side by side (the current zoom is kept: it is "what you see"). */
export function exportSvg(svgs: SVGSVGElement[], background: string, results: ExplainResult[] = []): string {
  const widths = svgs.map((s) => Number(s.getAttribute('width')) || 800);
  const heights = svgs.map((s) => Number(s.getAttribute('height')) || 600);
  const W = widths.reduce((a, b) => a + b, 0);
  const H = Math.max(...heights);
  const out = document.createElementNS(SVGNS, 'svg');
  out.setAttribute('xmlns', SVGNS);
  out.setAttribute('width', String(W));
  out.setAttribute('height', String(H));
  out.setAttribute('viewBox', `0 0 ${W} ${H}`);
  if (results.length) {
    // The run behind the picture (model hash, engine version, every option), as JSON in <metadata>.
    const meta = document.createElementNS(SVGNS, 'metadata');
    meta.setAttribute('id', 'dtd-lens-provenance');
    meta.textContent = JSON.stringify(results.map(reproducibilityRecord));
    out.append(meta);
  }
  const bg = document.createElementNS(SVGNS, 'rect');
  bg.setAttribute('width', String(W));
  bg.setAttribute('height', String(H));
  bg.setAttribute('fill', background);
  out.append(bg);
  let x = 0;
  svgs.forEach((s, i) => {
    const g = document.createElementNS(SVGNS, 'g');
    g.setAttribute('transform', `translate(${x},0)`);
    const clone = s.cloneNode(true) as SVGSVGElement;
    clone.removeAttribute('tabindex');
    clone.removeAttribute('class');
    // Interaction-only classes would be meaningless outside the page.
    for (const el of clone.querySelectorAll('.focused, .hl')) el.classList.remove('focused', 'hl');
    clone.setAttribute('x', '0');
    clone.setAttribute('y', '0');
    g.append(clone);
    out.append(g);
    x += widths[i];
  });
  return '<?xml version="1.0" encoding="UTF-8"?>\n' + new XMLSerializer().serializeToString(out);
}

/** Rasterises an SVG string to a PNG data URL at the given pixel ratio. */
export function svgToPng(svg: string, width: number, height: number, ratio = 2): Promise<string> {
  return new Promise((resolve, reject) => {
    const img = new Image();
    img.onload = () => {
      const canvas = document.createElement('canvas');
      canvas.width = Math.round(width * ratio);
      canvas.height = Math.round(height * ratio);
      const ctx = canvas.getContext('2d');
      if (!ctx) return reject(new Error('no 2d canvas context'));
      ctx.scale(ratio, ratio);
      ctx.drawImage(img, 0, 0, width, height);
      try {
        resolve(canvas.toDataURL('image/png'));
      } catch (e) {
        reject(e instanceof Error ? e : new Error(String(e)));
      }
    };
    img.onerror = () => reject(new Error('the SVG could not be rasterised'));
    const bytes = new TextEncoder().encode(svg);
    let bin = '';
    for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
    img.src = 'data:image/svg+xml;base64,' + btoa(bin);
  });
}

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** A PNG data URL with an iTXt chunk (keyword, UTF-8 text) inserted after IHDR, as PNG viewers and exiftool read it. */
export function withPngText(dataUrl: string, keyword: string, text: string): string {
  const bin = atob(dataUrl.slice(dataUrl.indexOf(',') + 1));
  const png = Uint8Array.from(bin, (ch) => ch.charCodeAt(0));
  const enc = new TextEncoder();
  // iTXt: keyword, NUL, compression flag 0, method 0, language tag "", NUL, translated keyword "", NUL, text.
  const body = new Uint8Array([...enc.encode(keyword), 0, 0, 0, 0, 0, ...enc.encode(text)]);
  const chunk = new Uint8Array(12 + body.length);
  const view = new DataView(chunk.buffer);
  view.setUint32(0, body.length);
  chunk.set(enc.encode('iTXt'), 4);
  chunk.set(body, 8);
  view.setUint32(8 + body.length, crc32(chunk.subarray(4, 8 + body.length)));
  const ihdrEnd = 8 + 12 + new DataView(png.buffer).getUint32(8); // signature, then IHDR (length, type, data, crc)
  const out = new Uint8Array(png.length + chunk.length);
  out.set(png.subarray(0, ihdrEnd));
  out.set(chunk, ihdrEnd);
  out.set(png.subarray(ihdrEnd), ihdrEnd + chunk.length);
  let s = '';
  for (let i = 0; i < out.length; i += 0x8000) s += String.fromCharCode(...out.subarray(i, i + 0x8000));
  return 'data:image/png;base64,' + btoa(s);
}

/** What is on screen in a format: the result(s) as JSON, or the pane SVGs as one SVG / PNG. */
export async function exportView(format: Format, current: Current | null, svgs: SVGSVGElement[], background: string): Promise<string> {
  if (!current) throw new Error('there is nothing to export yet');
  if (format === 'json') return JSON.stringify(current.kind === 'single' ? current.result : { left: current.left, right: current.right });
  const results = current.kind === 'single' ? [current.result] : [current.left, current.right];
  const svg = exportSvg(svgs, background, results);
  if (format === 'svg') return svg;
  const W = svgs.reduce((a, s) => a + (Number(s.getAttribute('width')) || 0), 0);
  const H = Math.max(...svgs.map((s) => Number(s.getAttribute('height')) || 0));
  return withPngText(await svgToPng(svg, W, H), 'dtd-lens-provenance', JSON.stringify(results.map(reproducibilityRecord)));
}

/**
 * The drawn heatmap section as one PNG data URL: each pane's input with the heatmap over it at
 * the chosen opacity (each unit a zoom × zoom square), its caption, and the colour bar.
 */
function heatmapCanvasPng(section: HTMLElement, background: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const figures = [...section.querySelectorAll<HTMLElement>('.heat-view')];
    const bar = section.querySelector<SVGSVGElement>('svg.colorbar');
    if (!figures.length || !bar) return reject(new Error('no heatmap is drawn'));
    const sizes = figures.map((f) => {
      const c = f.querySelector<HTMLCanvasElement>('canvas.heat-relevance')!;
      return { w: parseFloat(c.style.width) || c.width, h: parseFloat(c.style.height) || c.height };
    });
    const pad = 12;
    const capH = 18;
    const barW = Number(bar.getAttribute('width')) || 92;
    const barH = Number(bar.getAttribute('height')) || 100;
    const W = pad + sizes.reduce((a, s) => a + s.w + pad, 0) + barW + pad;
    const H = pad + Math.max(barH, ...sizes.map((s) => s.h + capH)) + pad;
    const canvas = document.createElement('canvas');
    const ratio = 2;
    canvas.width = W * ratio;
    canvas.height = H * ratio;
    const ctx = canvas.getContext('2d');
    if (!ctx) return reject(new Error('no 2d canvas context'));
    ctx.scale(ratio, ratio);
    ctx.fillStyle = background;
    ctx.fillRect(0, 0, W, H);
    ctx.imageSmoothingEnabled = false;
    const fg = getComputedStyle(section).color || '#333';
    let x = pad;
    figures.forEach((f, i) => {
      const input = f.querySelector<HTMLCanvasElement>('canvas.heat-input')!;
      const rel = f.querySelector<HTMLCanvasElement>('canvas.heat-relevance')!;
      const { w, h: hh } = sizes[i];
      ctx.globalAlpha = 1;
      ctx.drawImage(input, x, pad, w, hh);
      ctx.globalAlpha = Number(rel.style.opacity || '1');
      ctx.drawImage(rel, x, pad, w, hh);
      ctx.globalAlpha = 1;
      ctx.fillStyle = fg;
      ctx.font = '12px sans-serif';
      ctx.textAlign = 'center';
      ctx.fillText(f.querySelector('figcaption')?.textContent ?? '', x + w / 2, pad + hh + 14, w);
      x += w + pad;
    });
    const img = new Image();
    img.onload = () => {
      ctx.drawImage(img, x, pad, barW, barH);
      try {
        resolve(canvas.toDataURL('image/png'));
      } catch (e) {
        reject(e instanceof Error ? e : new Error(String(e)));
      }
    };
    img.onerror = () => reject(new Error('the colour bar could not be rasterised'));
    const clone = bar.cloneNode(true) as SVGSVGElement;
    clone.setAttribute('xmlns', SVGNS);
    img.src = 'data:image/svg+xml;charset=utf-8,' + encodeURIComponent(new XMLSerializer().serializeToString(clone));
  });
}

/** The input heatmap as drawn (input, heatmap at its opacity, captions, colour bar) as PNG, with the runs' provenance as the network PNG has. */
export async function exportHeatmapPng(section: HTMLElement, current: Current | null, background: string): Promise<string> {
  if (!current) throw new Error('there is nothing to export yet');
  const results = current.kind === 'single' ? [current.result] : [current.left, current.right];
  return withPngText(await heatmapCanvasPng(section, background), 'dtd-lens-provenance', JSON.stringify(results.map(reproducibilityRecord)));
}
