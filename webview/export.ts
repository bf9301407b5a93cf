// Export of what is on screen: the network SVG(s) as one standalone SVG, the
// same rasterised to PNG through a canvas (a data URL), and the result JSON.

import type { Current, Format } from './state';

const SVGNS = 'http://www.w3.org/2000/svg';

/** One standalone SVG of the given pane SVGs placed side by side (the current zoom is kept: it is "what you see"). */
export function exportSvg(svgs: SVGSVGElement[], background: string): string {
  const widths = svgs.map((s) => Number(s.getAttribute('width')) || 800);
  const heights = svgs.map((s) => Number(s.getAttribute('height')) || 600);
  const W = widths.reduce((a, b) => a + b, 0);
  const H = Math.max(...heights);
  const out = document.createElementNS(SVGNS, 'svg');
  out.setAttribute('xmlns', SVGNS);
  out.setAttribute('width', String(W));
  out.setAttribute('height', String(H));
  out.setAttribute('viewBox', `0 0 ${W} ${H}`);
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

/** What is on screen in a format: the result(s) as JSON, or the pane SVGs as one SVG / PNG. */
export async function exportView(format: Format, current: Current | null, svgs: SVGSVGElement[], background: string): Promise<string> {
  if (!current) throw new Error('there is nothing to export yet');
  if (format === 'json') return JSON.stringify(current.kind === 'single' ? current.result : { left: current.left, right: current.right });
  const svg = exportSvg(svgs, background);
  if (format === 'svg') return svg;
  const W = svgs.reduce((a, s) => a + (Number(s.getAttribute('width')) || 0), 0);
  const H = Math.max(...svgs.map((s) => Number(s.getAttribute('height')) || 0));
  return svgToPng(svg, W, H);
}
