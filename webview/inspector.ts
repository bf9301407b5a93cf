// The unit/root inspector: for a selected unit, its root point next to the layer
// input, the relevance at input and at the root, what it passed on, the Taylor
// residual, the distance and the three checks as badges; for a bin, its sum and
// largest units; the flows into and out of the selection; and, for
// full-backward results, the root-tree walker. `renderInspector` assembles the
// panel for what is selected.

import type { ExplainResult, RootInfo } from '../extension/protocol';
import type { Palette } from './colors';
import { describe, type PaneSpec } from './compare';
import { h, num } from './dom';
import { layerName, type NetworkView, type ViewEdge, type ViewNode } from './model';
import { certificateLine, checkBadges, rootBars, row } from './roots';
import type { Selection } from './state';
import type { PageClient } from './pages';
import { hasTree, treePanel, treeSourceOf } from './tree';

/** The panel for one unit of a layer ≥ 1 (RootInfo), or an input unit. */
export function unitPanel(result: ExplainResult, layer: number, unit: number, palette: Palette, pages?: PageClient): HTMLElement {
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
  else if (!info.root) {
    // A wide layer's root points are a page of the stored run: asked for when a unit is inspected.
    const page = pages && result.paged?.roots.includes(layer) && input.length ? pages.get(result.paged.run, `roots:${layer}`) : null;
    const point = page?.status === 'ok' ? ((page.value as (number[] | null)[])[result.roots[layer - 1].indexOf(info)] ?? null) : null;
    if (point) panel.append(rootBars(input, point, palette, `root of ${layerName(result, layer)} unit ${unit} in the space of ${layerName(result, layer - 1)}`, info.checks?.inDomain));
    else if (page?.status === 'loading') panel.append(h('p', { class: 'muted root-loading' }, 'Loading the root point…'));
    else panel.append(h('p', { class: 'muted' }, `The root point itself was left out of the result to keep it small${page?.status === 'error' ? ` (${page.message})` : ''}; its numbers follow.`));
  } else panel.append(rootBars(input, info.root, palette, `root of ${layerName(result, layer)} unit ${unit} in the space of ${layerName(result, layer - 1)}`, info.checks?.inDomain));
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


/** What the inspector's links and buttons ask for. */
export interface InspectorActions {
  /** Select a unit in the selected pane and centre the view on it. */
  selectUnit(layer: number, unit: number): void;
  toggleExpand(layer: number): void;
  /** Draw a binned layer unit by unit and select one of its units. */
  expandAndSelect(layer: number, unit: number): void;
  navigateTree(path: string[]): void;
}

export interface InspectorInput {
  specs: PaneSpec[];
  /** The drawn view of each pane. */
  views: NetworkView[];
  selection: Selection | null;
  /** The selected node as drawn in the selected pane (undefined when it is not drawn). */
  node: ViewNode | undefined;
  /** The root-tree entry shown (a path of layer/root keys; [] = the top). */
  treePath: string[];
  palette: Palette;
  /** Pages of stored runs (root-tree nodes, root points of wide layers), asked from the host. */
  pages: PageClient;
}

function binPanel(spec: PaneSpec, node: ViewNode, actions: InspectorActions): HTMLElement {
  const r = spec.result;
  const rel = (spec.relevance ?? r.relevance)[node.layer];
  const panel = h('section', { class: 'bin-panel', 'data-layer': node.layer, 'data-start': node.start, 'data-end': node.end });
  panel.append(h('h3', {}, `${layerName(r, node.layer)} · units ${node.start}–${node.end - 1}`));
  panel.append(h('div', { class: 'kv' }, h('span', { class: 'k' }, 'Σ relevance'), num(node.relevance)), h('div', { class: 'kv' }, h('span', { class: 'k' }, 'mean activation'), num(node.activation)));
  const expand = h('button', { class: 'tool expand', type: 'button' }, 'Expand this layer');
  expand.addEventListener('click', () => actions.toggleExpand(node.layer));
  panel.append(expand);
  if (rel) {
    const units = Array.from({ length: node.end - node.start }, (_, i) => node.start + i).sort((a, b) => Math.abs(rel[b]) - Math.abs(rel[a]));
    const list = h('ol', { class: 'bin-units' });
    for (const u of units.slice(0, 12)) {
      const b = h('button', { class: 'link', type: 'button' }, `unit ${u}`);
      b.addEventListener('click', () => actions.expandAndSelect(node.layer, u));
      list.append(h('li', {}, b, ' ', num(rel[u])));
    }
    panel.append(h('h4', {}, 'Largest |relevance| in this bin'), list);
  }
  return panel;
}

/** The drawn flows into and out of a node, as links to the other end. */
function flowList(result: ExplainResult, view: NetworkView, node: ViewNode, actions: InspectorActions): HTMLElement {
  const into = view.edges.filter((e) => e.target === node).sort((a, b) => Math.abs(b.value) - Math.abs(a.value));
  const out = view.edges.filter((e) => e.source === node).sort((a, b) => Math.abs(b.value) - Math.abs(a.value));
  const rest = view.rests.find((r) => r.node === node);
  const sec = h('section', { class: 'flow-list' });
  const item = (e: ViewEdge, other: ViewNode) => {
    const b = h('button', { class: 'link', type: 'button' }, other.isBin ? `${layerName(result, other.layer)} ${other.start}–${other.end - 1}` : `${layerName(result, other.layer)} ${other.start}`);
    b.addEventListener('click', () => actions.selectUnit(other.layer, other.start));
    return h('li', {}, b, ' ', num(e.value));
  };
  if (into.length) sec.append(h('h4', {}, `Flows into this unit (top ${into.length})`), h('ol', { class: 'flows-in' }, ...into.map((e) => item(e, e.source))));
  if (rest) sec.append(h('p', { class: 'muted rest-note' }, `… and ${rest.count} more, summing to `, num(rest.value)));
  if (out.length) sec.append(h('h4', {}, `Flows out of this unit (drawn: ${out.length})`), h('ol', { class: 'flows-out' }, ...out.slice(0, 10).map((e) => item(e, e.target))));
  return sec;
}

/** Fills the inspector for the selection (or a hint), then the root tree of the first full-backward result on screen. */
export function renderInspector(container: HTMLElement, input: InspectorInput, actions: InspectorActions): void {
  const { specs, views, selection: sel, node, palette } = input;
  container.replaceChildren();
  const spec = sel ? specs[Math.min(sel.pane, specs.length - 1)] : specs[0];
  if (sel) {
    if (node) {
      if (node.isBin) container.append(binPanel(spec, node, actions));
      else {
        const shown = new Set<ExplainResult>();
        for (const s of specs) {
          if (shown.has(s.result)) continue;
          shown.add(s.result);
          const panel = unitPanel(s.result, node.layer, node.start, palette, input.pages);
          if (specs.length > 1) panel.prepend(h('div', { class: 'pane-tag' }, s.label));
          container.append(panel);
        }
        container.append(flowList(specs[0].result, views[sel.pane] ?? views[0], node, actions));
      }
    }
  } else {
    container.append(h('p', { class: 'muted hint' }, 'Click a unit (or use the arrow keys in the network) to inspect its root. Bins group the units of a wide layer: expand them from the column header.'));
  }
  // Every result on screen with a root tree gets its walker (the selected pane's first), labelled by its run when there are two.
  const withTrees = [...new Set([spec, ...specs].filter((s): s is PaneSpec => !!s && hasTree(s.result)).map((s) => s.result))];
  for (const withTree of withTrees) {
    const tree = treeSourceOf(withTree, input.pages);
    if (!tree) continue;
    const path = input.treePath.length && !tree.has(input.treePath) ? [] : input.treePath;
    const L = withTree.activations.length - 1;
    const explained = { layer: `layer${L}`, row: withTree.explainedRow };
    const panel = treePanel(tree, path, withTree.treeTruncated, palette, (p) => actions.navigateTree(p), explained);
    if (specs.length > 1) panel.prepend(h('div', { class: 'pane-tag tree-owner' }, `Root tree of ${specs.find((s) => s.result === withTree)?.label ?? describe(withTree)}`));
    container.append(panel);
  }
}
