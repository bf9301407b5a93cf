// The forward pass, written once on the Ops interface: every algorithm runs
// the network through `forwardBatch` (batched, any backend) or, for exact
// per-point and per-candidate work, through the float64 wrappers below, which
// run the same code on typed float64 matrices (ops/typed.ts). NetMats holds a
// network's matrices in an Ops representation, made once and reused. The
// recursive full-backward keeps one per-layer affine map (`affine`) for its
// tens of thousands of 10-wide products (docs/engine.md).

import { DtdError } from './errors';
import { affineRow, biasRow, linearForward, linearTranspose, weightDims, poolGeom } from './layers';
import { layerInputs, materializeDense, type DenseLayer, type Layer, type Network } from './network';
import { activate, activateAt } from './activations';
import type { Mat, Ops } from './ops/ops';
import { TypedMat, TypedOps } from './ops/typed';
import { pseudoInverse } from './linalg';

/** pinv(W) [in, out] per layer, computed once (see NetMats.pinvT). */
const PINV_CACHE = new WeakMap<Layer, Float64Array>();
import { boundAt } from './rules';
import { quoteName, type RuleSpec } from '../protocol';

/** A dense layer's pinv/colSums need the dense matrix; conv layers above this many weights refuse (memory). */
const MAX_MATERIALIZED = 4e6;
/**
 * The pinv rule's pseudo-inverse is a Jacobi SVD of the layer's dense matrix: about min(m,n)²·max(m,n)
 * operations per sweep, measured at ~2.7e7 of those per second here (384×768: 4.2 s). Past this the rule is
 * refused for the layer before any work (a 2048×2048 conv layer would take minutes).
 */
export const MAX_PINV_WORK = 1.5e8;

/**
 * Per-network matrices in the ops' representation, made once and reused
 * across calls, and each layer's linear operator (layers.ts): dense layers
 * store [out, in] matrices, conv layers [O, C·kh·kw] kernels; the weight
 * variants are elementwise in either.
 */
export class NetMats<M extends Mat> {
  private cache = new Map<string, M>();
  constructor(
    readonly ops: Ops<M>,
    readonly net: Network,
  ) {}

  private get(key: string, make: () => M): M {
    let m = this.cache.get(key);
    if (!m) {
      m = make();
      this.cache.set(key, m);
    }
    return m;
  }
  layer(l: number): Layer {
    return this.net.layers[l - 1];
  }
  W(l: number): M {
    const L = this.layer(l);
    if (L.kind === 'affine') return this.get(`W${l}`, () => this.ops.matrix(1, L.outFeatures, affineRow(L, 'scale')));
    if (L.kind !== 'dense' && L.kind !== 'conv2d' && L.kind !== 'convtranspose2d') throw new DtdError('internal', `layer ${quoteName(L.name)} (${L.kind}) has no weights`);
    const [r, c] = weightDims(L);
    return this.get(`W${l}`, () => this.ops.matrix(r, c, L.weight));
  }
  /** The bias as a [1, out] row over every output unit. */
  b(l: number): M {
    const L = this.layer(l);
    return this.get(`b${l}`, () => this.ops.matrix(1, L.outFeatures, biasRow(L)));
  }
  Wpos(l: number): M {
    return this.get(`Wp${l}`, () => this.ops.positivePart(this.W(l)));
  }
  Wneg(l: number): M {
    return this.get(`Wn${l}`, () => this.ops.negativePart(this.W(l)));
  }
  Wsq(l: number): M {
    return this.get(`Wsq${l}`, () => this.ops.mul(this.W(l), this.W(l)));
  }
  /** W + γW⁺. */
  Wgamma(l: number, g: number): M {
    return this.get(`Wg${l}:${g}`, () => this.ops.add(this.W(l), this.ops.scale(this.Wpos(l), g)));
  }
  /** W + γW⁻. */
  WgammaNeg(l: number, g: number): M {
    return this.get(`Wgn${l}:${g}`, () => this.ops.add(this.W(l), this.ops.scale(this.Wneg(l), g)));
  }
  /** F(V, none, U): layer l's forward map with weights V (ignored for average pooling). */
  fwd(l: number, U: M, V: M | null): M {
    return linearForward(this.ops, this.layer(l), U, V);
  }
  /** Fᵀ(V, G). */
  bwd(l: number, G: M, V: M | null): M {
    return linearTranspose(this.ops, this.layer(l), G, V);
  }
  private ones(l: number): M {
    const n = this.layer(l).inFeatures;
    return this.get(`ones${l}`, () => this.ops.matrix(1, n, new Float64Array(n).fill(1)));
  }
  /** Σ_i w_ji² over unit j's inputs as a [1, out] row: F(W∘W, none, 1), so conv units at the border count only real taps. */
  WsqRowSums(l: number): M {
    return this.get(`Wsqs${l}`, () => this.fwd(l, this.ones(l), this.Wsq(l)));
  }
  private dense(l: number) {
    const L = this.layer(l);
    if (L.kind === 'maxpool2d' || L.kind === 'add' || L.kind === 'concat') throw new DtdError('unsupported', `The pinv rule needs a fixed weight matrix; ${L.kind} ${quoteName(L.name)} has none.`);
    if (L.inFeatures * L.outFeatures > MAX_MATERIALIZED) {
      throw new DtdError('too-costly', `The pinv rule on ${quoteName(L.name)} needs its ${L.outFeatures}×${L.inFeatures} dense matrix (${(L.inFeatures * L.outFeatures).toExponential(2)} values, limit ${MAX_MATERIALIZED.toExponential(0)}); use another rule for this layer.`);
    }
    const small = Math.min(L.inFeatures, L.outFeatures), big = Math.max(L.inFeatures, L.outFeatures);
    if (small * small * big > MAX_PINV_WORK) {
      throw new DtdError('too-costly', `The pinv rule on ${quoteName(L.name)} needs the pseudo-inverse of its ${L.outFeatures}×${L.inFeatures} matrix (${(small * small * big).toExponential(2)} operations per SVD sweep, limit ${MAX_PINV_WORK.toExponential(1)}: minutes); use another rule for this layer.`);
    }
    return materializeDense(L);
  }
  pinvT(l: number): M {
    // pinv(W) is [in, out]; we need R·pinv(W)ᵀ = R[B,out] · pinv(W)ᵀ[out,in] → store pinv(W) and use transposeB.
    return this.get(`pinv${l}`, () => {
      // The pseudo-inverse (a Jacobi SVD of the layer's dense matrix: seconds for a conv layer) is kept per layer
      // object, so the next run on the same model (the engine process, another precision or backend) reuses it.
      const layer = this.layer(l);
      let P = PINV_CACHE.get(layer);
      if (!P) {
        const D = this.dense(l);
        P = pseudoInverse(D.weight, D.outFeatures, D.inFeatures);
        PINV_CACHE.set(layer, P);
      }
      return this.ops.matrix(layer.inFeatures, layer.outFeatures, P);
    });
  }
  colSums(l: number): M {
    const L = this.layer(l);
    return this.get(`cs${l}`, () => {
      const D = this.dense(l);
      const s = new Float64Array(L.inFeatures);
      for (let j = 0; j < L.outFeatures; j++) for (let i = 0; i < L.inFeatures; i++) s[i] += D.weight[j * L.inFeatures + i];
      return this.ops.matrix(1, L.inFeatures, s);
    });
  }
  /** zB bounds as a [1, in] row: a scalar, one value per input unit, or (image inputs) one value per channel. */
  boundRow(key: 'low' | 'high', l: number, rule: RuleSpec): M {
    const layer = this.layer(l);
    const n = layer.inFeatures;
    const dflt = key === 'low' ? 0 : 1;
    const b = rule[key];
    const inShape = 'inShape' in layer ? layer.inShape : null;
    const perChannel = Array.isArray(b) && b.length !== n && !!inShape && b.length === inShape[0];
    const hw = inShape ? inShape[1] * inShape[2] : 1;
    const v = Float64Array.from({ length: n }, (_, i) => boundAt(b, perChannel ? Math.floor(i / hw) : i, dflt));
    return this.get(`${key}${l}:${JSON.stringify(b ?? dflt)}`, () => this.ops.matrix(1, n, v));
  }
  dispose(): void {
    this.ops.dispose(...this.cache.values());
    this.cache.clear();
  }
}

export interface BatchForward<M extends Mat> {
  /** pre[k] = Z of layer from+k [B, n]. */
  pre: M[];
  /** act[0] = the input of layer `from` (X), act[k+1] = the output of layer from+k. */
  act: M[];
  /** The first layer computed (1 for a whole forward pass). */
  from: number;
  /**
   * Tensors below `from` that layers at or above it read (skip connections),
   * by tensor index, as the rows' original values. Layer `from` itself reads X;
   * without a base every reader of tensor from−1 reads X.
   */
  base?: (M | undefined)[];
}

/** The matrix layer l reads as its i-th input within a forward pass that starts at layer fwd.from. */
export function inputOf<M extends Mat>(net: Network, fwd: BatchForward<M>, l: number, i = 0): M {
  const t = layerInputs(net, l)[i];
  const from = fwd.from;
  if (t >= from) return fwd.act[t - from + 1];
  if (t === from - 1 && (l === from || !fwd.base?.[t])) return fwd.act[0];
  const b = fwd.base?.[t];
  if (!b) throw new DtdError('internal', `layer ${quoteName(net.layers[l - 1].name)} reads tensor ${t}, below the forward pass's start (layer ${from}), and no value was given for it.`);
  return b;
}

/** Layer l's pre-activation from its input matrices: affine for dense/conv/affine, the real maximum or the mean for pooling, the sum or the channel blocks for joins. */
export function layerPre<M extends Mat>(mats: NetMats<M>, l: number, inputs: M[]): M {
  const { ops } = mats;
  const layer = mats.layer(l);
  const A = inputs[0];
  switch (layer.kind) {
    case 'maxpool2d':
      return ops.maxPool2d(A, poolGeom(layer));
    case 'avgpool2d':
      return ops.avgPool2d(A, poolGeom(layer));
    case 'add':
      return inputs.slice(1).reduce((s, m) => ops.add(s, m), A);
    case 'concat':
      return ops.concatCols(inputs);
    default:
      return ops.add(mats.fwd(l, A, mats.W(l)), mats.b(l));
  }
}

/** The forward pass of a batch X through layers from..L (X = the input of layer `from`; see BatchForward for what layers above read). */
export function forwardBatch<M extends Mat>(mats: NetMats<M>, X: M, from = 1, base?: (M | undefined)[]): BatchForward<M> {
  const { ops, net } = mats;
  const fwd: BatchForward<M> = { pre: [], act: [X], from, ...(base ? { base } : {}) };
  for (let l = from; l <= net.layers.length; l++) {
    const ins = layerInputs(net, l).map((_, i) => inputOf(net, fwd, l, i));
    const z = layerPre(mats, l, ins);
    fwd.pre.push(z);
    fwd.act.push(activate(ops, net.layers[l - 1], z));
  }
  return fwd;
}


const F64 = new TypedOps('float64');
const exact = new WeakMap<Network, NetMats<TypedMat>>();

/** The network's float64 matrices, made once per network object. */
export function exactMats(net: Network): NetMats<TypedMat> {
  let m = exact.get(net);
  if (!m) {
    m = new NetMats(F64, net);
    exact.set(net, m);
  }
  return m;
}

export interface Forward {
  /** pre[k] = pre-activations of layer from+k; act[0] = the input of layer `from`, act[k+1] = output of layer from+k. B rows each. */
  pre: Float64Array[];
  act: Float64Array[];
}

/** Layer l's pre-activations for B rows of its input (float64, exact). */
export function layerRows(net: Network, l: number, P: Float64Array, B: number): Float64Array {
  const z = layerPre(exactMats(net), l, [new TypedMat(B, net.layers[l - 1].inFeatures, P)]);
  return z.data as Float64Array;
}

/** The layer's activation applied to its pre-activations (B rows of the layer's outputs). */
export function activateRows(layer: Layer, Z: Float64Array): Float64Array {
  if (layer.activation === 'linear') return Z;
  const A = new Float64Array(Z.length);
  const n = layer.outFeatures;
  for (let i = 0; i < Z.length; i++) A[i] = activateAt(layer, i % n, Z[i]);
  return A;
}

/** Forward pass of B rows from the input of layer `from` (float64, exact). */
export function forwardRows(net: Network, from: number, P: Float64Array, B: number): Forward {
  const F = forwardBatch(exactMats(net), new TypedMat(B, net.layers[from - 1].inFeatures, P), from);
  return { pre: F.pre.map((z) => z.data as Float64Array), act: F.act.map((a) => a.data as Float64Array) };
}

/** Forward pass from the input of layer `from` (1-based) given that input. */
export function forwardFrom(net: Network, from: number, a: ArrayLike<number>): Forward {
  return forwardRows(net, from, Float64Array.from(a), 1);
}

export function forward(net: Network, x: ArrayLike<number>): Forward {
  return forwardFrom(net, 1, x);
}

/** The last layer's unit `row` computed from the input a of layer l. */
export function outputAt(net: Network, l: number, a: ArrayLike<number>, row: number): number {
  const f = forwardFrom(net, l, a);
  return f.act[f.act.length - 1][row];
}

/** Network outputs (after the output selection). */
export function outputs(net: Network, x: ArrayLike<number>): Float64Array {
  const f = forward(net, x);
  const last = f.act[f.act.length - 1];
  const sel = net.outputSelection;
  return sel ? last.slice(sel.start, sel.stop) : last;
}

// ── the recursive full-backward's per-layer pieces (one point, dense) ──────
export function affine(layer: DenseLayer, a: ArrayLike<number>, out = new Float64Array(layer.outFeatures)): Float64Array {
  const { weight: W, bias: b, inFeatures: n, outFeatures: m } = layer;
  for (let j = 0; j < m; j++) {
    let s = b[j];
    const o = j * n;
    for (let i = 0; i < n; i++) s += W[o + i] * a[i];
    out[j] = s;
  }
  return out;
}

/** relu'(z) with relu'(0) = 0; 1 for linear layers (the recursive full-backward works on ReLU/linear dense chains). */
export function activationSlope(layer: Layer, z: number): number {
  return layer.activation === 'linear' ? 1 : z > 0 ? 1 : 0;
}

export function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

export function sum(a: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i];
  return s;
}
