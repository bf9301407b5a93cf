// The polytope root finder and hit-and-run sampling, for full-backward DTD.
// Inside one piece of the input's region the upper relevance U_l is affine
// (the roots of the layers above are cached per activation region, and the
// set of units with positive relevance is fixed), so:
//   * the piece is a polytope: the activation constraints of layers l..L
//     (region.ts), the sign of every upper unit's relevance at the images of
//     the point, and the input domain (≥ 0 for ReLU outputs, the zB box);
//   * along the rule's search line r = a − t·v the unit's relevance is
//     U_j(a) − t·(g_j·v): its zero t₀ is exact, and the line leaves the piece
//     at t_max (a ratio test). The root is at min(t₀, t_max); the certificate
//     says which: an exact zero inside the piece, or the constraint that
//     stopped the line (then the relevance left at the root is reported).
// Hit-and-run (hitAndRun.ts) draws rejection-free samples inside the same polytope.

import { activationSlope } from '../forward';
import { TypedOps } from '../ops/typed';
import { chord, contains, domainRows, localLinearRegion, withRows, type ConstraintLabel, type Polytope } from '../region';
import { boundAt, direction } from '../rules';
import type { RegionRoots, SampledFullBackward, UnitRoot } from '../sampled';

export interface RootCertificate {
  /** 'zero': the unit's relevance is exactly 0 at the root, inside the piece; 'boundary': a constraint stopped the line first; 'no-descent': the relevance does not decrease along the rule's line. */
  kind: 'zero' | 'boundary' | 'no-descent';
  /** The constraint active at the root (boundary roots). */
  active: ConstraintLabel | null;
  /** Where the zero would be and where the piece ends, in units of the line parameter t. */
  tZero: number;
  tMax: number;
}

const f64 = new TypedOps('float64');

/**
 * The piece of the region of a (input of layer l) on which U_l is affine:
 * activation rows, relevance-sign rows of every upper layer, and the domain.
 */
export function piecePolytope(fb: SampledFullBackward, l: number, a: Float64Array): Polytope {
  const net = fb.net;
  const L = fb.L;
  const region = localLinearRegion(f64, net, l, a);
  const n = region.n;
  const rows: Parameters<typeof withRows>[1] = [];
  // Relevance signs: for m = l+1..L-1, U_m(h_{m-1}(a')) is affine on the piece with gradient slope·S·M_m[k].
  let h: Float64Array = a;
  for (let m = l; m < L; m++) {
    const layer = net.layers[m - 1];
    const Z = new Float64Array(layer.outFeatures);
    for (let j = 0; j < layer.outFeatures; j++) {
      let z = layer.bias[j];
      for (let i = 0; i < layer.inFeatures; i++) z += layer.weight[j * layer.inFeatures + i] * h[i];
      Z[j] = z;
    }
    h = layer.activation === 'relu' ? Z.map((z) => (z > 0 ? z : 0)) : Z;
    const up = m + 1;
    if (up >= L) break;
    // U_up at h (the input of layer up): values and the diagonal Jacobian of FB_{up+1}.
    const u = fb.U(up, h, 1);
    const upLayer = net.layers[up - 1];
    const map = region.maps[up - l];
    for (let k = 0; k < upLayer.outFeatures; k++) {
      const val = u.values[k];
      const coef = activationSlope(upLayer, u.Z[k]) * (u.diag ? u.diag[k] : 1);
      const grad = new Float64Array(n);
      for (let i = 0; i < n; i++) grad[i] = coef * map.M[k * n + i];
      // U(a') = val + grad·(a' − a): positive units keep U ≥ 0, the others U ≤ 0.
      let ga = 0;
      for (let i = 0; i < n; i++) ga += grad[i] * a[i];
      const on = val > 0;
      const s = on ? -1 : 1;
      rows.push({ a: grad.map((g) => s * g), rhs: on ? val - ga : ga - val, label: { layer: up, unit: k, kind: 'relevance-sign', on } });
    }
  }
  // Domain: ReLU outputs are ≥ 0; the network input follows the rule (zB box) or its sign.
  const rule = fb.rules[l - 1];
  if (rule?.name === 'zB') {
    rows.push(...domainRows(n, l, Float64Array.from({ length: n }, (_, i) => boundAt(rule.low, i, 0)), Float64Array.from({ length: n }, (_, i) => boundAt(rule.high, i, 1))));
  } else if (l > 1 || fb.opts.inputNonNegative) {
    rows.push(...domainRows(n, l, 0));
  }
  return withRows(region, rows);
}

/** Polytope roots of every unit of layer l at a (l = L: the explained row only). */
export function polytopeRoots(fb: SampledFullBackward, l: number, a: Float64Array): RegionRoots {
  const layer = fb.net.layers[l - 1];
  const n = layer.inFeatures;
  const poly = piecePolytope(fb, l, a);
  const u = fb.U(l, a, 1);
  const rule = fb.rules[l - 1] ?? { name: 'z+' as const };
  const eps = fb.opts.nudge ?? 1e-9;
  const roots: Float64Array[] = [];
  const certs: RootCertificate[] = [];
  const units: number[] = [];
  for (let idx = 0; idx < u.m; idx++) {
    const j = l === fb.L ? fb.row : idx;
    const w = layer.weight.subarray(j * n, (j + 1) * n);
    const f = activationSlope(layer, u.Z[j]) * (u.diag ? u.diag[idx] : 1);
    const R = u.values[idx];
    const v = rule.name === '0' || rule.name === 'pinv' ? Float64Array.from(a) : direction(rule, w, a, new Float64Array(n));
    let gv = 0;
    for (let i = 0; i < n; i++) gv += w[i] * f * v[i];
    const c = chord(poly, a, v.map((x) => -x));
    const tMax = Math.max(0, c.tMax);
    const tZero = R > 0 && gv > 0 ? R / gv : 0;
    let t: number;
    let cert: RootCertificate;
    if (!(R > 0 && gv > 0)) {
      t = 0;
      cert = { kind: 'no-descent', active: null, tZero, tMax };
    } else if (tZero <= tMax) {
      t = tZero;
      cert = { kind: 'zero', active: null, tZero, tMax };
    } else {
      t = tMax;
      cert = { kind: 'boundary', active: c.exitForward, tZero, tMax };
    }
    const r = new Float64Array(n);
    for (let i = 0; i < n; i++) r[i] = a[i] - t * v[i];
    // Every root moves a hair toward a (the nudge, as in full-backward with linear roots): a zero of the
    // last layer's relevance lies on that unit's own hinge, and gradients must be taken on the input's side.
    for (let i = 0; i < n; i++) r[i] += eps * (a[i] - r[i]);
    roots.push(r);
    certs.push(cert);
    units.push(j);
  }
  // Relevance and gradient at all roots in one batched evaluation.
  const B = roots.length;
  const P = new Float64Array(B * n);
  roots.forEach((r, s) => P.set(r, s * n));
  const ur = fb.U(l, P, B);
  const out: (UnitRoot | null)[] = [];
  for (let s = 0; s < B; s++) {
    const idx = s;
    const j = units[s];
    const f = activationSlope(layer, ur.Z[s * layer.outFeatures + j]) * (ur.diag ? ur.diag[s * ur.m + idx] : 1);
    const grad = new Float64Array(n);
    for (let i = 0; i < n; i++) grad[i] = layer.weight[j * n + i] * f;
    out.push({ unit: j, root: roots[s], grad, relevanceAtRoot: ur.values[s * ur.m + idx], certificate: certs[s] });
  }
  return { units: out, candidates: 0, acceptFraction: 1 };
}

export { contains };
