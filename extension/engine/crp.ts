// Concept Relevance Propagation (zennit-crp's CondAttribution, RelevancePropagation.jl's CRP)
// on the batched decompositions: train-free DTD and LRP. Both walk the graph with a
// step that is linear in the relevance it is handed (the forward pass fixes every
// denominator and ReLU mask; rule "0" is the exception and is refused), so
//   - the conditional heatmap of channel d of tensor t is the walk from t down with
//     the relevance at t zeroed outside channel d (and nothing from the layers
//     above t: relevance that bypasses t through a skip connection does not pass
//     through any of its channels). Summed over the channels of t it is the input
//     relevance that passes through t — all of it when t is a cut of the graph
//     (every chain layer, a residual block's output).
//   - the channel flow c → d of layer l is what layer l's own step sends to input
//     channel c (summed over positions) when handed only output channel d's
//     relevance. Summed over c it is what channel d passes down (its relevance, for
//     conserving rules up to the stabiliser); summed over d it is the relevance
//     channel c receives from layer l.
// A vector tensor ([n]) has n one-unit channels. The conditional heatmaps run
// batched, one row per channel. The flows of a dense or conv layer come from
// its rule's terms (rules/registry.ts RelevanceTerm: R_in = Σ coef·P ⊙ Fᵀ(V, C)
// with C elementwise in R), contracted per (input channel, output channel) at
// the cost of one forward map per term; channel-wise layers (pooling, affine,
// joins) take one step; only rules without terms (pinv) run the step once per
// output channel.

import { backwardGraph, type BackwardStep } from './backward';
import { lrpLayerStep, lrpLayerTerms, type LrpRule } from './baselines';
import { DtdError } from './errors';
import { forwardBatch, type BatchForward, type NetMats } from './forward';
import { convGeom } from './layers';
import { layerInputs, layerShapes, type Layer } from './network';
import { convChannelPairs } from './ops/kernels';
import type { Mat, Ops } from './ops/ops';
import type { RelevanceTerm } from './rules/registry';
import { explainedRowStart, trainFreeLayerStep, trainFreeLayerTerms } from './trainFree';
import type { ChannelFlows, RuleSpec } from '../protocol';

/** The rules of a decomposition CRP can condition: train-free DTD or LRP. */
export type CrpRules = { method: 'train-free'; rules: RuleSpec[] } | { method: 'lrp'; rules: LrpRule[] };

/** Channel flows are left out for a layer whose matrix would hold more numbers than this. */
export const MAX_CHANNEL_FLOW_ENTRIES = 65_536;
/**
 * Multiply-adds spent on channel flows per explanation; layers past it are left
 * out with a warning. A dense or conv layer whose rule is a sum of terms costs
 * about one pass of its forward map per term to make them and one per live term
 * to contract them channel by channel (VGG-style 3×32×32, 39M multiply-adds a
 * pass: z+ 3 passes, γ 8); channel-wise layers one step; other layers (rule
 * pinv) their step once per output channel.
 */
export const CHANNEL_FLOW_WORK = 4e8;
/** Rows × columns of one batched step (memory): the channels of a layer are split into chunks under it. */
const CHUNK_VALUES = 4e6;

/** Refuses what CRP cannot condition: rule "0" ignores the relevance it is handed, so the walk is not linear in it. */
export function checkCrpRules(spec: CrpRules): void {
  if (spec.method === 'train-free' && spec.rules.some((r) => r.name === '0')) {
    throw new DtdError('unsupported', 'Concepts need a rule that passes on the relevance it is given; rule 0 takes the origin as root and ignores it.');
  }
}

/** Channels of a tensor shape: [C, H, W] → C channels of H·W positions; [n] → n channels of one. */
export function channelsOf(shape: readonly number[]): { count: number; size: number } {
  return shape.length === 3 ? { count: shape[0], size: shape[1] * shape[2] } : { count: shape[0], size: 1 };
}

type Step<M extends Mat> = (st: BackwardStep<M>) => M[];

/** Train-free's last-layer mask for B rows: the explained row. */
function participatingRows<M extends Mat>(mats: NetMats<M>, row: number, B: number): M {
  const nL = mats.net.layers[mats.net.layers.length - 1].outFeatures;
  const mask = new Float64Array(B * nL);
  for (let s = 0; s < B; s++) mask[s * nL + row] = 1;
  return mats.ops.matrix(B, nL, mask);
}

/** The decomposition's layer step for a batch of `B` rows (train-free's last-layer mask: the explained row). */
function stepFor<M extends Mat>(mats: NetMats<M>, spec: CrpRules, row: number, B: number): Step<M> {
  if (spec.method === 'lrp') return (st) => lrpLayerStep(mats, spec.rules, st);
  const participating = participatingRows(mats, row, B);
  return (st) => trainFreeLayerStep(mats, spec.rules, participating, st).out;
}

/** The decomposition's step of a dense or conv layer as its rule's terms (null where it has none). */
function termsFor<M extends Mat>(mats: NetMats<M>, spec: CrpRules, row: number, st: BackwardStep<M>): RelevanceTerm<M>[] | null {
  if (spec.method === 'lrp') return lrpLayerTerms(mats, spec.rules, st);
  return trainFreeLayerTerms(mats, spec.rules, participatingRows(mats, row, 1), st);
}

/** Row 0 of m repeated B times. */
function tile<M extends Mat>(ops: Ops<M>, m: M, B: number): M {
  const v = ops.read(m);
  const n = m.cols;
  const out = new Float64Array(B * n);
  for (let s = 0; s < B; s++) out.set(v.subarray(0, n), s * n);
  return ops.matrix(B, n, out);
}

/** Row b: r restricted to channel channels[b] (positions [c·size, (c+1)·size)), zero elsewhere. */
function channelRows<M extends Mat>(ops: Ops<M>, r: Float64Array, channels: readonly number[], size: number): M {
  const n = r.length;
  const out = new Float64Array(channels.length * n);
  channels.forEach((c, b) => out.set(r.subarray(c * size, (c + 1) * size), b * n + c * size));
  return ops.matrix(channels.length, n, out);
}

export interface FullWalk<M extends Mat> {
  fwd: BatchForward<M>;
  /** relevance[t] of the one input [1, n_t], t = 0..L. */
  relevance: Float64Array[];
}

/** The decomposition of one input x, with the forward pass it ran on. */
export function fullWalk<M extends Mat>(mats: NetMats<M>, x: ArrayLike<number>, row: number, spec: CrpRules): FullWalk<M> {
  const { ops, net } = mats;
  const X = ops.matrix(1, x.length, x);
  const fwd = forwardBatch(mats, X);
  const { top } = explainedRowStart(ops, fwd.act[net.layers.length], row);
  const rel = backwardGraph(mats, fwd, top, stepFor(mats, spec, row, 1));
  return { fwd, relevance: rel.map((m) => ops.read(m)) };
}

export interface ConditionalHeatmaps {
  /** Per requested channel: the input relevance that reaches the input through that channel only. */
  heatmaps: Float64Array[];
  /** Per requested channel: its relevance (the sum over its positions at tensor t). */
  channelRelevance: number[];
  /** The decomposition's input relevance (unconditioned). */
  inputRelevance: Float64Array;
}

/**
 * CRP's conditional heatmaps of `channels` of tensor t (1..L, the output of layer
 * t): the relevance at t zeroed outside each channel, walked down to the input with
 * the same rules (one batch row per channel).
 */
export function conditionalHeatmaps<M extends Mat>(mats: NetMats<M>, x: ArrayLike<number>, row: number, spec: CrpRules, t: number, channels: readonly number[]): ConditionalHeatmaps {
  checkCrpRules(spec);
  const { ops, net } = mats;
  const L = net.layers.length;
  if (!Number.isInteger(t) || t < 1 || t > L) throw new DtdError('bad-usage', `Concepts: layer ${t} does not exist (the network has layers 1..${L}).`);
  const { count, size } = channelsOf(layerShapes(net)[t]);
  for (const c of channels) if (!Number.isInteger(c) || c < 0 || c >= count) throw new DtdError('bad-usage', `Concepts: channel ${c} does not exist (layer ${t} has channels 0..${count - 1}).`);
  const full = fullWalk(mats, x, row, spec);
  const B = channels.length;
  const heatmaps: Float64Array[] = [];
  const n0 = net.inputSize;
  if (B > 0) {
    const XB = tile(ops, full.fwd.act[0], B);
    const fwd = forwardBatch(mats, XB);
    const masked = channelRows(ops, full.relevance[t], channels, size);
    const step = stepFor(mats, spec, row, B);
    const nL = net.layers[L - 1].outFeatures;
    const rel = backwardGraph(mats, fwd, ops.matrix(B, nL, new Float64Array(B * nL)), (st) => {
      // Above t nothing is sent down: what reaches the input past t's channels is not theirs.
      if (st.l > t) return layerInputs(net, st.l).map((tensor) => ops.matrix(B, tensor === 0 ? n0 : net.layers[tensor - 1].outFeatures, new Float64Array(B * (tensor === 0 ? n0 : net.layers[tensor - 1].outFeatures))));
      return step(st.l === t ? { ...st, R: masked } : st);
    });
    const r0 = ops.read(rel[0]);
    for (let b = 0; b < B; b++) heatmaps.push(r0.slice(b * n0, (b + 1) * n0));
  }
  const rt = full.relevance[t];
  const channelRelevance = channels.map((c) => {
    let s = 0;
    for (let i = c * size; i < (c + 1) * size; i++) s += rt[i];
    return s;
  });
  return { heatmaps, channelRelevance, inputRelevance: full.relevance[0] };
}

/** Multiply-adds of one layer's step for one row (its forward map's size). */
function layerMacs(layer: Layer): number {
  if (layer.kind === 'dense') return layer.weight.length;
  if (layer.kind === 'conv2d') return (layer.weight.length * layer.outFeatures) / layer.outShape[0];
  if (layer.kind === 'convtranspose2d') return (layer.weight.length * layer.inFeatures) / layer.inShape[0];
  return layer.inFeatures + layer.outFeatures;
}

/**
 * The flow matrix [c][d] of a dense or conv layer from its rule's terms
 * (one row each): Σ_k coef_k · Σ_{p ∈ input channel c} P_k ⊙ Fᵀ(V_k, C_k restricted
 * to output channel d), contracted without forming the per-channel relevance.
 */
function flowsFromTerms(layer: Layer, inCh: { count: number; size: number }, outCh: { count: number; size: number }, terms: { P: Float64Array | null; C: Float64Array; V: Float64Array; coef: number }[]): number[][] {
  const m = Array.from({ length: inCh.count }, () => new Array<number>(outCh.count).fill(0));
  for (const { P, C, V, coef } of terms) {
    if (layer.kind === 'dense') {
      // flow[c][d] = C_d · Σ_{p∈c} V[d, p]·P_p (an output unit is a channel).
      const n = layer.inFeatures;
      for (let d = 0; d < outCh.count; d++) {
        if (C[d] === 0) continue;
        for (let c = 0; c < inCh.count; c++) {
          let s = 0;
          const o = d * n + c * inCh.size;
          if (P) for (let p = 0; p < inCh.size; p++) s += V[o + p] * P[c * inCh.size + p];
          else for (let p = 0; p < inCh.size; p++) s += V[o + p];
          m[c][d] += coef * C[d] * s;
        }
      }
    } else if (layer.kind === 'conv2d') {
      // Output channel d's C sent back through the convolution, weighted by input channel c's P.
      const S = convChannelPairs(C, P, V, convGeom(layer));
      for (let d = 0; d < outCh.count; d++) for (let c = 0; c < inCh.count; c++) m[c][d] += coef * S[d * inCh.count + c];
    } else if (layer.kind === 'convtranspose2d') {
      // The layer is the adjoint of a convolution from its output to its input: the roles of C and P swap.
      const S = convChannelPairs(P ?? new Float64Array(layer.inFeatures).fill(1), C, V, convGeom(layer));
      for (let c = 0; c < inCh.count; c++) for (let d = 0; d < outCh.count; d++) m[c][d] += coef * S[c * outCh.count + d];
    } else {
      throw new DtdError('internal', `channel flows from terms on a ${layer.kind} layer`);
    }
  }
  return m;
}

/** Layer kinds that map channel c of an input only to channel c of the output (concat: c plus the input's block offset). */
const CHANNEL_WISE: ReadonlySet<Layer['kind']> = new Set(['maxpool2d', 'avgpool2d', 'affine', 'add', 'concat']);

function allZero(v: Float64Array): boolean {
  for (let i = 0; i < v.length; i++) if (v[i] !== 0) return false;
  return true;
}

/**
 * Channel-to-channel flows of every layer that reads or writes an image-shaped
 * tensor (conv, pooling, joins, affine, and the first dense layer after a flatten),
 * one entry per (layer, input tensor): matrix[c][d] = what layer l sends to channel
 * c of tensor `from` when handed only its output channel d's relevance, summed over
 * positions. Dense and conv layers whose rule is a sum of terms are contracted
 * from the terms (about one forward pass per term); other layers run their step
 * on one batch row per output channel. Layers whose matrix or work is too large
 * are left out and named in `skipped`.
 */
export function computeChannelFlows<M extends Mat>(mats: NetMats<M>, x: ArrayLike<number>, row: number, spec: CrpRules, full?: FullWalk<M>): { flows: ChannelFlows[]; skipped: string[] } {
  const { ops, net } = mats;
  const shapes = layerShapes(net);
  const walk = full ?? fullWalk(mats, x, row, spec);
  const flows: ChannelFlows[] = [];
  const skipped: string[] = [];
  let work = 0;
  for (let l = 1; l <= net.layers.length; l++) {
    const layer = net.layers[l - 1];
    const tensors = layerInputs(net, l);
    if (shapes[l].length !== 3 && tensors.every((t) => shapes[t].length !== 3)) continue;
    const out = channelsOf(shapes[l]);
    const ins = tensors.map((t) => channelsOf(shapes[t]));
    if (ins.some((c) => c.count * out.count > MAX_CHANNEL_FLOW_ENTRIES)) {
      skipped.push(`${layer.name} (${ins.map((c) => c.count).join('+')}×${out.count} channels)`);
      continue;
    }
    const inputs = tensors.map((t) => walk.fwd.act[t]);
    const Z = walk.fwd.pre[l - 1];
    const weighted = layer.kind === 'dense' || layer.kind === 'conv2d' || layer.kind === 'convtranspose2d';
    // A weighted layer's terms cost at least a forward map to make and one to contract: refuse before making them.
    if (weighted && work + 2 * layerMacs(layer) > CHANNEL_FLOW_WORK) {
      work += 2 * layerMacs(layer);
      skipped.push(`${layer.name} (work budget)`);
      continue;
    }
    const R1 = ops.matrix(1, layer.outFeatures, walk.relevance[l]);
    const terms = weighted ? termsFor(mats, spec, row, { l, R: R1, inputs, Z }) : null;
    if (terms) {
      // A term whose P or C is zero everywhere (a⁻ after a ReLU, a branch no unit takes) sends nothing.
      const live = terms
        .map((t) => ({ P: t.P ? ops.read(t.P) : null, C: ops.read(t.C), Vm: t.V, coef: t.coef ?? 1 }))
        .filter((t) => !allZero(t.C) && !(t.P && allZero(t.P)));
      ops.dispose(R1);
      // About one forward map per term to make them (the rule's denominators) and one per live term to contract.
      work += (terms.length + live.length) * layerMacs(layer);
      if (work > CHANNEL_FLOW_WORK) {
        skipped.push(`${layer.name} (work budget)`);
        continue;
      }
      const matrix = flowsFromTerms(layer, ins[0], out, live.map((t) => ({ P: t.P, C: t.C, V: ops.read(t.Vm), coef: t.coef })));
      flows.push({ layer: l, from: tensors[0], matrix });
      continue;
    }
    if (CHANNEL_WISE.has(layer.kind)) {
      // Pooling, affine, add and concat send each output channel's relevance to one input channel (concat: the
      // channel at its block's offset), so one step on the whole relevance, summed per channel, is the matrix.
      work += layerMacs(layer);
      if (work > CHANNEL_FLOW_WORK) {
        skipped.push(`${layer.name} (work budget)`);
        continue;
      }
      const sent = stepFor(mats, spec, row, 1)({ l, R: R1, inputs, Z });
      let offset = 0;
      sent.forEach((m, i) => {
        const v = ops.read(m);
        const { count, size } = ins[i];
        const matrix = Array.from({ length: count }, () => new Array<number>(out.count).fill(0));
        for (let c = 0; c < count; c++) {
          let s = 0;
          for (let p = c * size; p < (c + 1) * size; p++) s += v[p];
          matrix[c][offset + c] = s;
        }
        if (layer.kind === 'concat') offset += count;
        flows.push({ layer: l, from: tensors[i], matrix });
      });
      ops.dispose(R1, ...sent);
      continue;
    }
    ops.dispose(R1);
    work += out.count * layerMacs(layer);
    if (work > CHANNEL_FLOW_WORK) {
      skipped.push(`${layer.name} (work budget)`);
      continue;
    }
    const matrices = ins.map((c) => Array.from({ length: c.count }, () => new Array<number>(out.count).fill(0)));
    const widest = Math.max(layer.outFeatures, ...tensors.map((t) => (t === 0 ? net.inputSize : net.layers[t - 1].outFeatures)));
    const chunk = Math.max(1, Math.floor(CHUNK_VALUES / widest));
    for (let d0 = 0; d0 < out.count; d0 += chunk) {
      const chans = Array.from({ length: Math.min(chunk, out.count - d0) }, (_, i) => d0 + i);
      const B = chans.length;
      const tiled = inputs.map((a) => tile(ops, a, B));
      const ZB = tile(ops, Z, B);
      const R = channelRows(ops, walk.relevance[l], chans, out.size);
      const sent = stepFor(mats, spec, row, B)({ l, R, inputs: tiled, Z: ZB });
      sent.forEach((m, i) => {
        const v = ops.read(m);
        const n = m.cols;
        const { count, size } = ins[i];
        for (let b = 0; b < B; b++) {
          for (let c = 0; c < count; c++) {
            let s = 0;
            for (let p = c * size; p < (c + 1) * size; p++) s += v[b * n + p];
            matrices[i][c][chans[b]] = s;
          }
        }
      });
      ops.dispose(...tiled, ZB, R, ...sent);
    }
    tensors.forEach((t, i) => flows.push({ layer: l, from: t, matrix: matrices[i] }));
  }
  return { flows, skipped };
}
