// Train-free DTD, batched over inputs through the Ops interface: each layer
// passes the relevance of the layer above down with its rule's analytic root,
// treating the upper relevance as constant (fixtures README §5). Closed forms,
// per layer, with C = R / (v·w) (0 where the unit has no root):
//   z+    R_in = a ⊙ (C·W⁺)                 v = a⊙1[w≥0]
//   x     R_in = a ⊙ (C·W)                  v = a
//   gamma R_in = a ⊙ (C·(W+γW⁺))            v = a⊙(1+γ1[w≥0])
//   w2    R_in = C·(W⊙W)                    v = w
//   zB    R_in = a⊙(C·W) − l⊙(C·W⁺) − h⊙(C·W⁻)
//   0     R_in = a ⊙ (U·W), U = 1 on every participating unit (ignores R)
//   pinv  R_in = (1ᵀW) ⊙ (R·pinv(W)ᵀ)       one root a − pinv(W)R for the layer
// Products with W / Wᵀ are the layer's forward map and its transpose
// (layers.ts), so convolutions run the same formulas with shared weights.
// Pooling layers take no rule: max pooling sends a window's relevance to its
// first maximal input, average pooling splits it proportionally (z+ on its
// positive weights: a_i·R_j/(n·mean_j)). Joins (add, concat) and affine
// layers use the rules every method shares (backward.ts); a tensor read by
// several layers gets the sum of what they send back.

import { backwardGraph, joinRelevance, type BackwardStep } from './backward';
import { poolGeom } from './layers';
import { isJoin } from './network';
import type { Mat, Ops } from './ops/ops';
import { dtdRuleAt, NO_ROOT_EPS } from './rules';
import { dtdKernels, type RelevanceTerm } from './rules/registry';
import type { BatchForward, NetMats } from './forward';
import type { RuleSpec } from '../protocol';

export interface TrainFreeBatch<M extends Mat> {
  /** relevance[k] [B, n] for tensors from−1+k, k = 0..L−from+1 (index 0 = input of layer `from`). */
  relevance: M[];
  /** Per layer (index l-from) and sample: how many participating units had a root. */
  rootCounts: Int32Array[];
}

/**
 * Where every decomposition of a batch starts: f(x) on the explained row of
 * the last layer (`top`, zero elsewhere) and that row as the participating
 * units (`mask`). `lastAct` is the last layer's output [B, n_L].
 */
export function explainedRowStart<M extends Mat>(ops: Ops<M>, lastAct: M, row: number): { top: M; mask: M } {
  const B = lastAct.rows, nL = lastAct.cols;
  const all = ops.read(lastAct);
  const top = new Float64Array(B * nL), mask = new Float64Array(B * nL);
  for (let s = 0; s < B; s++) {
    top[s * nL + row] = all[s * nL + row];
    mask[s * nL + row] = 1;
  }
  return { top: ops.matrix(B, nL, top), mask: ops.matrix(B, nL, mask) };
}

/**
 * Runs the train-free decomposition for a batch from the top down to the
 * input of layer `from`. `top` is the relevance on the last layer's units
 * [B, n_L] (zero except the explained row). `participating` is the [B, n_L]
 * mask of last-layer units that take part (the explained row).
 */
export function trainFreeBatch<M extends Mat>(
  mats: NetMats<M>,
  fwd: BatchForward<M>,
  rules: RuleSpec[],
  top: M,
  participating: M,
  from = 1,
): TrainFreeBatch<M> {
  const { ops, net } = mats;
  const L = net.layers.length;
  const rootCounts: Int32Array[] = new Array(L - from + 1);
  const relevance = backwardGraph(mats, fwd.from === from ? fwd : { ...fwd, from }, top, (st) => {
    const s = trainFreeLayerStep(mats, rules, participating, st);
    rootCounts[st.l - from] = s.join ? new Int32Array(st.inputs[0].rows).fill(1) : countRoots(ops, s.denominator, st.l === L ? participating : null, st.inputs[0].rows, net.layers[st.l - 1].outFeatures);
    return s.out;
  });
  return { relevance, rootCounts };
}

/**
 * One layer's train-free step: what layer st.l sends to each of its inputs for
 * the relevance st.R at its output (linear in st.R for every rule but "0").
 * `participating` masks the last layer's units. Shared by trainFreeBatch and
 * the concept (CRP) walks of crp.ts.
 */
export function trainFreeLayerStep<M extends Mat>(mats: NetMats<M>, rules: RuleSpec[], participating: M | null, st: BackwardStep<M>): { out: M[]; denominator: M | null; join: boolean } {
  const { ops, net } = mats;
  const { l, R } = st;
  const A = st.inputs[0];
  const rule = dtdRuleAt(net, rules, l);
  const layer = mats.layer(l); // a window's geometry for the root checks' cone pass (rootCone.ts)
  const unitMask = l === net.layers.length ? participating : null;
  const join = isJoin(layer) || layer.kind === 'affine' ? joinRelevance(mats, layer.activation === 'relu' ? { ...st, R: ops.mul(R, ops.stepPositive(st.Z)) } : st) : null;
  if (join) return { out: join, denominator: null, join: true };
  if (layer.kind === 'maxpool2d') {
    // DTD's max pooling: the whole relevance of a window goes to its (first) maximal input.
    return { out: [ops.maxPool2dBackward(R, A, poolGeom(layer))], denominator: null, join: false };
  }
  if (layer.kind === 'avgpool2d') {
    // Average pooling is a linear layer with positive weights: z+ is the proportional split a_i·R_j/(n·mean_j).
    const D = st.Z;
    const C = ops.divOrZero(R, D, NO_ROOT_EPS);
    return { out: [ops.mul(A, mats.bwd(l, C, null))], denominator: D, join: false };
  }
  // The rule's closed form, from its record in the rule registry.
  const step = dtdKernels(rule.name).trainFree({ mats, l, A, R, rule, unitMask });
  return { out: [step.relevance], denominator: step.denominator, join: false };
}

/**
 * Layer st.l's train-free step as the terms of its rule's closed form (see
 * RelevanceTerm), for the dense and conv layers whose rule has that form;
 * null for every other layer (joins, affine, pooling) and for rules 0 and pinv.
 */
export function trainFreeLayerTerms<M extends Mat>(mats: NetMats<M>, rules: RuleSpec[], participating: M | null, st: BackwardStep<M>): RelevanceTerm<M>[] | null {
  const { net } = mats;
  const layer = net.layers[st.l - 1];
  if (layer.kind !== 'dense' && layer.kind !== 'conv2d' && layer.kind !== 'convtranspose2d') return null;
  const rule = dtdRuleAt(net, rules, st.l);
  const kernels = dtdKernels(rule.name);
  if (!kernels.trainFreeTerms) return null;
  const unitMask = st.l === net.layers.length ? participating : null;
  return kernels.trainFreeTerms({ mats, l: st.l, A: st.inputs[0], R: st.R, rule, unitMask }).terms;
}

/** Units (that take part) with |v·w| > eps, per sample. Rules 0 and pinv always have their root. */
function countRoots<M extends Mat>(ops: Ops<M>, D: M | null, unitMask: M | null, B: number, n: number): Int32Array {
  const counts = new Int32Array(B);
  const d = D ? ops.read(D) : null;
  const mask = unitMask ? ops.read(unitMask) : null;
  for (let s = 0; s < B; s++) {
    let c = 0;
    for (let j = 0; j < n; j++) {
      if (mask && mask[s * n + j] === 0) continue;
      if (!d || Math.abs(d[s * n + j]) > NO_ROOT_EPS) c++;
    }
    counts[s] = c;
  }
  return counts;
}
