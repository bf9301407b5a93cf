// Baselines carried in every result so users can compare DTD with what they
// know: the gradient, gradient×input and LRP rules exactly as the LRP library
// zennit 0.5.1 computes them (fixtures README §7): relevance starts as
// one-hot(row)·output, ReLUs pass the ordinary gradient (0 where z ≤ 0), and
// each linear layer applies its rule's LRP kernel from the rule registry
// (rules/registry.ts) with the stabiliser s(z) = z + ε·sign(z), sign(0) = +1,
// ε = 1e-6. Batched over inputs through the Ops interface.
// Conv layers use the same formulas through their forward map and its
// transpose (layers.ts); max pooling passes the gradient (first maximum of a
// window), average pooling zennit's proportional Norm rule
// R_in = a ⊙ Pᵀ(R / s(P a)) (fixtures CONV.md §4).

import { activationSlopes } from './activations';
import { backwardGraph, fixedRuleText, joinRelevance, type BackwardStep } from './backward';
import { poolGeom } from './layers';
import { firstWeightedLayer, type Network } from './network';
import type { Mat } from './ops/ops';
import { parseRuleMap, ruleToText } from './rules/parse';
import { lrpKernels, LRP_STABILIZER, ruleRecord, type LrpRule, type RelevanceTerm } from './rules/registry';
import { forwardBatch, type BatchForward, type NetMats } from './forward';

export { LRP_STABILIZER, type LrpRule } from './rules/registry';

/** The fixtures' zennit keys (result keys of the LRP baselines) and the rule each stands for. */
export const LRP_BASELINES: Record<string, LrpRule> = {
  zplus_zero_bias: { name: 'z+', zeroBias: true },
  zplus: { name: 'z+', zeroBias: false },
  'epsilon_1e-6': { name: 'epsilon', zeroBias: false, epsilon: 1e-6 },
  'epsilon_1e-6_zero_bias': { name: 'epsilon', zeroBias: true, epsilon: 1e-6 },
  'gamma_0.25': { name: 'gamma', zeroBias: false, gamma: 0.25 },
  'gamma_0.25_zero_bias': { name: 'gamma', zeroBias: true, gamma: 0.25 },
  alpha2_beta1: { name: 'alpha2beta1', zeroBias: false },
  wsquare_zero_bias: { name: 'w2', zeroBias: true },
};

/** zennit's SpecialFirstLayerMapComposite keys: a rule on the first dense/conv layer, zero-bias z⁺ on the others. */
export const LRP_FIRST_LAYER_BASELINES: Record<string, LrpRule> = {
  wsquare_zplus_zero_bias: { name: 'w2', zeroBias: true },
};

/** The rule list for "first dense/conv layer gets `first`, every other layer zero-bias z⁺". */
export function firstLayerRules(net: Network, first: LrpRule): LrpRule[] {
  const f = firstWeightedLayer(net);
  return net.layers.map((_, i) => (i + 1 === f ? first : { name: 'z+', zeroBias: true }));
}

export interface LrpOutput<M extends Mat> {
  /** relevance[l] [B, n_l]: index 0 = input, index L = the start relevance on the last layer. */
  relevance: M[];
}

/**
 * LRP for a batch X [B, n0] explaining last-layer row `row` (or rows[s] for
 * input s). `rules[l-1]` is the rule of layer l (one rule for all layers is the
 * common case). `given`: X's forward pass when the caller has it already
 * (dataset runs pick each input's row from it); it is not disposed here.
 */
export function lrpBatch<M extends Mat>(mats: NetMats<M>, X: M, row: number | readonly number[], rules: LrpRule[], given?: BatchForward<M>): LrpOutput<M> {
  const { ops, net } = mats;
  const L = net.layers.length;
  const fwd = given ?? forwardBatch(mats, X);
  const B = X.rows;
  const nL = net.layers[L - 1].outFeatures;
  const onehot = new Float64Array(B * nL);
  const top = ops.read(fwd.act[L]);
  for (let s = 0; s < B; s++) {
    const r = typeof row === 'number' ? row : row[s];
    onehot[s * nL + r] = top[s * nL + r];
  }
  const relevance = backwardGraph(mats, fwd, ops.matrix(B, nL, onehot), (st) => lrpLayerStep(mats, rules, st));
  return { relevance };
}

/** One layer's LRP step: what layer st.l sends to each of its inputs for the relevance st.R at its output (linear in st.R). Shared by lrpBatch and the concept (CRP) walks of crp.ts. */
export function lrpLayerStep<M extends Mat>(mats: NetMats<M>, rules: LrpRule[], st: BackwardStep<M>): M[] {
  const { ops, net } = mats;
  const { l, inputs } = st;
  const layer = net.layers[l - 1];
  const R = lrpHandedRelevance(mats, st);
  const join = joinRelevance(mats, { ...st, R });
  if (join) return join;
  if (layer.kind === 'maxpool2d') return [ops.maxPool2dBackward(R, inputs[0], poolGeom(layer))];
  if (layer.kind === 'avgpool2d') return [ops.mul(inputs[0], mats.bwd(l, ops.divStabilized(R, st.Z, LRP_STABILIZER), null))];
  return [lrpKernels(rules[l - 1].name).propagate({ mats, l, A: inputs[0], Z: st.Z, R, rule: rules[l - 1] })];
}

/** The relevance layer st.l's LRP rule is handed: the ReLU after the layer passes relevance where z > 0; other activations pass it unchanged (zennit's Pass rule). */
function lrpHandedRelevance<M extends Mat>(mats: NetMats<M>, st: BackwardStep<M>): M {
  return mats.layer(st.l).activation === 'relu' ? mats.ops.mul(st.R, mats.ops.stepPositive(st.Z)) : st.R;
}

/**
 * Layer st.l's LRP step as the terms of its rule (see RelevanceTerm), for the
 * dense and conv layers whose rule has that form; null for other layers.
 */
export function lrpLayerTerms<M extends Mat>(mats: NetMats<M>, rules: LrpRule[], st: BackwardStep<M>): RelevanceTerm<M>[] | null {
  const layer = mats.layer(st.l);
  if (layer.kind !== 'dense' && layer.kind !== 'conv2d' && layer.kind !== 'convtranspose2d') return null;
  const kernels = lrpKernels(rules[st.l - 1].name);
  if (!kernels.terms) return null;
  return kernels.terms({ mats, l: st.l, A: st.inputs[0], Z: st.Z, R: lrpHandedRelevance(mats, st), rule: rules[st.l - 1] });
}

/** Gradient of last-layer row `row` w.r.t. the input, batched. */
export function gradientBatch<M extends Mat>(mats: NetMats<M>, X: M, row: number): M {
  const { ops, net } = mats;
  const L = net.layers.length;
  const fwd = forwardBatch(mats, X);
  const nL = net.layers[L - 1].outFeatures;
  const c = new Float64Array(X.rows * nL);
  for (let s = 0; s < X.rows; s++) c[s * nL + row] = 1;
  const grads = backwardGraph(mats, fwd, ops.matrix(X.rows, nL, c), (st) => {
    const { l, inputs } = st;
    const layer = net.layers[l - 1];
    const slope = activationSlopes(ops, layer, st.Z);
    const G = slope ? ops.mul(st.R, slope) : st.R;
    if (layer.kind === 'add') return inputs.map(() => G);
    if (layer.kind === 'concat') {
      let off = 0;
      return layer.parts.map((n) => ops.sliceCols(G, off, (off += n)));
    }
    if (layer.kind === 'maxpool2d') return [ops.maxPool2dBackward(G, inputs[0], poolGeom(layer))];
    return [mats.bwd(l, G, layer.kind === 'avgpool2d' ? null : mats.W(l))];
  });
  return grads[0];
}

export function lrpRulesFor(net: Network, rule: LrpRule | LrpRule[]): LrpRule[] {
  return Array.isArray(rule) ? rule : net.layers.map(() => rule);
}

// ── the LRP method: rule text (one parser for every method: rules/parse.ts) ──

/** One LRP rule from text: z+ | epsilon[=E] | gamma[=G] | alpha2beta1 | w2 | zB=LOW,HIGH | x (zennit's spellings zplus, wsquare, zbox too). */
export function parseLrpRule(text: string, zeroBias: boolean): LrpRule {
  return { ...parseRuleMap(text, [{ name: 'layer1' }], 'lrp')[0], zeroBias };
}

/** LRP rules for every layer from text: one rule, or per layer "layer1=zB=0,1;*=z+" (names, 1-based indices, types or '*'). */
export function resolveLrpRules(text: string | undefined, net: Network, zeroBias: boolean): LrpRule[] {
  return parseRuleMap(text ?? 'z+', net.layers, 'lrp').map((r) => ({ ...r, zeroBias }));
}

/** Text of a layer's LRP rule as the result reports it (pooling layers say what they do instead). */
export function lrpRuleText(rule: LrpRule, layer: Network['layers'][number]): string {
  const fixed = fixedRuleText(layer);
  if (fixed) return fixed;
  return rule.zeroBias && !ruleRecord(rule.name).lrp?.biasCancels ? `${ruleToText(rule)} (zero bias)` : ruleToText(rule);
}
