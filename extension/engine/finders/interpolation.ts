// The interpolation root finder (the research code's): random unit
// directions from the layer input; along each, the farthest grid point still
// in the region, refined by bisection toward the region's edge.

import type { SampledFullBackward } from '../sampled';
import { SampledFailure, type Candidates } from './common';

/** Random unit directions; for each, the farthest grid point still in the region, refined by bisection toward the edge. */
export function interpolationCandidates(fb: SampledFullBackward, l: number, a: Float64Array): Candidates {
const ref = fb.sliceGradient(l, a, 1);
  const o = fb.opts.interpolation;
  const n = a.length;
  for (let i = 0; i < n; i++) {
    if (a[i] < 0) {
      throw new SampledFailure(
        'signed-input',
        `The interpolation root finder needs a non-negative layer input, but the input of ${fb.net.layers[l - 1].name} has negative entries (e.g. value ${a[i]} at ${i}). Use the Metropolis–Hastings finder or a non-negative input.`,
      );
    }
  }
  const D = o.batchSize;
  const dirs = new Float64Array(D * n);
  for (let d = 0; d < D; d++) {
    let norm = 0;
    for (let i = 0; i < n; i++) {
      const v = fb.rng.normal();
      dirs[d * n + i] = v;
      norm += v * v;
    }
    norm = Math.sqrt(norm) || 1;
    for (let i = 0; i < n; i++) dirs[d * n + i] /= norm;
  }
  const point = (d: number, s: number, out: Float64Array, at: number) => {
    for (let i = 0; i < n; i++) {
      let p = a[i] + o.initScale * s * dirs[d * n + i];
      if (o.clampNonNegative && p < 0) p = 0;
      out[at + i] = p;
    }
  };
  const G = o.points;
  const scales = Array.from({ length: G }, (_, k) => (G === 1 ? 0 : 1 - k / (G - 1)));
  const grid = new Float64Array(D * G * n);
  for (let d = 0; d < D; d++) for (let k = 0; k < G; k++) point(d, scales[k], grid, (d * G + k) * n);
  const ok = fb.inRegion(l, ref, grid, D * G);
  let valid = 0;
  for (const v of ok) valid += v;
  const lo = new Float64Array(D), hi = new Float64Array(D).fill(NaN);
  for (let d = 0; d < D; d++) {
    lo[d] = 0;
    for (let k = 0; k < G; k++) {
      if (ok[d * G + k]) {
        lo[d] = scales[k];
        hi[d] = k > 0 ? scales[k - 1] : NaN;
        break;
      }
    }
  }
  // Bisection between the last scale inside and the first outside, all directions in one batch per step.
  const mid = new Float64Array(D * n);
  for (let step = 0; step < o.refinementSteps; step++) {
    for (let d = 0; d < D; d++) point(d, Number.isNaN(hi[d]) ? lo[d] : (lo[d] + hi[d]) / 2, mid, d * n);
    const okMid = fb.inRegion(l, ref, mid, D);
    for (let d = 0; d < D; d++) {
      if (Number.isNaN(hi[d])) continue;
      const m = (lo[d] + hi[d]) / 2;
      if (okMid[d]) lo[d] = m;
      else hi[d] = m;
    }
  }
  const C = new Float64Array(D * n);
  for (let d = 0; d < D; d++) point(d, lo[d], C, d * n);
  return { C, count: D, acceptFraction: valid / (D * G) };
}
