// The hover tooltip of the network view: a unit's (or bin's) exact relevance
// and activation with its root's checks as the engine decided them, or a
// flow's exact value.

import type { ExplainResult } from '../extension/protocol';
import { fmt, h } from './dom';
import { layerName, type ViewEdge, type ViewNode } from './model';

function span(n: ViewNode): string {
  return n.isBin ? `${n.start}–${n.end - 1}` : String(n.start);
}

export class Tooltip {
  readonly element = h('div', { class: 'tooltip', hidden: true, role: 'tooltip' });

  hide(): void {
    this.element.hidden = true;
  }

  /** Shows the tooltip for a node or a flow of a pane drawing `result`; hides it when neither is given. */
  show(result: ExplainResult | undefined, node: ViewNode | null, edge: ViewEdge | null, ev: MouseEvent): void {
    const t = this.element;
    if (!node && !edge) {
      t.hidden = true;
      return;
    }
    if (!result) return;
    const lines: (string | Node)[] = [];
    if (node) {
      const name = layerName(result, node.layer);
      lines.push(h('b', {}, node.isBin ? `${name} · units ${node.start}–${node.end - 1}` : `${name} · unit ${node.start}`));
      lines.push(h('div', {}, node.isBin ? 'Σ relevance ' : 'relevance ', node.relevance === null ? 'not computed' : fmt(node.relevance)));
      lines.push(h('div', {}, node.isBin ? 'mean activation ' : 'activation ', fmt(node.activation), node.off ? ' (off)' : ''));
      const info = !node.isBin && node.layer >= 1 ? result.roots[node.layer - 1]?.[node.start] : undefined;
      if (info && info.unit === node.start && info.checks) {
        const c = info.checks;
        lines.push(h('div', {}, `root: ${c.relevanceZero ? '✓' : '✗'} R≈0  ${c.inRegion ? '✓' : '✗'} region  ${c.inDomain ? '✓' : '✗'} domain`));
      }
      if (node.explained) lines.push(h('div', {}, 'the explained output'));
      lines.push(h('div', { class: 'muted' }, 'exact values: click the unit'));
    } else if (edge) {
      lines.push(h('b', {}, `${layerName(result, edge.source.layer)} ${span(edge.source)} → ${layerName(result, edge.target.layer)} ${span(edge.target)}`));
      lines.push(h('div', {}, 'flow ', fmt(edge.value)));
    }
    t.replaceChildren(...lines);
    t.hidden = false;
    const x = Math.min(window.innerWidth - 280, ev.clientX + 14);
    t.style.left = `${x + window.scrollX}px`;
    t.style.top = `${ev.clientY + 14 + window.scrollY}px`;
  }
}
