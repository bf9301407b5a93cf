// Train-free DTD, batched over inputs through the Ops interface: each layer
// passes the relevance of the layer above down with its rule's analytic root,
// treating the upper relevance as constant (fixtures README §5). Closed forms
// (each rule's record in rules/registry.ts), per layer, with C = R / (v·w)
// (0 where the unit has no root):
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
// positive weights: a_i·R_j/(n·mean_j)).

import { DtdError } from './errors';
import { biasRow, linearForward, linearTranspose, poolGeom, weightDims } from './layers';
import { isPool, materializeDense, type Layer, type Network } from './network';
import type { Mat, Ops } from './ops/ops';
import { pseudoInverse } from './linalg';
import { boundAt, NO_ROOT_EPS } from './rules';
import { dtdKernels } from './rules/registry';
import type { RuleSpec } from '../protocol';

/** A dense layer's pinv/colSums need the dense matrix; conv layers above this many weights refuse (memory). */
const MAX_MATERIALIZED = 4e6;

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
    if (L.kind !== 'dense' && L.kind !== 'conv2d') throw new DtdError('internal', `layer '${L.name}' (${L.kind}) has no weights`);
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
    if (L.kind === 'maxpool2d') throw new DtdError('unsupported', `The pinv rule needs a fixed weight matrix; max pooling '${L.name}' has none.`);
    if (L.inFeatures * L.outFeatures > MAX_MATERIALIZED) {
      throw new DtdError('too-costly', `The pinv rule on '${L.name}' needs its ${L.outFeatures}×${L.inFeatures} dense matrix (${(L.inFeatures * L.outFeatures).toExponential(2)} values, limit ${MAX_MATERIALIZED.toExponential(0)}); use another rule for this layer.`);
    }
    return materializeDense(L);
  }
  pinvT(l: number): M {
    // pinv(W) is [in, out]; we need R·pinv(W)ᵀ = R[B,out] · pinv(W)ᵀ[out,in] → store pinv(W) and use transposeB.
    return this.get(`pinv${l}`, () => {
      const D = this.dense(l);
      return this.ops.matrix(D.inFeatures, D.outFeatures, pseudoInverse(D.weight, D.outFeatures, D.inFeatures));
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
    const perChannel = Array.isArray(b) && b.length !== n && layer.kind !== 'dense' && b.length === layer.inShape[0];
    const hw = layer.kind !== 'dense' ? layer.inShape[1] * layer.inShape[2] : 1;
    const v = Float64Array.from({ length: n }, (_, i) => boundAt(b, perChannel ? Math.floor(i / hw) : i, dflt));
    return this.get(`${key}${l}:${JSON.stringify(b ?? dflt)}`, () => this.ops.matrix(1, n, v));
  }
  dispose(): void {
    this.ops.dispose(...this.cache.values());
    this.cache.clear();
  }
}

export interface BatchForward<M extends Mat> {
  /** pre[l-1] = Z_l [B, n_l]; act[l] = A_l, act[0] = X. */
  pre: M[];
  act: M[];
}

/** Layer l's pre-activation for a batch: affine for dense/conv, the real maximum or the mean for pooling. */
export function layerPre<M extends Mat>(mats: NetMats<M>, l: number, A: M): M {
  const { ops } = mats;
  const layer = mats.layer(l);
  if (layer.kind === 'maxpool2d') return ops.maxPool2d(A, poolGeom(layer));
  if (layer.kind === 'avgpool2d') return ops.avgPool2d(A, poolGeom(layer));
  return ops.add(mats.fwd(l, A, mats.W(l)), mats.b(l));
}

export function forwardBatch<M extends Mat>(mats: NetMats<M>, X: M, from = 1): BatchForward<M> {
  const { ops, net } = mats;
  const pre: M[] = [];
  const act: M[] = [X];
  for (let l = from; l <= net.layers.length; l++) {
    const z = layerPre(mats, l, act[act.length - 1]);
    pre.push(z);
    act.push(net.layers[l - 1].activation === 'relu' ? ops.relu(z) : z);
  }
  return { pre, act };
}

export interface TrainFreeBatch<M extends Mat> {
  /** relevance[l] [B, n_l] for l = from-1..L (index 0 = input of layer `from`). */
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
  const relevance: M[] = new Array(L - from + 2);
  const rootCounts: Int32Array[] = new Array(L - from + 1);
  relevance[L - from + 1] = top;
  for (let l = L; l >= from; l--) {
    const A = fwd.act[l - from];
    const R = relevance[l - from + 1];
    const rule = rules[l - 1];
    const layer = net.layers[l - 1];
    let Rin: M;
    let D: M | null = null;
    const unitMask = l === L ? participating : null;
    if (isPool(layer)) {
      if (layer.kind === 'maxpool2d') {
        // DTD's max pooling: the whole relevance of a window goes to its (first) maximal input.
        Rin = ops.maxPool2dBackward(R, A, poolGeom(layer));
      } else {
        // Average pooling is a linear layer with positive weights: z+ is the proportional split a_i·R_j/(n·mean_j).
        D = fwd.pre[l - from];
        const C = ops.divOrZero(R, D, NO_ROOT_EPS);
        Rin = ops.mul(A, mats.bwd(l, C, null));
      }
      relevance[l - from] = Rin;
      rootCounts[l - from] = countRoots(ops, D, unitMask, A.rows, layer.outFeatures);
      continue;
    }
    // The rule's closed form, from its record in the rule registry.
    const step = dtdKernels(rule.name).trainFree({ mats, l, A, R, rule, unitMask });
    Rin = step.relevance;
    D = step.denominator;
    relevance[l - from] = Rin;
    rootCounts[l - from] = countRoots(ops, D, unitMask, A.rows, layer.outFeatures);
  }
  return { relevance, rootCounts };
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
