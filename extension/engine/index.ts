// The engine's public surface: everything the shells (child process, command
// line, tests, benchmark) use. Never imports vscode.

import { DtdError } from './errors';
import { forward as forward64, outputs as outputs64 } from './forward';
import { explainedRow, outputSize, type Network } from './network';
import { drawInputs } from './audit';

export { explain } from './explain';
export { summarizeModel } from './assemble';
export { DtdError, isDtdError } from './errors';
export type { DtdErrorCode } from './errors';
export { loadModel, sidecarNameFor, SUPPORTED_MODEL_EXTENSIONS } from './loaders';
export { parseInput } from './input';
export { parseRule, resolveRules, ruleToText, RULE_NAMES } from './rules';
export { fullBackwardCost } from './fullBackward';
export type { Network } from './network';
export * from '../protocol';

export function forward(net: Network, x: ArrayLike<number>) {
  return forward64(net, x);
}

/** The network's outputs (after the output selection) at x. */
export function outputs(net: Network, x: ArrayLike<number>): Float64Array {
  return outputs64(net, x);
}

export interface RandomInputOptions {
  seed: number;
  /** Draw until the explained output is above this (default 0). */
  minOutput?: number;
  explainedOutput?: number;
  maxTries?: number;
}

/**
 * A random input as the research experiments draw them: |N(0, I)|, redrawn
 * until the explained output exceeds `minOutput`. Deterministic for a seed.
 */
export function randomInput(net: Network, opts: RandomInputOptions): Float64Array {
  const k = opts.explainedOutput ?? 0;
  if (k < 0 || k >= outputSize(net)) throw new DtdError('bad-usage', `Output ${k} does not exist: ${net.source.file} has outputs 0..${outputSize(net) - 1}.`);
  const min = opts.minOutput ?? 0;
  const tries = opts.maxTries ?? 10000;
  try {
    return drawInputs(net, 1, opts.seed, explainedRow(net, k), min, tries)[0];
  } catch (e) {
    if (!(e instanceof DtdError)) throw e;
    throw new DtdError('bad-input', `No random input with output ${k} above ${min} was found in ${tries} draws from |N(0, I)| (seed ${opts.seed}); this output may be off for non-negative inputs.`);
  }
}
