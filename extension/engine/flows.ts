// Relevance flows for the visualizer: how much of upper unit j's relevance
// went to lower unit i. Every DTD step writes rel_{j,i} = ∇R_j(r_j)_i·(a_i − r_{j,i});
// for train-free the gradient is the unit's weight row. The result keeps the
// k largest |flows| per upper unit and aggregates the rest, so a 784-wide
// layer stays small. Conv units use their kernel placed on the receptive
// field (denseRow); pooling layers have no roots and so no flows.

import { denseRow, isWeighted, layerInputs, type Network } from './network';
import { dtdRuleAt, ruleRecord, singleNeuronRoot } from './rules';
import type { LayerFlows, RootInfo, RuleSpec } from '../protocol';

export const DEFAULT_TOP_K = 8;

/**
 * `contributions[l-1]`, when given, maps upper unit j → its rel_j vector
 * (full-backward supplies these); otherwise rel_j = w_j ⊙ (a − r_j).
 */
export function computeFlows(
  net: Network,
  act: ArrayLike<number>[],
  relevance: (number[] | null)[],
  roots: RootInfo[][],
  rules: RuleSpec[],
  k = DEFAULT_TOP_K,
  contributions?: (Map<number, Float64Array> | null)[],
): LayerFlows[] {
  const out: LayerFlows[] = [];
  for (let l = 1; l <= net.layers.length; l++) {
    const layer = net.layers[l - 1];
    const n = layer.inFeatures;
    const t = layerInputs(net, l)[0];
    const from = t !== l - 1 ? { from: t } : {};
    // Pooling, joins and affine layers have no roots and so no flows.
    if (!isWeighted(layer)) {
      out.push({ layer: l, ...from, k, top: [], rest: new Array(layer.outFeatures).fill(0) });
      continue;
    }
    const a = act[t];
    const rest = new Array(layer.outFeatures).fill(0);
    const top: LayerFlows['top'] = [];
    const given = contributions?.[l - 1] ?? null;
    const R = relevance[l];
    for (const info of roots[l - 1] ?? []) {
      const j = info.unit;
      let rel: Float64Array | null = given ? (given.get(j) ?? null) : null;
      if (!rel && !given && info.hasRoot && R) {
        const w = denseRow(layer, j);
        const r = info.root ? info.root : ruleRecord(rules[l - 1].name).dtd?.root.kind === 'layer' ? null : singleNeuronRoot(dtdRuleAt(net, rules, l), w, a, R[j] ?? 0).root;
        if (!r) continue;
        rel = new Float64Array(n);
        for (let i = 0; i < n; i++) rel[i] = w[i] * (a[i] - r[i]);
      }
      if (!rel) continue;
      const order = Array.from({ length: n }, (_, i) => i).filter((i) => rel![i] !== 0);
      order.sort((p, q) => Math.abs(rel![q]) - Math.abs(rel![p]));
      const kept = order.slice(0, k);
      for (const i of kept) top.push({ from: i, to: j, value: rel[i] });
      let s = 0;
      for (const i of order.slice(k)) s += rel[i];
      rest[j] = s;
    }
    out.push({ layer: l, ...from, k, top, rest });
  }
  return out;
}
