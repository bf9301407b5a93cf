// Locality of the train-free root checks (explainBatch.ts trainFreeRoots). A
// unit j of a conv layer l is checked by running its root through the layers
// above and train-free back down to tensor l, where only R_l[j] is read. Going
// down, the relevance that reaches unit j passes only through its upward cone:
// the units of layer l+1 whose receptive field holds j's position, the units of
// layer l+2 whose field meets those, and so on. So from the lowest layer above
// l whose cone is not the whole map down to l+1, the backward step runs on a
// window: the cone's units (every channel) as the layer's outputs and the input
// patch they read. The same rule kernels run on the window (a layer object with
// the cropped geometry; CropMats shares the weight matrices), so the result is
// the full pass's, restricted to what reaches j. The forward pass stays whole:
// a root changes its whole layer input (a z+, x, γ or zB direction is non-zero
// wherever a ≠ 0, also where the unit's weight is 0), and every layer above
// reads it.
//
// Windows apply on a chain of conv2d / pooling layers whose tensors have one
// reader each (no skip connection leaves or enters the cone), below the last
// layer, with rules whose kernels read only the layer's geometry (not pinv, not
// zB with one bound per unit); elsewhere the pass is the whole layer's.

import { NetMats } from './forward';
import { layerInputs, type Conv2dLayer, type Layer, type Network, type Pool2dLayer } from './network';
import type { Mat } from './ops/ops';
import { dtdRuleAt } from './rules';
import { trainFreeLayerStep } from './trainFree';
import type { RuleSpec } from '../protocol';

/** A conv layer is run on its cone's window only when the window holds at most this share of its map (a window's own cost is a few small passes). */
export const MAX_CONE_SHARE = 0.5;

/** Rows [y0, y1) × columns [x0, x1) of a map, every channel. */
export interface Window {
  y0: number;
  y1: number;
  x0: number;
  x1: number;
}

type Spatial = Conv2dLayer | Pool2dLayer;

function windowArea(w: Window): number {
  return Math.max(0, w.y1 - w.y0) * Math.max(0, w.x1 - w.x0);
}

/** Whether layer k's backward step can run on a window (see the header). */
function croppable(net: Network, rules: readonly RuleSpec[], k: number, readers: number[]): boolean {
  const L = net.layers.length;
  const layer = net.layers[k - 1];
  if (k >= L) return false;
  const ins = layerInputs(net, k);
  if (ins.length !== 1 || ins[0] !== k - 1 || readers[k - 1] !== 1) return false;
  if (layer.kind === 'maxpool2d') return true;
  if (layer.kind === 'avgpool2d') return !layer.countIncludePad || layer.padding.every((p) => p === 0);
  if (layer.kind !== 'conv2d') return false;
  const rule = dtdRuleAt(net, rules, k);
  if (rule.name === 'pinv') return false;
  if (rule.name === 'zB') {
    const perChannel = (b: RuleSpec['low']) => b === undefined || typeof b === 'number' || (b.length === layer.inShape[0] && b.length !== layer.inFeatures);
    return perChannel(rule.low) && perChannel(rule.high);
  }
  return true;
}

/**
 * The highest layer K such that layers l+1..K can run their backward step on a
 * window for the roots of layer l (l itself with a [C, H, W] output); l when
 * none can.
 */
export function coneTop(net: Network, rules: readonly RuleSpec[], l: number): number {
  const layer = net.layers[l - 1];
  if (layer.kind !== 'conv2d' && layer.kind !== 'convtranspose2d') return l;
  const readers = new Array(net.layers.length + 1).fill(0);
  for (let k = 1; k <= net.layers.length; k++) for (const t of layerInputs(net, k)) readers[t]++;
  if (readers[l] !== 1) return l;
  let K = l;
  while (croppable(net, rules, K + 1, readers)) K++;
  // Windows pay where a conv layer's cone is well inside its map; pooling layers above the last such layer stay whole.
  const shares = coneShares(net, l, K);
  while (K > l && !(net.layers[K - 1].kind === 'conv2d' && shares[K - l - 1] <= MAX_CONE_SHARE)) K--;
  return K;
}

/** The outputs of layer `layer` (rows or columns, one axis) whose taps meet [lo, hi) of its input, clipped to the map. */
function axisOut(lo: number, hi: number, k: number, s: number, p: number, d: number, out: number): [number, number] {
  const o0 = Math.max(0, Math.ceil((lo + p - (k - 1) * d) / s));
  const o1 = Math.min(out, Math.floor((hi - 1 + p) / s) + 1);
  return [o0, Math.max(o0, o1)];
}

function dilationOf(layer: Spatial): [number, number] {
  return layer.kind === 'conv2d' || layer.kind === 'convtranspose2d' ? layer.dilation : [1, 1];
}

/**
 * The cone of the unit at (y, x) of tensor l: windows[k − l] of tensor k for
 * k = l..K (every channel). A window may be empty (a position no unit above
 * reads, such as the rows a floor-mode pooling drops).
 */
export function coneWindows(net: Network, l: number, K: number, y: number, x: number): Window[] {
  const out: Window[] = [{ y0: y, y1: y + 1, x0: x, x1: x + 1 }];
  for (let k = l + 1; k <= K; k++) {
    const layer = net.layers[k - 1] as Spatial;
    const w = out[out.length - 1];
    const [dh, dw] = dilationOf(layer);
    const [y0, y1] = axisOut(w.y0, w.y1, layer.kernel[0], layer.stride[0], layer.padding[0], dh, layer.outShape[1]);
    const [x0, x1] = axisOut(w.x0, w.x1, layer.kernel[1], layer.stride[1], layer.padding[1], dw, layer.outShape[2]);
    out.push({ y0, y1, x0, x1 });
  }
  return out;
}

/** The share of layer k's output map inside the cone of a central unit of layer l (the cost model's estimate), k = l+1..K. */
export function coneShares(net: Network, l: number, K: number): number[] {
  const layer = net.layers[l - 1] as Conv2dLayer;
  const [, H, W] = layer.outShape;
  const wins = coneWindows(net, l, K, Math.floor(H / 2), Math.floor(W / 2));
  return wins.slice(1).map((w, i) => {
    const [, OH, OW] = (net.layers[l + i] as Spatial).outShape;
    return windowArea(w) / (OH * OW);
  });
}

/**
 * Layer k restricted to its outputs in `win`: the input patch its taps read
 * (clipped to the map, with the padding that is left) and the cropped layer.
 */
function cropLayer(layer: Spatial, win: Window): { layer: Spatial; patch: Window } {
  const [C, H, W] = layer.inShape;
  const O = layer.outShape[0];
  const [kh, kw] = layer.kernel;
  const [sh, sw] = layer.stride;
  const [pt, pl] = layer.padding;
  const [dh, dw] = dilationOf(layer);
  const oh = win.y1 - win.y0, ow = win.x1 - win.x0;
  const first = [win.y0 * sh - pt, win.x0 * sw - pl];
  const patch: Window = {
    y0: Math.max(0, first[0]),
    y1: Math.min(H, (win.y1 - 1) * sh - pt + (kh - 1) * dh + 1),
    x0: Math.max(0, first[1]),
    x1: Math.min(W, (win.x1 - 1) * sw - pl + (kw - 1) * dw + 1),
  };
  const ph = patch.y1 - patch.y0, pw = patch.x1 - patch.x0;
  const top = patch.y0 - first[0], left = patch.x0 - first[1];
  const bottom = Math.max(0, (oh - 1) * sh + (kh - 1) * dh + 1 - top - ph);
  const right = Math.max(0, (ow - 1) * sw + (kw - 1) * dw + 1 - left - pw);
  const cropped = {
    ...layer,
    inShape: [C, ph, pw],
    outShape: [O, oh, ow],
    inFeatures: C * ph * pw,
    outFeatures: O * oh * ow,
    padding: [top, left, bottom, right],
  } as Spatial;
  return { layer: cropped, patch };
}

/** Rows `rows` of a [B, C·H·W] tensor, cut to the window (positions outside the map are 0). */
export function cropRows(data: ArrayLike<number>, shape: readonly number[], rows: readonly number[], win: Window, off: Window = { y0: 0, y1: shape[1], x0: 0, x1: shape[2] }): Float64Array {
  const [C, H, W] = shape;
  const h = win.y1 - win.y0, w = win.x1 - win.x0;
  const n = C * H * W, m = C * h * w;
  const out = new Float64Array(rows.length * m);
  rows.forEach((r, b) => {
    for (let c = 0; c < C; c++) {
      for (let y = win.y0; y < win.y1; y++) {
        const sy = y - off.y0;
        if (sy < 0 || sy >= H) continue;
        const o = b * m + (c * h + (y - win.y0)) * w - win.x0;
        const i = r * n + (c * H + sy) * W - off.x0;
        for (let x = Math.max(win.x0, off.x0); x < Math.min(win.x1, off.x0 + W); x++) out[o + x] = data[i + x];
      }
    }
  });
  return out;
}

/** NetMats whose layers in `crops` have a cropped geometry; weight matrices come from the whole network's (they do not depend on the map's size). */
class CropMats<M extends Mat> extends NetMats<M> {
  constructor(
    private readonly whole: NetMats<M>,
    private readonly crops: Map<number, Layer>,
  ) {
    super(whole.ops, whole.net);
  }
  override layer(l: number): Layer {
    return this.crops.get(l) ?? super.layer(l);
  }
  override W(l: number): M {
    return this.whole.W(l);
  }
  override Wpos(l: number): M {
    return this.whole.Wpos(l);
  }
  override Wneg(l: number): M {
    return this.whole.Wneg(l);
  }
  override Wsq(l: number): M {
    return this.whole.Wsq(l);
  }
  override Wgamma(l: number, g: number): M {
    return this.whole.Wgamma(l, g);
  }
  override WgammaNeg(l: number, g: number): M {
    return this.whole.WgammaNeg(l, g);
  }
}

/** What the cone pass of one batch reads: the batch's forward values as float64, the relevance at tensor K, and each row's unit. */
export interface ConeBatch {
  /** act[t − (l − 1)]: tensor t for t = l−1..K, [B, n_t] row-major. */
  act: Float64Array[];
  /** pre[k − l]: layer k's pre-activations for k = l..K. */
  pre: Float64Array[];
  /** The relevance at tensor K [B, n_K] (the whole pass above K). */
  relevanceTop: Float64Array;
  /** The unit of layer l each row checks. */
  units: number[];
}

/**
 * R_l[unit] for every row of the batch: the train-free pass from tensor K down
 * to tensor l on the cone of each row's unit, rows of one position together.
 */
export function coneRelevance<M extends Mat>(mats: NetMats<M>, rules: RuleSpec[], l: number, K: number, batch: ConeBatch): Float64Array {
  const { ops, net } = mats;
  const layerL = net.layers[l - 1] as Conv2dLayer;
  const [, H, W] = layerL.outShape;
  const HW = H * W;
  const shape = (t: number) => (t === l ? layerL.outShape : (net.layers[t - 1] as Spatial).outShape);
  const out = new Float64Array(batch.units.length);
  const byPos = new Map<number, number[]>();
  batch.units.forEach((j, b) => {
    const p = j % HW;
    const g = byPos.get(p);
    if (g) g.push(b);
    else byPos.set(p, [b]);
  });
  for (const [p, rows] of byPos) {
    const wins = coneWindows(net, l, K, Math.floor(p / W), p % W);
    if (wins.some((w) => windowArea(w) === 0)) continue; // nothing above reads this position: its relevance is 0
    const crops = new Map<number, Layer>();
    const patches: Window[] = [];
    for (let k = l + 1; k <= K; k++) {
      const c = cropLayer(net.layers[k - 1] as Spatial, wins[k - l]);
      crops.set(k, c.layer);
      patches[k] = c.patch;
    }
    const cm = new CropMats(mats, crops);
    let R = cropRows(batch.relevanceTop, shape(K), rows, wins[K - l]);
    for (let k = K; k > l; k--) {
      const cl = crops.get(k) as Spatial;
      const A = ops.matrix(rows.length, cl.inFeatures, cropRows(batch.act[k - l], (net.layers[k - 1] as Spatial).inShape, rows, patches[k]));
      const Z = ops.matrix(rows.length, cl.outFeatures, cropRows(batch.pre[k - l], shape(k), rows, wins[k - l]));
      const Rm = ops.matrix(rows.length, cl.outFeatures, R);
      const step = trainFreeLayerStep(cm, rules, null, { l: k, R: Rm, inputs: [A], Z });
      const below = ops.read(step.out[0]);
      ops.dispose(A, Z, Rm, ...step.out, ...(step.denominator ? [step.denominator] : []));
      // The relevance on the patch, cut to the cone's window of tensor k − 1.
      const pw = patches[k];
      R = cropRows(below, [cl.inShape[0], pw.y1 - pw.y0, pw.x1 - pw.x0], rows.map((_, b) => b), wins[k - 1 - l], pw);
    }
    cm.dispose();
    // One position, every channel: row b's unit is channel ⌊j / HW⌋.
    const C = layerL.outShape[0];
    rows.forEach((r, b) => {
      out[r] = R[b * C + Math.floor(batch.units[r] / HW)];
    });
  }
  return out;
}
