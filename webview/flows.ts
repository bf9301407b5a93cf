// Relevance flows as the network view draws them: the result's `flows`
// (protocol `LayerFlows`: per upper unit its k largest flows and the sum of the
// rest) read defensively into one normalised form, or, for a full-backward
// result without them, rebuilt from the top level of its root tree. Plain
// TypeScript (no DOM), so tests and the bench can use it without a browser.

import type { ExplainResult, Flow, TreeEntry } from '../extension/protocol';

/** What was left out of `top` for one upper unit (the webview's normalised form). */
export interface FlowRest {
  to: number;
  /** Number of non-zero flows into `to` not in `top`; -1 when the engine did not say. */
  count: number;
  /** Sum of the positive / negative values not in `top` (negative = 0 and positive = the sum when only the sum is known). */
  positive: number;
  negative: number;
}

/** The normalised form the webview draws from. */
export interface NormalFlows {
  layer: number;
  /** The tensor (column) the flows come from when it is not layer − 1 (graph networks). */
  from?: number;
  k: number;
  top: Flow[];
  rest: FlowRest[];
}

/**
 * Keeps the k largest |value| flows of every upper unit from a dense matrix
 * `perUnit[j][i]` (flow from i to j; null rows are skipped): a full-backward
 * tree turned into flows.
 */
export function topFlowsOfLayer(layer: number, perUnit: (ArrayLike<number> | null)[], k: number): NormalFlows {
  const top: Flow[] = [];
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
        (e): e is Flow => isObj(e) && Number.isInteger(e.from) && Number.isInteger(e.to) && typeof e.value === 'number',
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
      const from = Number.isInteger(f.from) && (f.from as number) >= 0 && (f.from as number) < f.layer ? { from: f.from as number } : {};
      out.push({ layer: f.layer, ...from, k: typeof f.k === 'number' ? f.k : top.length, top, rest });
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
