// Hit-and-run root finder: chains inside the exact piece polytope of the
// layer input (polytope.ts): every move is a uniform point on the chord
// through the current state along a random direction, so nothing is rejected.

import { chord } from '../region';
import type { SampledFullBackward } from '../sampled';
import type { Candidates } from './common';
import { piecePolytope } from './polytope';

export interface HitAndRunOptions {
  steps: number; // samples per chain kept as candidates (default 200)
  warmup: number; // discarded (default 20)
  chains: number; // (default 4)
  /** Longest move along a direction when the polytope is unbounded that way (default 1). */
  maxStep: number;
}

export const DEFAULT_HIT_AND_RUN: HitAndRunOptions = { steps: 200, warmup: 20, chains: 4, maxStep: 1 };

/** Hit-and-run chains inside the piece polytope: every move stays inside, nothing is rejected. */
export function hitAndRunCandidates(fb: SampledFullBackward, l: number, a: Float64Array): Candidates {
  const o = { ...DEFAULT_HIT_AND_RUN, ...fb.opts.hitAndRun };
  const poly = piecePolytope(fb, l, a);
  const n = a.length;
  const K = Math.max(1, Math.floor(o.chains));
  const X = new Float64Array(K * n);
  for (let c = 0; c < K; c++) X.set(a, c * n);
  const C = new Float64Array(o.steps * K * n);
  let count = 0;
  const d = new Float64Array(n);
  for (let it = 0; it < o.warmup + o.steps; it++) {
    for (let c = 0; c < K; c++) {
      const x = X.subarray(c * n, (c + 1) * n);
      let norm = 0;
      for (let i = 0; i < n; i++) {
        d[i] = fb.rng.normal();
        norm += d[i] * d[i];
      }
      norm = Math.sqrt(norm) || 1;
      for (let i = 0; i < n; i++) d[i] /= norm;
      const ch = chord(poly, x, d);
      const lo = Math.max(ch.tMin, -o.maxStep), hi = Math.min(ch.tMax, o.maxStep);
      const t = lo + (hi - lo) * fb.rng.uniform();
      if (Number.isFinite(t)) for (let i = 0; i < n; i++) x[i] += t * d[i];
    }
    if (it >= o.warmup) {
      C.set(X, count * n);
      count += K;
    }
  }
  return { C, count, acceptFraction: 1 };
}

