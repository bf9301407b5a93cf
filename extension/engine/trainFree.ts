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

import { DtdError } from './errors';
import type { DenseNetwork as Network } from './network';
import type { Mat, Ops } from './ops/ops';
import { pseudoInverse } from './linalg';
import { boundAt, DEFAULT_GAMMA, NO_ROOT_EPS } from './rules';
import type { RuleSpec } from './types';

/** Per-network matrices in the ops' representation, made once and reused across calls. */
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
  W(l: number): M {
    const L = this.net.layers[l - 1];
    return this.get(`W${l}`, () => this.ops.matrix(L.outFeatures, L.inFeatures, L.weight));
  }
  b(l: number): M {
    const L = this.net.layers[l - 1];
    return this.get(`b${l}`, () => this.ops.matrix(1, L.outFeatures, L.bias));
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
  Wgamma(l: number, g: number): M {
    return this.get(`Wg${l}:${g}`, () => this.ops.add(this.W(l), this.ops.scale(this.Wpos(l), g)));
  }
  /** Σ_i w_ji² as a [1, out] row. */
  WsqRowSums(l: number): M {
    const L = this.net.layers[l - 1];
    return this.get(`Wsqs${l}`, () => {
      const s = new Float64Array(L.outFeatures);
      for (let j = 0; j < L.outFeatures; j++) for (let i = 0; i < L.inFeatures; i++) s[j] += L.weight[j * L.inFeatures + i] ** 2;
      return this.ops.matrix(1, L.outFeatures, s);
    });
  }
  pinvT(l: number): M {
    const L = this.net.layers[l - 1];
    // pinv(W) is [in, out]; we need R·pinv(W)ᵀ = R[B,out] · pinv(W)ᵀ[out,in] → store pinv(W) and use transposeB.
    return this.get(`pinv${l}`, () => this.ops.matrix(L.inFeatures, L.outFeatures, pseudoInverse(L.weight, L.outFeatures, L.inFeatures)));
  }
  colSums(l: number): M {
    const L = this.net.layers[l - 1];
    return this.get(`cs${l}`, () => {
      const s = new Float64Array(L.inFeatures);
      for (let j = 0; j < L.outFeatures; j++) for (let i = 0; i < L.inFeatures; i++) s[i] += L.weight[j * L.inFeatures + i];
      return this.ops.matrix(1, L.inFeatures, s);
    });
  }
  boundRow(key: 'low' | 'high', l: number, rule: RuleSpec): M {
    const n = this.net.layers[l - 1].inFeatures;
    const dflt = key === 'low' ? 0 : 1;
    const v = Float64Array.from({ length: n }, (_, i) => boundAt(rule[key], i, dflt));
    return this.get(`${key}${l}:${JSON.stringify(rule[key] ?? dflt)}`, () => this.ops.matrix(1, n, v));
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

export function forwardBatch<M extends Mat>(mats: NetMats<M>, X: M, from = 1): BatchForward<M> {
  const { ops, net } = mats;
  const pre: M[] = [];
  const act: M[] = [X];
  for (let l = from; l <= net.layers.length; l++) {
    const z = ops.add(ops.matmul(act[act.length - 1], mats.W(l), true), mats.b(l));
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
    const W = mats.W(l);
    let Rin: M;
    let D: M | null = null;
    const unitMask = l === L ? participating : null;
    switch (rule.name) {
      case 'z+': {
        D = ops.matmul(A, mats.Wpos(l), true);
        const C = ops.divOrZero(R, D, NO_ROOT_EPS);
        Rin = ops.mul(A, ops.matmul(C, mats.Wpos(l), false));
        break;
      }
      case 'x': {
        D = ops.matmul(A, W, true);
        const C = ops.divOrZero(R, D, NO_ROOT_EPS);
        Rin = ops.mul(A, ops.matmul(C, W, false));
        break;
      }
      case 'gamma': {
        const Wg = mats.Wgamma(l, rule.gamma ?? DEFAULT_GAMMA);
        D = ops.matmul(A, Wg, true);
        const C = ops.divOrZero(R, D, NO_ROOT_EPS);
        Rin = ops.mul(A, ops.matmul(C, Wg, false));
        break;
      }
      case 'w2': {
        const rows = ops.matrix(A.rows, 1, new Float64Array(A.rows).fill(1));
        D = ops.matmul(rows, mats.WsqRowSums(l), false);
        const C = ops.divOrZero(R, D, NO_ROOT_EPS);
        Rin = ops.matmul(C, mats.Wsq(l), false);
        break;
      }
      case 'zB': {
        const lo = mats.boundRow('low', l, rule);
        const hi = mats.boundRow('high', l, rule);
        const shift = ops.add(ops.matmul(lo, mats.Wpos(l), true), ops.matmul(hi, mats.Wneg(l), true));
        D = ops.sub(ops.matmul(A, W, true), shift);
        const C = ops.divOrZero(R, D, NO_ROOT_EPS);
        Rin = ops.sub(
          ops.sub(ops.mul(A, ops.matmul(C, W, false)), ops.mul(ops.matmul(C, mats.Wpos(l), false), lo)),
          ops.mul(ops.matmul(C, mats.Wneg(l), false), hi),
        );
        break;
      }
      case '0': {
        const U = unitMask ?? ops.matrix(A.rows, W.rows, new Float64Array(A.rows * W.rows).fill(1));
        Rin = ops.mul(A, ops.matmul(U, W, false));
        break;
      }
      case 'pinv': {
        const delta = ops.matmul(R, mats.pinvT(l), true);
        Rin = ops.mul(delta, mats.colSums(l));
        break;
      }
      default:
        throw new DtdError('bad-usage', `Unknown rule '${(rule as RuleSpec).name}'.`);
    }
    relevance[l - from] = Rin;
    rootCounts[l - from] = countRoots(ops, D, unitMask, A.rows, W.rows);
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
