// The network view panel: one pane per PaneSpec (one result, or two side by
// side), each drawn by network.ts with one colour scale per layer shared by
// all panes, so a comparison compares colours honestly. Owns the drawn panes
// and the operations on all of them: focus, zoom, fit, centring.

import type { Palette } from './colors';
import type { PaneSpec } from './compare';
import { h } from './dom';
import { buildNetworkView, findNode, type NetworkView, type ViewNode, type ViewOptions } from './model';
import { differenceLegend, renderPane, RELEVANCE_LEGEND, type PaneCallbacks, type PaneRender } from './network';
import type { Selection } from './state';

export class NetworkPanel {
  readonly element = h('div', { class: 'panes' });
  panes: PaneRender[] = [];
  specs: PaneSpec[] = [];

  constructor() {
    this.showMessage('Waiting for a result…');
  }

  get views(): NetworkView[] {
    return this.panes.map((p) => p.view);
  }

  /** Draws the panes; `transform` is the saved zoom of the first pane (applied to all). */
  draw(specs: PaneSpec[], opts: ViewOptions, palette: Palette, cb: PaneCallbacks, transform: { k: number; x: number; y: number } | null): NetworkView[] {
    this.specs = specs;
    const views = specs.map((s) => buildNetworkView(s.result, opts, s.relevance));
    const depth = Math.max(...views.map((v) => v.layers.length));
    const maxAbs = Array.from({ length: depth }, (_, l) => Math.max(0, ...views.map((v) => v.layers[l]?.maxAbs ?? 0)));
    const el = this.element;
    el.replaceChildren();
    el.classList.toggle('two', specs.length > 1);
    // Two networks that would shrink below readable size side by side are drawn one above the other, each at full size.
    const widest = Math.max(...views.map((v) => v.width));
    el.classList.toggle('stacked', specs.length > 1 && (el.clientWidth || 800) / 2 < widest * 0.8);
    // All pane containers first, so each measures its final width before drawing.
    const bodies = specs.map((s, i) => {
      const body = h('div', { class: 'pane-body' });
      const wrap = h('section', { class: 'pane', 'data-pane': i }, h('h2', { class: 'pane-title', title: s.label }, s.label), body);
      el.append(wrap);
      if (!views[i].flowsAvailable) wrap.append(h('p', { class: 'muted note' }, 'This result carries no relevance flows: only unit colours are drawn.'));
      return body;
    });
    this.panes = specs.map((s, i) => renderPane(bodies[i], i, views[i], palette, maxAbs, s.label, cb, s.difference ? differenceLegend(s.difference.left, s.difference.right) : RELEVANCE_LEGEND));
    if (transform) for (const p of this.panes) p.setTransform(transform);
    return views;
  }

  /** Replaces the panes with a line of text (no result). */
  showMessage(text: string): void {
    this.clearPanes();
    this.element.replaceChildren(h('p', { class: 'empty' }, text));
  }

  /** Replaces the panes with another panel (the audit). */
  showPanel(panel: HTMLElement): void {
    this.clearPanes();
    this.element.replaceChildren(panel);
  }

  private clearPanes(): void {
    this.panes = [];
    this.specs = [];
    this.element.classList.remove('two', 'stacked');
  }

  /** The node drawn for a unit in a pane (the first pane when that one is not drawn). */
  nodeFor(pane: number, layer: number, unit: number): ViewNode | undefined {
    const p = this.panes[pane] ?? this.panes[0];
    return p ? findNode(p.view, layer, unit) : undefined;
  }

  /** Highlights the selection in every pane; returns its node in the selected pane. */
  focus(sel: Selection | null): ViewNode | undefined {
    for (const p of this.panes) p.setFocus(null);
    if (!sel) return undefined;
    const node = this.nodeFor(sel.pane, sel.layer, sel.unit);
    if (node) for (const p of this.panes) p.setFocus(findNode(p.view, sel.layer, sel.unit) ?? null);
    return node;
  }

  centerOn(pane: number, node: ViewNode): void {
    this.panes[pane]?.centerOn(node);
  }

  fit(): void {
    this.panes.forEach((p) => p.resetZoom());
  }

  zoomBy(factor: number): void {
    this.panes.forEach((p) => p.zoomBy(factor));
  }

  get svgs(): SVGSVGElement[] {
    return this.panes.map((p) => p.svg);
  }
}
