// Relevance flows: the contribution of lower unit i (in activations[l-1]) to
// upper unit j of layer l. The result contract (`ExplainResult`) carries per-layer
// relevance but no weights, so the flows cannot be rebuilt in the webview; the
// engine adds them as the optional `flows` field described here. This module is
// plain TypeScript (no DOM, no Node) so the engine can import the types and the
// `topFlowsOfLayer` helper when it fills the field.

import type { ExplainResult, TreeEntry } from '../extension/protocol';

/** One flow: lower unit `from` (index into activations[layer-1]) → upper unit `to` (index into activations[layer]). */
export interface FlowEdge {
  from: number;
  to: number;
  /** Relevance that unit `to` passes to unit `from`: train-free w_ji·(a_i − r_ji); full-backward rel_j[i] of the top-level tree. */
  value: number;
}

/** What was left out of `top` for one upper unit (the webview's normalised form). */
export interface FlowRest {
  to: number;
  /** Number of non-zero flows into `to` not in `top`; -1 when the engine did not say. */
  count: number;
  /** Sum of the positive / negative values not in `top` (negative = 0 and positive = the sum when only the sum is known). */
  positive: number;
  negative: number;
}

/**
 * Flows of one layer: from the input of layer `layer` (activations[layer-1]) to its units (activations[layer]).
 * This is the shape of `ExplainResult.flows[]` as the engine writes it (extension/engine/types.ts `LayerFlows`):
 * `rest[j]` is the signed sum of upper unit j's flows not listed in `top`. The webview also accepts `rest`
 * as a list of `FlowRest` records (count and sign split kept).
 */
export interface LayerFlows {
  /** 1-based layer index, as RootInfo.layer: the flows end on the units of this layer. */
  layer: number;
  /** The k the engine kept per upper unit (the webview may show fewer). */
  k: number;
  /** For each upper unit j with relevance, its k largest |value| flows, any order. */
  top: FlowEdge[];
  /** Dense: rest[j] = Σ of unit j's flows not in `top`; or sparse FlowRest records. */
  rest?: number[] | FlowRest[];
}

/** The normalised form the webview draws from. */
export interface NormalFlows {
  layer: number;
  k: number;
  top: FlowEdge[];
  rest: FlowRest[];
}

/** The optional field the engine adds to `ExplainResult`: one entry per layer that has flows (any subset of 1..L). */
export interface ResultWithFlows {
  flows?: LayerFlows[];
}

/**
 * Keeps the k largest |value| flows of every upper unit from a dense matrix
 * `perUnit[j][i]` (flow from i to j; null rows are skipped). Used by the engine
 * to fill `flows`, and by the webview to turn a full-backward tree into flows.
 */
export function topFlowsOfLayer(layer: number, perUnit: (ArrayLike<number> | null)[], k: number): LayerFlows & { rest: FlowRest[] } {
  const top: FlowEdge[] = [];
  const rest: FlowRest[] = [];
  for (let j = 0; j < perUnit.length; j++) {
    const row = perUnit[j];
    if (!row) continue;
    const idx: number[] = [];
    for (let i = 0; i < row.length; i++) if (row[i] !== 0 && Number.isFinite(row[i])) idx.push(i);
    idx.sort((p, q) => Math.abs(row[q]) - Math.abs(row[p]));
    for (let n = 0; n < Math.min(k, idx.length); n++) top.push({ from: idx[n], to: j, value: row[idx[n]] });
    if (idx.length > k) {
      let positive = 0;
      let negative = 0;
      for (let n = k; n < idx.length; n++) {
        const v = row[idx[n]];
        if (v > 0) positive += v;
        else negative += v;
      }
      rest.push({ to: j, count: idx.length - k, positive, negative });
    }
  }
  return { layer, k, top, rest };
}

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null;
}

/** Reads `flows` from a result, validating its shape; bad entries are dropped (the webview never trusts the payload). */
export function flowsOf(result: ExplainResult): NormalFlows[] {
  const raw: unknown = (result as unknown as { flows?: unknown }).flows;
  const out: NormalFlows[] = [];
  if (Array.isArray(raw) && raw.length > 0) {
    for (const f of raw as unknown[]) {
      if (!isObj(f) || typeof f.layer !== 'number' || !Array.isArray(f.top)) continue;
      const top = (f.top as unknown[]).filter(
        (e): e is FlowEdge => isObj(e) && Number.isInteger(e.from) && Number.isInteger(e.to) && typeof e.value === 'number',
      );
      const rest: FlowRest[] = [];
      if (Array.isArray(f.rest)) {
        (f.rest as unknown[]).forEach((r, j) => {
          if (typeof r === 'number') {
            if (r !== 0 && Number.isFinite(r)) rest.push({ to: j, count: -1, positive: r, negative: 0 });
          } else if (isObj(r) && Number.isInteger(r.to)) {
            rest.push({ to: r.to as number, count: typeof r.count === 'number' ? r.count : -1, positive: Number(r.positive) || 0, negative: Number(r.negative) || 0 });
          }
        });
      }
      out.push({ layer: f.layer, k: typeof f.k === 'number' ? f.k : top.length, top, rest });
    }
    return out;
  }
  // Full-backward without `flows`: the top-level tree entries ("layer1","root_j")
  // are exactly the decomposition of unit j of layer 1 at the real input.
  if (result.tree) {
    const top = topLevelEntries(result.tree);
    if (top.size > 0) {
      const width = result.activations[1]?.length ?? 0;
      const rows: (number[] | null)[] = Array.from({ length: width }, (_, j) => top.get(j)?.relevance ?? null);
      const f = topFlowsOfLayer(1, rows, Number.MAX_SAFE_INTEGER);
      out.push({ ...f, k: Math.max(0, ...rows.map((r) => r?.length ?? 0)), rest: [] });
    }
  }
  return out;
}

/** Tree entries at the top call (path ["layer1","root_j"]), by unit. */
export function topLevelEntries(tree: TreeEntry[]): Map<number, TreeEntry> {
  const m = new Map<number, TreeEntry>();
  for (const e of tree) if (e.path.length === 2) m.set(e.unit, e);
  return m;
}
