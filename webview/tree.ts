// The root tree of a full-backward result and its walker panel (breadcrumb, the
// current entry with its numbers, checks and root bars, and the roots one level up
// at this point). A tree is a TreeSource: inline (RootTree: a whole tree in the
// result, as the command line and older stored runs have it) or paged (PagedTree:
// the result carries the top level and the host serves every other node's page
// when the user opens it, extension/protocol/pages.ts).

import { treePageKey, type ExplainResult, type RootChecks, type TreeEntry, type TreeEntrySummary, type TreePage } from '../extension/protocol';
import type { Palette } from './colors';
import { h, num } from './dom';
import type { PageClient } from './pages';
import { certificateLine, checkBadges, distance, rootBars, row } from './roots';

export function treeKey(path: readonly string[]): string {
  return path.join('/');
}

/** A part of the tree: there, being asked for, or not available (with why). */
export type TreePart<T> = { status: 'ok'; value: T } | { status: 'loading' } | { status: 'error'; message: string };

export interface TreeSource {
  /** The entry at a path (not for the top, []). */
  entry(path: readonly string[]): TreePart<TreeEntry>;
  /** The entries one level up at a path ([] = the roots at the input). */
  children(path: readonly string[]): TreePart<TreeEntrySummary[]>;
  /** Whether a path may be shown (a restored path that no longer exists is not). */
  has(path: readonly string[]): boolean;
}

export class RootTree implements TreeSource {
  readonly byKey = new Map<string, TreeEntry>();
  readonly kids = new Map<string, TreeEntry[]>();
  constructor(tree: TreeEntry[]) {
    for (const e of tree) {
      this.byKey.set(treeKey(e.path), e);
      const parent = treeKey(e.path.slice(0, -2));
      let list = this.kids.get(parent);
      if (!list) this.kids.set(parent, (list = []));
      list.push(e);
    }
  }
  childrenOf(path: readonly string[]): TreeEntry[] {
    return this.kids.get(treeKey(path)) ?? [];
  }
  entry(path: readonly string[]): TreePart<TreeEntry> {
    const e = this.byKey.get(treeKey(path));
    return e ? { status: 'ok', value: e } : { status: 'error', message: 'This entry is not in the tree.' };
  }
  children(path: readonly string[]): TreePart<TreeEntrySummary[]> {
    return { status: 'ok', value: this.childrenOf(path) };
  }
  has(path: readonly string[]): boolean {
    return path.length === 0 || this.byKey.has(treeKey(path));
  }
}

/** A paged tree: the top level from the result, every other node's page from the host on demand. */
export class PagedTree implements TreeSource {
  constructor(
    private readonly run: string | null,
    private readonly top: TreeEntrySummary[],
    private readonly pages: PageClient,
  ) {}
  private page(path: readonly string[]): TreePart<TreePage> {
    const p = this.pages.get(this.run, treePageKey(path));
    return p.status === 'ok' ? { status: 'ok', value: p.value as TreePage } : p;
  }
  entry(path: readonly string[]): TreePart<TreeEntry> {
    const p = this.page(path);
    if (p.status !== 'ok') return p;
    return p.value.entry ? { status: 'ok', value: p.value.entry } : { status: 'error', message: 'This page has no entry.' };
  }
  children(path: readonly string[]): TreePart<TreeEntrySummary[]> {
    if (path.length === 0) return { status: 'ok', value: this.top };
    const p = this.page(path);
    return p.status === 'ok' ? { status: 'ok', value: p.value.children } : p;
  }
  has(path: readonly string[]): boolean {
    return path.length % 2 === 0;
  }
}

const sources = new WeakMap<ExplainResult, TreeSource>();

/** Whether a result has a root tree (inline or paged). */
export function hasTree(result: ExplainResult): boolean {
  return result.tree !== null || !!result.paged?.tree;
}

/** The tree of a result (built once per result). */
export function treeSourceOf(result: ExplainResult, pages: PageClient): TreeSource | null {
  let s = sources.get(result);
  if (s) return s;
  if (result.tree) s = new RootTree(result.tree);
  else if (result.paged?.tree) s = new PagedTree(result.paged.run, result.paged.tree.top, pages);
  else return null;
  sources.set(result, s);
  return s;
}

/** The top-level entries (path [layer1, root_j]) of a result's tree, inline or paged. */
export function topEntries(result: ExplainResult): TreeEntrySummary[] {
  if (result.tree) return result.tree.filter((e) => e.path.length === 2);
  return result.paged?.tree?.top ?? [];
}

/** A tree entry's checks, as the engine decided them (the webview never decides a check). */
export function treeChecks(e: TreeEntrySummary): RootChecks {
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
export function treePanel(tree: TreeSource, path: string[], truncated: boolean, palette: Palette, navigate: (path: string[]) => void, explained?: ExplainedUnit): HTMLElement {
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
  const part = path.length ? tree.entry(path) : undefined;
  const entry = part?.status === 'ok' ? part.value : undefined;
  if (part?.status === 'loading') panel.append(h('p', { class: 'muted tree-loading' }, 'Loading this entry…'));
  else if (part?.status === 'error') panel.append(h('p', { class: 'fail-text tree-error' }, part.message));
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
  const kidsPart = tree.children(path);
  const kids = kidsPart.status === 'ok' ? kidsPart.value : [];
  if (kidsPart.status === 'loading') {
    if (path.length) panel.append(h('p', { class: 'muted tree-loading' }, 'Loading the roots above this one…'));
  } else if (kidsPart.status === 'error') {
    if (!part || part.status !== 'error') panel.append(h('p', { class: 'fail-text tree-error' }, kidsPart.message));
  } else if (kids.length) {
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
