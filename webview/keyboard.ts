// Keyboard navigation of the network view (arrows move between units and
// layers, Enter centres or expands, Escape clears the selection, + − 0 zoom,
// e expands, / focuses the search) and the unit search ("2:15", "layer2 15",
// "L2.15", or "15").

import type { NetworkView } from './model';
import type { NetworkPanel } from './panes';
import type { Selection } from './state';

export interface Navigator {
  readonly network: NetworkPanel;
  selection(): Selection | null;
  select(pane: number, layer: number, unit: number, center: boolean): void;
  clearSelection(): void;
  toggleExpand(layer: number): void;
  /** Draws a binned layer unit by unit (keeps the zoom). */
  expand(layer: number): void;
  focusSearch(): void;
}

export function onKey(ev: KeyboardEvent, nav: Navigator): void {
  const target = ev.target as HTMLElement | null;
  const typing = target && (target.tagName === 'INPUT' || target.tagName === 'SELECT' || target.tagName === 'TEXTAREA');
  if (typing) return;
  if (ev.key === '/') {
    ev.preventDefault();
    nav.focusSearch();
    return;
  }
  const { network } = nav;
  if (!network.panes.length) return;
  const sel = nav.selection();
  // A selection may name the second pane of a comparison that is no longer drawn.
  const pane = Math.min(sel?.pane ?? 0, network.panes.length - 1);
  const view = network.panes[pane].view;
  const move = (layer: number, index: number) => {
    const l = view.layers[Math.max(0, Math.min(view.layers.length - 1, layer))];
    const n = l.nodes[Math.max(0, Math.min(l.nodes.length - 1, index))];
    nav.select(pane, n.layer, n.start, false);
    ev.preventDefault();
  };
  const cur = sel ? network.nodeFor(pane, sel.layer, sel.unit) : undefined;
  switch (ev.key) {
    case 'ArrowDown':
    case 'ArrowUp':
      if (!cur) move(0, 0);
      else move(cur.layer, cur.index + (ev.key === 'ArrowDown' ? 1 : -1));
      break;
    case 'ArrowLeft':
    case 'ArrowRight': {
      if (!cur) {
        move(0, 0);
        break;
      }
      const to = cur.layer + (ev.key === 'ArrowRight' ? 1 : -1);
      if (to < 0 || to >= view.layers.length) break;
      const from = view.layers[cur.layer].nodes.length;
      const rel = from > 1 ? cur.index / (from - 1) : 0.5;
      move(to, Math.round(rel * (view.layers[to].nodes.length - 1)));
      break;
    }
    case 'Enter':
      if (cur?.isBin) nav.toggleExpand(cur.layer);
      else if (cur) network.centerOn(pane, cur);
      break;
    case 'Escape':
      nav.clearSelection();
      break;
    case '+':
    case '=':
      network.zoomBy(1.25);
      break;
    case '-':
      network.zoomBy(0.8);
      break;
    case '0':
      network.fit();
      break;
    case 'e':
      if (cur) nav.toggleExpand(cur.layer);
      break;
  }
}

/** A search query as layer and unit; a bare unit number means a unit of `defaultLayer`. Null when it is not a query. */
export function parseUnitQuery(text: string, defaultLayer: number): { layer: number; unit: number } | null {
  const s = text.trim();
  const m = /^(?:l(?:ayer)?\s*)?(\d+)\s*[:.,\s]\s*(\d+)$/i.exec(s);
  if (m) return { layer: Number(m[1]), unit: Number(m[2]) };
  const only = /^(\d+)$/.exec(s);
  return only ? { layer: defaultLayer, unit: Number(only[1]) } : null;
}

/**
 * Finds a unit (layer 0 is the input; a bare number is a unit of the selected layer, else of the input),
 * expands its layer when it is binned, selects and centres it. Returns the status line to show and
 * whether the query found a unit.
 */
export function searchUnit(text: string, nav: Navigator): { found: boolean; status: string } {
  const view: NetworkView | undefined = nav.network.panes[0]?.view;
  const sel = nav.selection();
  const q = parseUnitQuery(text, sel?.layer ?? 0);
  if (!view || !q) return { found: false, status: `Search "${text.trim()}": write layer:unit, e.g. 1:3 (layer 0 is the input).` };
  const { layer, unit } = q;
  const l = view.layers[layer];
  if (!l || unit >= l.width) return { found: false, status: l ? `${l.name} has ${l.width} units (0–${l.width - 1}).` : `There is no layer ${layer} (0–${view.layers.length - 1}).` };
  if (l.binSize > 1) nav.expand(layer);
  nav.select(nav.selection()?.pane ?? 0, layer, unit, true);
  return { found: true, status: `Found ${l.name} unit ${unit}.` };
}
