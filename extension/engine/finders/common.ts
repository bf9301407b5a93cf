// What the sampled root finders share: the candidate-finder signature and the
// failure they raise (turned into a failed result by sampled.ts).

import type { SampledFullBackward } from '../sampled';

/** Candidate roots for the input a of layer l: count rows of C (each a point in that input space). */
export interface Candidates {
  C: Float64Array;
  count: number;
  /** Share of proposals that stayed in the region (the sampler's acceptance). */
  acceptFraction: number;
}

export type CandidateFinder = (fb: SampledFullBackward, l: number, a: Float64Array) => Candidates;

export class SampledFailure extends Error {
  constructor(
    readonly code: 'no-positive-relevance' | 'signed-input' | 'no-root',
    message: string,
  ) {
    super(message);
  }
}
