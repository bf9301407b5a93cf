// The one backward walk over the network graph that every batched
// decomposition (train-free DTD, LRP, the gradient) runs: layers from the top
// down, each handed the relevance at its output — the sum of what all the
// tensor's consumers sent back (RESIDUAL.md §4) — and returning what it sends
// to each of its inputs. And the join rules every method shares:
//   add     zennit's Norm rule: input k gets a_k · R / s(Σ a), s(z) = z + ε·sign(z)
//   concat  the output relevance cut back into its inputs' channel blocks
//   affine  the gradient (zennit passes relevance through modules without a rule): scale ⊙ R

import type { BatchForward, NetMats } from './forward';
import { inputOf } from './forward';
import { layerInputs, type Layer } from './network';
import type { Mat } from './ops/ops';
import { LRP_STABILIZER } from './rules/registry';

/** What one layer's backward step gets: its output relevance R [B, n_l], its inputs' activations and its pre-activations. */
export interface BackwardStep<M extends Mat> {
  l: number;
  R: M;
  inputs: M[];
  Z: M;
}

/**
 * Walks layers L..fwd.from. `step` returns, for each input of layer l, the
 * relevance (or gradient) it sends there. Returns rel[k] for tensors
 * from−1+k, k = 0..L−from+1 (rel[0] = at the input of layer `from`; what
 * flows past it into lower tensors is dropped). Tensors no path reaches get zeros.
 */
export function backwardGraph<M extends Mat>(mats: NetMats<M>, fwd: BatchForward<M>, top: M, step: (s: BackwardStep<M>) => M[]): M[] {
  const { ops, net } = mats;
  const L = net.layers.length;
  const from = fwd.from;
  const B = top.rows;
  const rel: (M | undefined)[] = new Array(L - from + 2);
  rel[L - from + 1] = top;
  const zeros = (n: number) => ops.matrix(B, n, new Float64Array(B * n));
  for (let l = L; l >= from; l--) {
    const layer = net.layers[l - 1];
    const k = l - from + 1;
    const R = (rel[k] ??= zeros(layer.outFeatures));
    const tensors = layerInputs(net, l);
    const inputs = tensors.map((_, i) => inputOf(net, fwd, l, i));
    const outs = step({ l, R, inputs, Z: fwd.pre[l - from] });
    tensors.forEach((t, i) => {
      if (t < from - 1) return;
      const j = t - from + 1;
      // Layer `from` alone reads X; another reader of tensor from−1 (a skip) read the original value, so its share stays above the cut.
      if (j === 0 && l !== from && fwd.base?.[t]) return;
      const prev = rel[j];
      rel[j] = prev ? ops.add(prev, outs[i]) : outs[i];
    });
  }
  rel[0] ??= zeros(fwd.act[0].cols);
  return rel as M[];
}

/**
 * The join layers' relevance rules (add: Norm; concat: slices; affine: the
 * gradient), shared by every method. Returns null for other layer kinds.
 */
export function joinRelevance<M extends Mat>(mats: NetMats<M>, s: BackwardStep<M>): M[] | null {
  const { ops } = mats;
  const layer = mats.layer(s.l);
  if (layer.kind === 'add') {
    const c = ops.divStabilized(s.R, s.Z, LRP_STABILIZER);
    return s.inputs.map((a) => ops.mul(a, c));
  }
  if (layer.kind === 'concat') {
    let off = 0;
    return layer.parts.map((n) => ops.sliceCols(s.R, off, (off += n)));
  }
  if (layer.kind === 'affine') return [ops.mul(s.R, mats.W(s.l))];
  return null;
}

/** How a layer without a selectable rule passes relevance, as results and the CLI name it (null for layers that take a rule). */
export function fixedRuleText(layer: Layer, method: 'lrp' | 'dtd' = 'lrp'): string | null {
  switch (layer.kind) {
    case 'maxpool2d':
      return 'max pool: winner takes all';
    case 'avgpool2d':
      return method === 'lrp' ? 'avg pool: proportional (Norm)' : 'avg pool: proportional (z+)';
    case 'add':
      return 'add: proportional to each input (Norm)';
    case 'concat':
      return 'concat: each input gets its channels';
    case 'affine':
      return 'affine: gradient (scale × R)';
    default:
      return null;
  }
}
