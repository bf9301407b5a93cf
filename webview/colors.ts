// Theme-aware colours. The css maps `--vscode-*` theme colours (with fallbacks
// per body class) onto `--dtd-*` variables; here they are read once per draw and
// turned into explicit rgb() values, so the drawn SVG (and its export) does not
// depend on the page's stylesheet.

import { color as d3color, interpolateRgb } from 'd3';

export interface Palette {
  positive: string;
  negative: string;
  /** Fill of a unit with zero relevance: a step away from the background so it stays visible. */
  neutral: string;
  foreground: string;
  background: string;
  muted: string;
  pass: string;
  fail: string;
  focus: string;
  highContrast: boolean;
}

function rgb(value: string, fallback: string): string {
  const c = d3color(value.trim()) ?? d3color(fallback);
  return c ? c.formatRgb() : fallback;
}

export function readPalette(el: HTMLElement = document.body): Palette {
  const cs = getComputedStyle(el);
  const v = (name: string, fb: string): string => rgb(cs.getPropertyValue(name) || fb, fb);
  const background = v('--dtd-bg', '#ffffff');
  const foreground = v('--dtd-fg', '#333333');
  return {
    positive: v('--dtd-positive', '#d62728'),
    negative: v('--dtd-negative', '#1f77b4'),
    neutral: rgb(interpolateRgb(background, foreground)(0.16), '#dddddd'),
    foreground,
    background,
    muted: v('--dtd-muted', '#777777'),
    pass: v('--dtd-pass', '#2e7d32'),
    fail: v('--dtd-fail', '#c62828'),
    focus: v('--dtd-focus', '#0090f1'),
    highContrast: el.classList.contains('vscode-high-contrast') || el.classList.contains('vscode-high-contrast-light'),
  };
}

/** Diverging scale centred on zero: t = value / max in [-1, 1]; sqrt so small relevances are still visible. */
export function divergingColor(p: Palette, value: number | null, maxAbs: number): string {
  if (value === null || !Number.isFinite(value) || value === 0 || !(maxAbs > 0)) return p.neutral;
  const t = Math.min(1, Math.abs(value) / maxAbs);
  const s = 0.18 + 0.82 * Math.sqrt(t);
  return rgb(interpolateRgb(p.neutral, value > 0 ? p.positive : p.negative)(s), p.neutral);
}
