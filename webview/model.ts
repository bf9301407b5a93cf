// The view model of one network pane: which nodes are drawn (units or bins of a
// wide layer), where, with which relevance, and which flows connect them (top-k
// per upper node, the rest aggregated). Pure data, no DOM: the renderer draws it,
// tests and the bench can build it without a browser.

import { DEFAULT_TOP_K, type ExplainResult } from '../extension/protocol';
import { flowsOf, type NormalFlows } from './flows';

export interface ViewOptions {
  /** Flows drawn per upper node (the host's dtdLens.topK when it sends one). */
  topK: number;
  /** A layer wider than this is drawn as bins unless expanded. */
  maxUnits: number;
  /** Layers (index into activations[]) drawn unit by unit even when wide. */
  expanded: ReadonlySet<number>;
  /** Rows per sub-column of an expanded wide layer. */
  maxRows: number;
}

export const defaultViewOptions: ViewOptions = { topK: DEFAULT_TOP_K, maxUnits: 64, expanded: new Set(), maxRows: 64 };

export interface ViewNode {
  /** "l:u" for a unit, "l:b<start>" for a bin. */
  id: string;
  layer: number;
  /** Units covered: [start, end). A unit node has end = start + 1. */
  start: number;
  end: number;
  isBin: boolean;
  /** Position in its column (0-based) among drawn nodes. */
  index: number;
  /** Sum over the covered units; null when the decomposition gave no relevance for this layer. */
  relevance: number | null;
  /** Activation (mean over a bin). */
  activation: number;
  /** Every covered unit is inactive (activation ≤ 0) in a hidden or output layer, or exactly 0 at the input. */
  off: boolean;
  /** The explained output unit. */
  explained: boolean;
  x: number;
  y: number;
  /** Radius from the activation. */
  r: number;
}

export interface ViewEdge {
  /** Upper layer index (1..L). */
  layer: number;
  source: ViewNode;
  target: ViewNode;
  value: number;
}

export interface ViewRest {
  node: ViewNode;
  /** Flows into this node not drawn: their count and signed sum. */
  count: number;
  value: number;
}

export interface ViewLayer {
  index: number;
  name: string;
  width: number;
  binSize: number;
  nodes: ViewNode[];
  x: number;
  /** Width of the column (several sub-columns for an expanded wide layer). */
  columnWidth: number;
  /** max |relevance| of its nodes (colour domain before sharing). */
  maxAbs: number;
  hasRelevance: boolean;
}

export interface NetworkView {
  layers: ViewLayer[];
  edges: ViewEdge[];
  rests: ViewRest[];
  /** max |flow| per upper layer index. */
  maxFlow: Map<number, number>;
  width: number;
  height: number;
  /** Node radius for a fully active unit. */
  rMax: number;
  flowsAvailable: boolean;
}

const COLUMN_GAP = 190;
const MARGIN_X = 70;
const MARGIN_TOP = 56;
const MARGIN_BOTTOM = 28;
const TARGET_HEIGHT = 560;

export function layerName(result: ExplainResult, l: number): string {
  if (l === 0) return 'input';
  return result.model.layers[l - 1]?.name ?? `layer${l}`;
}

export function buildNetworkView(result: ExplainResult, opts: ViewOptions, relevanceOverride?: (number[] | null)[]): NetworkView {
  const acts = result.activations;
  const rel = relevanceOverride ?? result.relevance;
  const L = acts.length - 1;
  // Row count of the tallest column decides the spacing.
  const plan = acts.map((a, l) => {
    const width = a.length;
    const binned = width > opts.maxUnits && !opts.expanded.has(l);
    const binSize = binned ? Math.ceil(width / opts.maxUnits) : 1;
    const count = Math.ceil(width / binSize);
    const rows = Math.min(count, opts.maxRows);
    const cols = Math.ceil(count / rows);
    return { width, binSize, count, rows, cols };
  });
  // Each column spreads over the same height: a 10-unit output column stays readable next to a 64-row one.
  const dys = plan.map((p) => Math.max(4, Math.min(34, TARGET_HEIGHT / Math.max(1, p.rows))));
  const contentHeight = Math.max(...plan.map((p, l) => p.rows * dys[l]));
  const rMax = Math.max(...dys.map((d) => Math.min(13, d * 0.44)));
  const height = MARGIN_TOP + contentHeight + MARGIN_BOTTOM;
  const layers: ViewLayer[] = [];
  let x = MARGIN_X;
  for (let l = 0; l <= L; l++) {
    const p = plan[l];
    const a = acts[l];
    const r = rel[l] ?? null;
    const dy = dys[l];
    const rl = Math.min(13, dy * 0.44);
    const columnWidth = (p.cols - 1) * dy * 1.15;
    let maxAct = 0;
    for (const v of a) if (Math.abs(v) > maxAct) maxAct = Math.abs(v);
    const nodes: ViewNode[] = [];
    let maxAbs = 0;
    const colTop = MARGIN_TOP + (contentHeight - p.rows * dy) / 2 + dy / 2;
    for (let b = 0; b < p.count; b++) {
      const start = b * p.binSize;
      const end = Math.min(p.width, start + p.binSize);
      let rs = 0;
      let as = 0;
      let allOff = true;
      for (let u = start; u < end; u++) {
        if (r) rs += r[u] ?? 0;
        as += a[u];
        if (l === 0 ? a[u] !== 0 : a[u] > 0) allOff = false;
      }
      const act = as / (end - start);
      const relevance = r ? rs : null;
      if (relevance !== null && Math.abs(relevance) > maxAbs) maxAbs = Math.abs(relevance);
      const col = Math.floor(b / p.rows);
      const row = b % p.rows;
      const frac = maxAct > 0 ? Math.sqrt(Math.abs(act) / maxAct) : 0;
      nodes.push({
        id: p.binSize > 1 ? `${l}:b${start}` : `${l}:${start}`,
        layer: l,
        start,
        end,
        isBin: p.binSize > 1,
        index: b,
        relevance,
        activation: act,
        off: allOff,
        explained: l === L && start <= result.explainedRow && result.explainedRow < end,
        x: x + col * dy * 1.15,
        y: colTop + row * dy,
        r: allOff ? rl * 0.38 : rl * (0.45 + 0.55 * frac),
      });
    }
    layers.push({ index: l, name: layerName(result, l), width: p.width, binSize: p.binSize, nodes, x, columnWidth, maxAbs, hasRelevance: r !== null });
    x += columnWidth + COLUMN_GAP;
  }
  // Room on the right for the output column's value labels.
  const width = x - COLUMN_GAP + MARGIN_X + 60;

  // Flows: map units to drawn nodes, aggregate per node pair, keep top-k per upper node.
  const flows = flowsOf(result);
  const edges: ViewEdge[] = [];
  const rests: ViewRest[] = [];
  const maxFlow = new Map<number, number>();
  for (const f of flows) aggregateLayerFlows(f, layers, opts.topK, edges, rests, maxFlow);
  return { layers, edges, rests, maxFlow, width, height, rMax, flowsAvailable: flows.length > 0 };
}

function nodeOf(layer: ViewLayer | undefined, unit: number): ViewNode | undefined {
  if (!layer || unit < 0 || unit >= layer.width) return undefined;
  return layer.nodes[Math.floor(unit / layer.binSize)];
}

function aggregateLayerFlows(f: NormalFlows, layers: ViewLayer[], topK: number, edges: ViewEdge[], rests: ViewRest[], maxFlow: Map<number, number>): void {
  // Graph networks: a layer may read a tensor other than the previous layer's output (a skip or downsample branch).
  const lower = layers[f.from ?? f.layer - 1];
  const upper = layers[f.layer];
  if (!lower || !upper) return;
  // per upper node: Map<lower node, summed value>
  const byTarget = new Map<ViewNode, Map<ViewNode, number>>();
  const restOf = new Map<ViewNode, { count: number; value: number }>();
  for (const e of f.top) {
    const s = nodeOf(lower, e.from);
    const t = nodeOf(upper, e.to);
    if (!s || !t || e.value === 0) continue;
    let m = byTarget.get(t);
    if (!m) byTarget.set(t, (m = new Map()));
    m.set(s, (m.get(s) ?? 0) + e.value);
  }
  for (const r of f.rest) {
    const t = nodeOf(upper, r.to);
    if (!t) continue;
    const cur = restOf.get(t) ?? { count: 0, value: 0 };
    // count -1: the engine gave only the sum; count it as one aggregated entry.
    cur.count += r.count < 0 ? 1 : r.count;
    cur.value += (r.positive ?? 0) + (r.negative ?? 0);
    restOf.set(t, cur);
  }
  let mx = 0;
  for (const [t, m] of byTarget) {
    const list = [...m].sort((p, q) => Math.abs(q[1]) - Math.abs(p[1]));
    const kept = list.slice(0, topK);
    for (const [s, v] of kept) {
      edges.push({ layer: f.layer, source: s, target: t, value: v });
      if (Math.abs(v) > mx) mx = Math.abs(v);
    }
    if (list.length > topK) {
      const cur = restOf.get(t) ?? { count: 0, value: 0 };
      for (const [, v] of list.slice(topK)) {
        cur.count += 1;
        cur.value += v;
      }
      restOf.set(t, cur);
    }
  }
  for (const [node, r] of restOf) if (r.count > 0) rests.push({ node, count: r.count, value: r.value });
  maxFlow.set(f.layer, mx);
}

/** The node drawn for a unit (its bin when the layer is binned). */
export function findNode(view: NetworkView, layer: number, unit: number): ViewNode | undefined {
  return nodeOf(view.layers[layer], unit);
}
