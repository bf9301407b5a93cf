// The root tree of a full-backward result: entries indexed by their path, and
// the walker panel (breadcrumb, the current entry with its numbers, checks and
// root bars, and the roots one level up at this point).

import type { RootChecks, TreeEntry } from '../extension/protocol';
import type { Palette } from './colors';
import { h, num } from './dom';
import { certificateLine, checkBadges, distance, rootBars, row } from './roots';

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

/**
 * The top layer's key and the explained output's real index: the engine keys
 * the explained output's root `root_0` (as the research code does), while the
 * network shows the output by its index.
 */
export interface ExplainedUnit {
  layer: string;
  row: number;
}

/** The real unit index of a path step (layer key, `root_<n>`). */
export function stepUnit(layer: string, root: string, explained?: ExplainedUnit): number {
  const n = Number(root.replace('root_', ''));
  return explained && layer === explained.layer ? explained.row + n : n;
}

/** A step named by the layer being decomposed and its unit's real index. */
function stepLabel(a: string, b: string, explained?: ExplainedUnit): string {
  const top = explained && a === explained.layer;
  return `${a} · unit ${stepUnit(a, b, explained)}${top ? ' (explained output)' : ''}`;
}

/** The root-tree walker: breadcrumb, the current entry (if any) and the roots one level up at this point. */
export function treePanel(tree: RootTree, path: string[], truncated: boolean, palette: Palette, navigate: (path: string[]) => void, explained?: ExplainedUnit): HTMLElement {
  const panel = h('section', { class: 'tree-panel', 'data-path': treeKey(path) });
  panel.append(h('h3', {}, 'Root tree (full-backward)'));
  const crumbs = h('nav', { class: 'breadcrumb', 'aria-label': 'root tree path' });
  const top = h('button', { class: 'crumb', 'data-path': '' }, 'top');
  top.addEventListener('click', () => navigate([]));
  crumbs.append(top);
  for (let i = 0; i + 1 < path.length; i += 2) {
    const p = path.slice(0, i + 2);
    crumbs.append(h('span', { class: 'sep' }, '›'));
    const b = h('button', { class: 'crumb', 'data-path': treeKey(p) }, stepLabel(path[i], path[i + 1], explained));
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
    panel.append(rootBars(entry.input, entry.root, palette, `root of ${stepLabel(path[path.length - 2], path[path.length - 1], explained)}`, entry.checks.inDomain));
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
        h('td', {}, h('button', { class: 'link' }, `unit ${stepUnit(k.path[k.path.length - 2], k.path[k.path.length - 1], explained)}`)),
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
