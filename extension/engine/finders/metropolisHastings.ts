// The Metropolis–Hastings root finder (the research code's): random-walk
// chains from the layer input that accept a proposal only when the gradient
// there equals the input's (the same local linear region, checks.ts
// sameGradient); per-dimension step scales adapt toward the target acceptance.

import { quoteName } from '../../protocol';
import { throwIfCancelled } from '../errors';
import type { SampledFullBackward } from '../sampled';
import type { Candidates } from './common';

/** Metropolis–Hastings chains (all chains in one batch); candidates are the chain states after warm-up. */
export function metropolisHastingsCandidates(fb: SampledFullBackward, l: number, a: Float64Array): Candidates {
const ref = fb.sliceGradient(l, a, 1);
  const o = fb.opts.mh;
  const n = a.length;
  const K = Math.max(1, Math.floor(o.chains));
  const X = new Float64Array(K * n);
  for (let c = 0; c < K; c++) X.set(a, c * n);
  const scale = new Float64Array(K * n).fill(o.initScale);
  const C = new Float64Array(o.steps * K * n);
  let count = 0;
  let accepted = 0, proposed = 0;
  const P = new Float64Array(K * n);
  const total = o.warmup + o.steps;
  for (let it = 0; it < total; it++) {
    if ((it & 255) === 0) {
      throwIfCancelled(fb.opts.signal);
      if ((it & 4095) === 0) fb.opts.onProgress?.({ stage: `Metropolis–Hastings on ${quoteName(fb.net.layers[l - 1].name)}`, fraction: it / total });
    }
    for (let i = 0; i < K * n; i++) {
      let p = X[i] + fb.rng.normal() * scale[i];
      if (o.clampNonNegative && p < 0) p = 0;
      P[i] = p;
    }
    const ok = fb.inRegion(l, ref, P, K);
    for (let c = 0; c < K; c++) {
      const acc = ok[c] === 1;
      if (acc) X.set(P.subarray(c * n, (c + 1) * n), c * n);
      // Per-dimension scales move toward the target acceptance rate, multiplicatively, within [min, max].
      const factor = Math.exp(0.1 * ((acc ? 1 : 0) - o.targetAcceptance));
      for (let i = c * n; i < (c + 1) * n; i++) scale[i] = Math.min(o.maxScale, Math.max(o.minScale, scale[i] * factor));
      if (it >= o.warmup) {
        proposed++;
        if (acc) accepted++;
      }
    }
    if (it >= o.warmup) {
      C.set(X, count * n);
      count += K;
    }
  }
  return { C, count, acceptFraction: proposed ? accepted / proposed : 0 };
}
