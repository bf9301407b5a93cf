// How one root is shown, in the unit inspector and in the root tree alike: the
// root point against the layer input (per-dimension bars), the three checks as
// badges (the engine decided them; this module only displays them), the
// polytope finder's certificate in words, and the label–value rows.

import { scaleBand, scaleLinear, select } from 'd3';
import type { RootCertificateInfo } from '../extension/protocol';
import type { Palette } from './colors';
import { badge, fmt, h, type BadgeState } from './dom';

const MAX_BARS = 40;

/**
 * Per-dimension bars of the layer input against the root (the dimensions that moved most when there are many).
 * `inDomain` is the engine's domain check of this root: only when it failed are the negative root coordinates
 * drawn in the failure colour (the webview does not decide the domain itself).
 */
export function rootBars(input: number[], root: number[] | null, palette: Palette, caption: string, inDomain?: boolean | null): HTMLElement {
  const wrap = h('figure', { class: 'root-bars' });
  const n = input.length;
  let dims = Array.from({ length: n }, (_, i) => i);
  let note = `all ${n} dimensions`;
  if (n > MAX_BARS) {
    const diff = (i: number) => Math.abs(input[i] - (root ? root[i] : input[i]));
    dims = dims.sort((a, b) => diff(b) - diff(a)).slice(0, MAX_BARS).sort((a, b) => a - b);
    note = `${MAX_BARS} of ${n} dimensions with the largest |input − root|`;
  }
  const W = 300;
  const H = 120;
  const values = dims.flatMap((i) => [input[i], root ? root[i] : 0]);
  const lo = Math.min(0, ...values);
  const hi = Math.max(0, ...values, 1e-12);
  // The axis labels get their own margin (9 px type: ≈ 5.5 px a character), so no bar draws over them.
  const left = 6 + 5.5 * Math.max(fmt(hi).length, fmt(lo).length);
  const x = scaleBand<number>().domain(dims).range([left, W - 4]).paddingInner(0.2);
  const y = scaleLinear().domain([lo, hi]).range([H - 14, 6]).nice();
  const svg = select(wrap).append('svg').attr('width', W).attr('height', H).attr('viewBox', `0 0 ${W} ${H}`).attr('class', 'bars');
  const bw = x.bandwidth() / 2;
  const g = svg.append('g');
  for (const i of dims) {
    const xi = x(i) ?? 0;
    const bar = (v: number, dx: number, fill: string, cls: string) =>
      g
        .append('rect')
        .attr('class', cls)
        .attr('x', xi + dx)
        .attr('width', Math.max(1, bw - 0.5))
        .attr('y', Math.min(y(0), y(v)))
        .attr('height', Math.max(0.5, Math.abs(y(v) - y(0))))
        .attr('fill', fill)
        .attr('data-dim', i)
        .attr('data-value', v)
        .append('title')
        .text(`${cls === 'bar-input' ? 'input' : 'root'}[${i}] = ${v}`);
    bar(input[i], 0, palette.muted, 'bar-input');
    if (root) bar(root[i], bw, inDomain === false && root[i] < 0 ? palette.fail : palette.focus, 'bar-root');
  }
  svg.append('line').attr('x1', left).attr('x2', W - 4).attr('y1', y(0)).attr('y2', y(0)).attr('stroke', palette.foreground).attr('stroke-width', 0.5);
  svg.append('text').attr('class', 'axis-label').attr('x', left - 3).attr('text-anchor', 'end').attr('y', y(hi) + 8).attr('font-size', 9).attr('fill', palette.muted).text(fmt(hi));
  svg.append('text').attr('class', 'axis-label').attr('x', left - 3).attr('text-anchor', 'end').attr('y', y(lo)).attr('font-size', 9).attr('fill', palette.muted).text(fmt(lo));
  wrap.append(
    h(
      'figcaption',
      {},
      h('span', { class: 'key key-input' }, 'input'),
      ' ',
      h('span', { class: 'key key-root' }, 'root'),
      ` · ${caption}: ${note}`,
    ),
  );
  return wrap;
}

export function row(label: string, value: HTMLElement | string, hint?: string): HTMLElement {
  return h('div', { class: 'kv', title: hint }, h('span', { class: 'k' }, label), typeof value === 'string' ? h('span', { class: 'v' }, value) : value);
}

function checkState(v: boolean | null | undefined): BadgeState {
  return v === true ? 'pass' : v === false ? 'fail' : 'unknown';
}

export function checkBadges(checks: { relevanceZero: boolean | null; inRegion: boolean | null; inDomain: boolean | null; crossing?: string | null } | null): HTMLElement {
  const crossing = checks?.inRegion === false && checks.crossing ? h('p', { class: 'crossing', 'data-crossing': checks.crossing }, 'Leaves the region where ', checks.crossing, '.') : null;
  return h(
    'div',
    { class: 'badges' },
    badge('relevance ≈ 0 at root', checkState(checks?.relevanceZero), 'The unit\'s relevance evaluated at its root should vanish; otherwise the Taylor expansion starts from a point that is not a root.'),
    badge('same linear region', checkState(checks?.inRegion), 'The root has the same ReLU on/off pattern in all layers above as the layer input; only then is the first-order Taylor step exact.'),
    badge('inside domain', checkState(checks?.inDomain), 'The root is ≥ 0 where the layer input is a ReLU output (or inside the zB box).'),
    crossing,
  );
}

/** The polytope finder's certificate in words: why the root is where it is. */
export function certificateLine(c: RootCertificateInfo | undefined): HTMLElement | null {
  if (!c) return null;
  const text =
    c.kind === 'zero'
      ? `Exact root: the relevance is 0 at t = ${fmt(c.tZero)}, inside the piece of the region where it is affine (the piece ends at t = ${fmt(c.tMax)}).`
      : c.kind === 'boundary'
        ? `Stopped at the piece's boundary (t = ${fmt(c.tMax)}) where ${c.active ?? 'a constraint'}; the relevance would reach 0 only at t = ${fmt(c.tZero)}, so part of it stays unresolved.`
        : 'The relevance does not fall along the rule\'s line: the root stays at the input and the whole relevance stays unresolved.';
  return h('p', { class: `certificate ${c.kind}`, 'data-certificate': c.kind }, h('strong', {}, 'Polytope certificate. '), text);
}

export function distance(a: number[], b: number[]): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] - b[i]) ** 2;
  return Math.sqrt(s);
}

