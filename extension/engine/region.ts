// Exact local linear regions of ReLU networks. Inside the region of a point a
// (the input of layer l), every pre-activation of layers l..L is an affine
// function of the layer input, z_k(a') = M_k·a' + c_k, with
//   M_l = W_l, c_l = b_l,   M_{k+1} = (W_{k+1} ⊙ p_kᵀ)·M_k,  c_{k+1} = W_{k+1}(p_k ⊙ c_k) + b_{k+1}
// (p_k = the ReLU on/off pattern at a). Keeping every unit on its side gives
// the polytope {a' : A·a' ≤ rhs}. Membership is then exact — no tolerance on
// gradients — and the distance to the boundary along a direction, with the
// constraint (layer, unit) crossed first, is a ratio test. The chain runs on
// the Ops interface (exact float64, or float32 through TensorFlow.js).

import type { DenseNetwork } from './network';
import type { Mat, Ops } from './ops/ops';
import { NetMats } from './forward';
import { TypedOps } from './ops/typed';

export interface ConstraintLabel {
  /** 1-based layer of the unit whose sign this row keeps (or whose relevance sign, or the input domain). */
  layer: number;
  unit: number;
  kind: 'activation' | 'relevance-sign' | 'domain';
  /** activation: the unit is on (z > 0) at the reference point; relevance-sign: the unit carries positive relevance. */
  on: boolean;
}

export interface Polytope {
  /** Dimension of the space (the width of the layer input). */
  n: number;
  rows: number;
  /** Row-major [rows, n]: A·a' ≤ rhs. */
  A: Float64Array;
  rhs: Float64Array;
  labels: ConstraintLabel[];
}

export interface Region extends Polytope {
  /** The layer (1-based) whose input space this is. */
  layer: number;
  /** pre[k-l]: M_k [m_k, n] and c_k [m_k] for k = l..L, the affine maps of the pre-activations in the region. */
  maps: { M: Float64Array; c: Float64Array; m: number }[];
  /** Activation pattern at the reference point, layers l..L. */
  pattern: Uint8Array[];
}

/**
 * Units of the last layer that define the region: the explained output only
 * when one is named (the root checks: another output turning off is not a
 * region change for the explained one), else the selected outputs, or all.
 */
function lastLayerUnits(net: DenseNetwork, explainedRow?: number): [number, number] {
  if (explainedRow !== undefined) return [explainedRow, explainedRow + 1];
  const last = net.layers[net.layers.length - 1];
  return net.outputSelection ? [net.outputSelection.start, net.outputSelection.stop] : [0, last.outFeatures];
}

/**
 * The local linear region of point a in the input space of layer l: one
 * constraint per ReLU unit of layers l..L (a linear last layer adds none).
 */
export function localLinearRegion<M extends Mat>(ops: Ops<M>, net: DenseNetwork, l: number, a: ArrayLike<number>, mats?: NetMats<M>, explainedRow?: number): Region {
  const own = !mats;
  const nm = mats ?? new NetMats(ops, net);
  const n = net.layers[l - 1].inFeatures;
  const L = net.layers.length;
  let Mk = nm.W(l);
  let ck = ops.add(ops.matmul(ops.matrix(1, n, a), nm.W(l), true), nm.b(l)); // z_l(a) = c_l + W_l a
  // The maps are needed with c_k (the offset at a' = 0), so keep c separately: c_l = b_l.
  let cOff = nm.b(l);
  const maps: Region['maps'] = [];
  const pattern: Uint8Array[] = [];
  const rowsA: number[][] = [];
  const rhs: number[] = [];
  const labels: ConstraintLabel[] = [];
  for (let k = l; k <= L; k++) {
    const layer = net.layers[k - 1];
    const m = layer.outFeatures;
    const Mv = ops.read(Mk);
    const cv = ops.read(cOff);
    const zv = ops.read(ck);
    maps.push({ M: Mv, c: cv, m });
    const p = new Uint8Array(m);
    for (let j = 0; j < m; j++) p[j] = zv[j] > 0 ? 1 : 0;
    pattern.push(p);
    if (layer.activation === 'relu') {
      const [u0, u1] = k === L ? lastLayerUnits(net, explainedRow) : [0, m];
      for (let j = u0; j < u1; j++) {
        // on: z ≥ 0 ⇔ −M_j a' ≤ c_j;  off: z ≤ 0 ⇔ M_j a' ≤ −c_j
        const s = p[j] ? -1 : 1;
        const row = new Array<number>(n);
        for (let i = 0; i < n; i++) row[i] = s * Mv[j * n + i];
        rowsA.push(row);
        rhs.push(-s * cv[j]);
        labels.push({ layer: k, unit: j, kind: 'activation', on: p[j] === 1 });
      }
    }
    if (k < L) {
      const pRow = ops.matrix(1, m, layer.activation === 'relu' ? p : new Float64Array(m).fill(1));
      const Wn = nm.W(k + 1);
      const Wp = ops.mul(Wn, pRow); // columns of W_{k+1} scaled by the pattern
      const nextM = ops.matmul(Wp, Mk, false);
      const nextC = ops.add(ops.matmul(ops.mul(cOff, pRow), Wn, true), nm.b(k + 1));
      const nextZ = ops.add(ops.matmul(ops.mul(ck, pRow), Wn, true), nm.b(k + 1));
      if (k > l) ops.dispose(Mk);
      ops.dispose(Wp, pRow);
      Mk = nextM;
      cOff = nextC;
      ck = nextZ;
    }
  }
  if (own) nm.dispose();
  const A = new Float64Array(rowsA.length * n);
  rowsA.forEach((r, i) => A.set(r, i * n));
  return { n, rows: rowsA.length, A, rhs: Float64Array.from(rhs), labels, layer: l, maps, pattern };
}

/** Adds rows to a polytope (e.g. the input domain or relevance signs). */
export function withRows(p: Polytope, rows: { a: ArrayLike<number>; rhs: number; label: ConstraintLabel }[]): Polytope {
  const A = new Float64Array((p.rows + rows.length) * p.n);
  A.set(p.A);
  const rhs = new Float64Array(p.rows + rows.length);
  rhs.set(p.rhs);
  rows.forEach((r, i) => {
    A.set(r.a, (p.rows + i) * p.n);
    rhs[p.rows + i] = r.rhs;
  });
  return { ...p, rows: p.rows + rows.length, A, rhs, labels: [...p.labels, ...rows.map((r) => r.label)] };
}

/** Domain rows: a' ≥ low (and ≤ high) per coordinate; scalars or per-coordinate arrays; undefined sides are skipped. */
export function domainRows(n: number, layer: number, low?: number | ArrayLike<number>, high?: number | ArrayLike<number>) {
  const out: { a: Float64Array; rhs: number; label: ConstraintLabel }[] = [];
  for (let i = 0; i < n; i++) {
    if (low !== undefined) {
      const a = new Float64Array(n);
      a[i] = -1;
      out.push({ a, rhs: -(typeof low === 'number' ? low : low[i]), label: { layer, unit: i, kind: 'domain', on: false } });
    }
    if (high !== undefined) {
      const a = new Float64Array(n);
      a[i] = 1;
      out.push({ a, rhs: typeof high === 'number' ? high : high[i], label: { layer, unit: i, kind: 'domain', on: true } });
    }
  }
  return out;
}

/** Slack rhs − A·p per row (≥ 0 inside). */
export function slack(p: Polytope, x: ArrayLike<number>): Float64Array {
  const s = new Float64Array(p.rows);
  for (let r = 0; r < p.rows; r++) {
    let v = p.rhs[r];
    const o = r * p.n;
    for (let i = 0; i < p.n; i++) v -= p.A[o + i] * x[i];
    s[r] = v;
  }
  return s;
}

export interface Membership {
  inside: boolean;
  /** The most violated constraint (negative slack), or null when inside. */
  violated: ConstraintLabel | null;
  minSlack: number;
}

/**
 * Exact membership: every constraint holds. `tol` absorbs float64 rounding
 * only (scaled by the row's size), default 1e-12.
 */
export function contains(p: Polytope, x: ArrayLike<number>, tol = 1e-12): Membership {
  const s = slack(p, x);
  let worst = Infinity;
  let idx = -1;
  for (let r = 0; r < p.rows; r++) {
    let scale = Math.abs(p.rhs[r]);
    const o = r * p.n;
    for (let i = 0; i < p.n; i++) scale += Math.abs(p.A[o + i] * x[i]);
    const rel = s[r] + tol * Math.max(scale, 1e-300);
    if (rel < 0 && s[r] < worst) {
      worst = s[r];
      idx = r;
    }
  }
  let minSlack = Infinity;
  for (const v of s) minSlack = Math.min(minSlack, v);
  return { inside: idx < 0, violated: idx < 0 ? null : p.labels[idx], minSlack };
}

export interface Chord {
  /** x + t·d is inside for t in [tMin, tMax] (tMin ≤ 0 ≤ tMax when x is inside). */
  tMin: number;
  tMax: number;
  /** The constraints crossed first going forward / backward (null: unbounded). */
  exitForward: ConstraintLabel | null;
  exitBackward: ConstraintLabel | null;
}

/** The chord of the polytope through x along d: a ratio test over all rows. */
export function chord(p: Polytope, x: ArrayLike<number>, d: ArrayLike<number>): Chord {
  let tMax = Infinity, tMin = -Infinity;
  let fwd = -1, bwd = -1;
  for (let r = 0; r < p.rows; r++) {
    const o = r * p.n;
    let ad = 0, ax = 0;
    for (let i = 0; i < p.n; i++) {
      ad += p.A[o + i] * d[i];
      ax += p.A[o + i] * x[i];
    }
    const room = p.rhs[r] - ax;
    if (ad > 0) {
      const t = room / ad;
      if (t < tMax) {
        tMax = t;
        fwd = r;
      }
    } else if (ad < 0) {
      const t = room / ad;
      if (t > tMin) {
        tMin = t;
        bwd = r;
      }
    }
  }
  return { tMin, tMax, exitForward: fwd < 0 ? null : p.labels[fwd], exitBackward: bwd < 0 ? null : p.labels[bwd] };
}


export function describeConstraint(c: ConstraintLabel | null, layerNames: string[]): string {
  if (!c) return 'none (unbounded)';
  const name = layerNames[c.layer - 1] ?? `layer${c.layer}`;
  if (c.kind === 'activation') return `${name} unit ${c.unit} turns ${c.on ? 'off' : 'on'}`;
  if (c.kind === 'relevance-sign') return `${name} unit ${c.unit}'s relevance changes sign`;
  return `input ${c.unit} leaves the domain (${c.on ? 'upper' : 'lower'} bound)`;
}

/**
 * For a root r outside the region of its layer input a: the first constraint
 * crossed on the segment a → r, in words, with how far along it lies. Null
 * when the whole segment stays inside.
 */
export function firstCrossing(net: DenseNetwork, l: number, a: ArrayLike<number>, r: ArrayLike<number>, explainedRow: number): string | null {
  return crossingIn(localLinearRegion(new TypedOps('float64'), net, l, a, undefined, explainedRow), net, a, r);
}

/** firstCrossing with the region of a computed once by the caller (many roots of one layer input). */
export function crossingIn(region: Polytope, net: DenseNetwork, a: ArrayLike<number>, r: ArrayLike<number>): string | null {
  const d = Float64Array.from(r, (v, i) => v - a[i]);
  const c = chord(region, a, d);
  if (!(c.tMax < 1)) return null;
  return `${describeConstraint(c.exitForward, net.layers.map((x) => x.name))} at ${(100 * Math.max(0, c.tMax)).toFixed(1)} % of the way from the input to the root`;
}
