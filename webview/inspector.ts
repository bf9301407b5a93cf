// The root inspector: for a selected unit, its root point next to the layer
// input (per-dimension bars), the relevance at input and at the root, what it
// passed on, the Taylor residual, the distance, and the three checks as badges.
// For full-backward results it also walks the root tree with a breadcrumb.

import { scaleBand, scaleLinear, select } from 'd3';
import type { ExplainResult, RootCertificateInfo, RootChecks, RootInfo, TreeEntry } from '../extension/protocol';
import type { Palette } from './colors';
import { badge, fmt, h, num, type BadgeState } from './dom';
import { layerName } from './model';

const MAX_BARS = 40;

/** Per-dimension bars of the layer input against the root (the dimensions that moved most when there are many). */
export function rootBars(input: number[], root: number[] | null, palette: Palette, caption: string): HTMLElement {
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
  const x = scaleBand<number>().domain(dims).range([24, W - 4]).paddingInner(0.2);
  const y = scaleLinear().domain([lo, hi]).range([H - 14, 6]).nice();
  const svg = select(wrap).append('svg').attr('width', W).attr('height', H).attr('viewBox', `0 0 ${W} ${H}`).attr('class', 'bars');
  const bw = x.bandwidth() / 2;
  // A negative root coordinate is only a problem where the layer input lives in [0, ∞) (ReLU outputs).
  const nonNegativeDomain = input.every((v) => v >= 0);
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
    if (root) bar(root[i], bw, nonNegativeDomain && root[i] < 0 ? palette.fail : palette.focus, 'bar-root');
  }
  svg.append('line').attr('x1', 24).attr('x2', W - 4).attr('y1', y(0)).attr('y2', y(0)).attr('stroke', palette.foreground).attr('stroke-width', 0.5);
  svg.append('text').attr('x', 2).attr('y', y(hi) + 8).attr('font-size', 9).attr('fill', palette.muted).text(fmt(hi));
  svg.append('text').attr('x', 2).attr('y', y(lo)).attr('font-size', 9).attr('fill', palette.muted).text(fmt(lo));
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

function row(label: string, value: HTMLElement | string, hint?: string): HTMLElement {
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

/** The panel for one unit of a layer ≥ 1 (RootInfo), or an input unit. */
export function unitPanel(result: ExplainResult, layer: number, unit: number, palette: Palette): HTMLElement {
  const panel = h('section', { class: 'unit-panel', 'data-layer': layer, 'data-unit': unit });
  const act = result.activations[layer]?.[unit];
  const rel = result.relevance[layer]?.[unit] ?? null;
  panel.append(h('h3', {}, `${layerName(result, layer)} · unit ${unit}`));
  panel.append(row('relevance', num(rel)), row('activation', num(act)));
  if (layer >= 1) panel.append(row('pre-activation', num(result.preActivations[layer - 1]?.[unit])));
  if (layer === 0) {
    if (result.baselines) {
      panel.append(row('gradient', num(result.baselines.gradient[unit])), row('gradient × input', num(result.baselines.gradientTimesInput[unit])));
    }
    return panel;
  }
  const info: RootInfo | undefined = result.roots[layer - 1]?.find((r) => r.unit === unit) ?? result.roots[layer - 1]?.[unit];
  if (!info || info.unit !== unit) {
    panel.append(h('p', { class: 'muted' }, result.method === 'full-backward' ? 'This result keeps its roots in the root tree below.' : 'No root was computed for this unit (it carries no relevance).'));
    return panel;
  }
  const input = result.activations[layer - 1];
  panel.append(h('h4', {}, 'Root point'));
  const hasRoot = (info as RootInfo & { hasRoot?: boolean }).hasRoot ?? info.root !== null;
  if (!hasRoot) panel.append(h('p', { class: 'fail-text no-root' }, 'No root: the rule\'s search direction is orthogonal to the weights (v·w = 0), so this unit\'s relevance is lost.'));
  else if (!info.root) panel.append(h('p', { class: 'muted' }, 'The root point itself was left out of the result to keep it small; its numbers follow.'));
  else panel.append(rootBars(input, info.root, palette, `root of ${layerName(result, layer)} unit ${unit} in the space of ${layerName(result, layer - 1)}`));
  panel.append(
    h(
      'div',
      { class: 'kvs' },
      row('R at input', num(info.relevanceAtInput), 'R_j at the layer input: what the root should remove'),
      row('R at root (unresolved)', num(info.relevanceAtRoot), 'R_j evaluated at the root; ideally 0'),
      row('passed on', num(info.passedOn), 'Σ_i relevance passed from this unit to the layer input'),
      row('Taylor residual', num(info.taylorResidual), 'R_j(a) − R_j(root) − ∇R_j(root)·(a − root)'),
      row('distance to input', num(info.distance), '‖a − root‖'),
    ),
  );
  panel.append(checkBadges(info.checks));
  const cert = certificateLine(info.certificate);
  if (cert) panel.append(cert);
  return panel;
}

// ── root tree ─────────────────────────────────────────────────────────────

export function treeKey(path: readonly string[]): string {
  return path.join('/');
}

export class RootTree {
  readonly byKey = new Map<string, TreeEntry>();
  readonly children = new Map<string, TreeEntry[]>();
  constructor(tree: TreeEntry[]) {
    for (const e of tree) {
      this.byKey.set(treeKey(e.path), e);
      const parent = treeKey(e.path.slice(0, -2));
      let list = this.children.get(parent);
      if (!list) this.children.set(parent, (list = []));
      list.push(e);
    }
  }
  childrenOf(path: readonly string[]): TreeEntry[] {
    return this.children.get(treeKey(path)) ?? [];
  }
}

/** A tree entry's checks, as the engine decided them (the webview never decides a check). */
export function treeChecks(e: TreeEntry): RootChecks {
  return e.checks;
}

function stepLabel(a: string, b: string): string {
  return `${a} · ${b.replace('root_', 'root ')}`;
}

/** The root-tree walker: breadcrumb, the current entry (if any) and the roots one level up at this point. */
export function treePanel(tree: RootTree, path: string[], truncated: boolean, palette: Palette, navigate: (path: string[]) => void): HTMLElement {
  const panel = h('section', { class: 'tree-panel', 'data-path': treeKey(path) });
  panel.append(h('h3', {}, 'Root tree (full-backward)'));
  const crumbs = h('nav', { class: 'breadcrumb', 'aria-label': 'root tree path' });
  const top = h('button', { class: 'crumb', 'data-path': '' }, 'top');
  top.addEventListener('click', () => navigate([]));
  crumbs.append(top);
  for (let i = 0; i + 1 < path.length; i += 2) {
    const p = path.slice(0, i + 2);
    crumbs.append(h('span', { class: 'sep' }, '›'));
    const b = h('button', { class: 'crumb', 'data-path': treeKey(p) }, stepLabel(path[i], path[i + 1]));
    if (i + 2 === path.length) b.setAttribute('aria-current', 'step');
    b.addEventListener('click', () => navigate(p));
    crumbs.append(b);
  }
  panel.append(crumbs);
  const entry = path.length ? tree.byKey.get(treeKey(path)) : undefined;
  if (entry) {
    panel.append(
      h(
        'div',
        { class: 'kvs' },
        row('R at input', num(entry.relevanceAtInput), 'R_j at the input of this call'),
        row('unresolved (R at root)', num(entry.relevanceAtRoot), 'the upper relevance evaluated at the root; ideally 0'),
        row('Σ relevance passed', num(entry.passedOn)),
        row('Taylor residual', num(entry.taylorResidual)),
        row('distance to input', num(distance(entry.input, entry.root))),
        row('output at root / input', h('span', {}, num(entry.outputAtRoot), ' / ', num(entry.outputAtInput))),
        row('z_j at root', num(entry.preActivationAtRoot)),
      ),
    );
    panel.append(checkBadges(treeChecks(entry)));
    const cert = certificateLine(entry.certificate);
    if (cert) panel.append(cert);
    if (entry.gradAtRootIsZero) panel.append(h('p', { class: 'fail-text' }, 'The gradient at this root is zero: its relevance is lost.'));
    panel.append(rootBars(entry.input, entry.root, palette, `${stepLabel(path[path.length - 2], path[path.length - 1])}`));
  }
  const kids = tree.childrenOf(path);
  if (kids.length) {
    const nextLayer = kids[0].path[kids[0].path.length - 2];
    panel.append(h('h4', {}, path.length ? `Decomposition of the layers above at this root: ${nextLayer}` : `Roots of ${nextLayer} at the input`));
    const table = h('table', { class: 'tree-children' });
    table.append(h('thead', {}, h('tr', {}, h('th', {}, 'root'), h('th', {}, 'R'), h('th', {}, 'unresolved'), h('th', { title: 'Σ relevance passed on' }, 'Σ passed'), h('th', { title: 'R ≈ 0 at root, same region, inside domain' }, 'checks'))));
    const body = h('tbody');
    for (const k of kids) {
      const c = treeChecks(k);
      const ok = c.relevanceZero && c.inRegion && c.inDomain;
      const tr = h(
        'tr',
        { class: `tree-child ${ok ? 'ok' : 'bad'}`, 'data-path': treeKey(k.path), tabindex: 0 },
        h('td', {}, h('button', { class: 'link' }, `unit ${k.unit}`)),
        h('td', {}, num(k.relevanceAtInput)),
        h('td', {}, num(k.relevanceAtRoot)),
        h('td', {}, num(k.passedOn)),
        h('td', { class: 'mini-checks' }, [c.relevanceZero, c.inRegion, c.inDomain].map((b) => (b ? '✓' : '✗')).join(' ')),
      );
      const go = () => navigate(k.path);
      tr.addEventListener('click', go);
      tr.addEventListener('keydown', (ev) => {
        if (ev.key === 'Enter') go();
      });
      body.append(tr);
    }
    table.append(body);
    panel.append(table);
  } else if (path.length) {
    panel.append(h('p', { class: 'muted' }, truncated ? 'No deeper entries kept (the tree was truncated).' : 'The top of the network: nothing above this root.'));
  } else {
    panel.append(h('p', { class: 'muted' }, 'This result has no tree entries.'));
  }
  return panel;
}
