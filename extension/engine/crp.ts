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
// A vector tensor ([n]) has n one-unit channels. Everything runs batched: one row
// per channel.

import { backwardGraph, type BackwardStep } from './backward';
import { lrpLayerStep, type LrpRule } from './baselines';
import { DtdError } from './errors';
import { forwardBatch, type BatchForward, type NetMats } from './forward';
import { layerInputs, layerShapes, type Layer } from './network';
import type { Mat, Ops } from './ops/ops';
import { explainedRowStart, trainFreeLayerStep } from './trainFree';
import type { ChannelFlows, RuleSpec } from '../protocol';

/** The rules of a decomposition CRP can condition: train-free DTD or LRP. */
export type CrpRules = { method: 'train-free'; rules: RuleSpec[] } | { method: 'lrp'; rules: LrpRule[] };

/** Channel flows are left out for a layer whose matrix would hold more numbers than this. */
export const MAX_CHANNEL_FLOW_ENTRIES = 65_536;
/** Multiply-adds spent on channel flows per explanation (each layer's step runs once per output channel); layers past it are left out with a warning. */
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

/** The decomposition's layer step for a batch of `B` rows (train-free's last-layer mask: the explained row). */
function stepFor<M extends Mat>(mats: NetMats<M>, spec: CrpRules, row: number, B: number): Step<M> {
  if (spec.method === 'lrp') return (st) => lrpLayerStep(mats, spec.rules, st);
  const nL = mats.net.layers[mats.net.layers.length - 1].outFeatures;
  const mask = new Float64Array(B * nL);
  for (let s = 0; s < B; s++) mask[s * nL + row] = 1;
  const participating = mats.ops.matrix(B, nL, mask);
  return (st) => trainFreeLayerStep(mats, spec.rules, participating, st).out;
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
 * Channel-to-channel flows of every layer that reads or writes an image-shaped
 * tensor (conv, pooling, joins, affine, and the first dense layer after a flatten),
 * one entry per (layer, input tensor): matrix[c][d] = what layer l sends to channel
 * c of tensor `from` when handed only its output channel d's relevance, summed over
 * positions. Layers whose matrix or work is too large are left out and named in
 * `skipped`.
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
      const inputs = tensors.map((t) => tile(ops, walk.fwd.act[t], B));
      const Z = tile(ops, walk.fwd.pre[l - 1], B);
      const R = channelRows(ops, walk.relevance[l], chans, out.size);
      const sent = stepFor(mats, spec, row, B)({ l, R, inputs, Z });
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
      ops.dispose(...inputs, Z, R, ...sent);
    }
    tensors.forEach((t, i) => flows.push({ layer: l, from: t, matrix: matrices[i] }));
  }
  return { flows, skipped };
}
