// The engine's public surface: everything the shells (child process, command
// line, tests, benchmark) use. Never imports vscode.

import { DtdError } from './errors';
import { forward as forward64, outputs as outputs64 } from './forward';
import { explainedRow, outputSize, type Network } from './network';
import { outputsAbove, searchFailure, searchInputs } from './audit';
import type { CancelSignal } from '../protocol';

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
  /** The output asked for; when undefined, output 0, or the output most often largest when output 0 is never above minOutput. */
  explainedOutput?: number;
  /** The most draws that miss (default LIMITS.randomInputDraws). */
  maxTries?: number;
  /** The most seconds spent on draws that miss (default LIMITS.randomInputSeconds). */
  maxSeconds?: number;
  /** How the caller names the choice of output in advice (default the command line's "--output K"). */
  outputFlag?: string;
  signal?: CancelSignal;
}

export interface RandomInputDraw {
  x: Float64Array;
  /** The output x was drawn for: the one asked, or the fallback when none was asked and output 0 was never positive. */
  explainedOutput: number;
  /** Set when the output is a fallback: what happened, in words, for the result's warnings. */
  warning?: string;
}

/**
 * A random input as the research experiments draw them: |N(0, I)|, redrawn
 * until the explained output exceeds `minOutput`, within a budget of draws and
 * time. Deterministic for a seed. When no output was asked and output 0 is
 * never above the threshold, the output that was largest most often (among
 * those that were above it) is explained instead, with a warning.
 */
export function drawRandomInput(net: Network, opts: RandomInputOptions): RandomInputDraw {
  const asked = opts.explainedOutput;
  const k = asked ?? 0;
  const nOut = outputSize(net);
  if (!Number.isInteger(k) || k < 0 || k >= nOut) throw new DtdError('bad-usage', `Output ${k} does not exist: ${net.source.file} has outputs 0..${nOut - 1}.`);
  const min = opts.minOutput ?? 0;
  const search = searchInputs(net, 1, opts.seed, explainedRow(net, k), min, { maxRejected: opts.maxTries, maxSeconds: opts.maxSeconds, signal: opts.signal });
  if (search.inputs.length) return { x: search.inputs[0], explainedOutput: k };
  if (asked === undefined) {
    // The output most often largest, among those that were above the threshold at least once.
    let best = -1;
    for (let j = 0; j < nOut; j++) {
      if (!search.firstAbove[j]) continue;
      if (best < 0 || search.largest[j] > search.largest[best] || (search.largest[j] === search.largest[best] && search.above[j] > search.above[best])) best = j;
    }
    if (best >= 0) {
      const share = +((100 * search.largest[best]) / search.draws).toPrecision(3);
      return {
        x: search.firstAbove[best]!,
        explainedOutput: best,
        warning: `Output 0 was never above ${min} in ${search.draws} random draws (seed ${opts.seed}), so output ${best} is explained instead: the largest output in ${share} % of the draws. Outputs above ${min}: ${outputsAbove(search)}; choose one with ${opts.outputFlag ?? '--output K'}.`,
      };
    }
  }
  throw searchFailure(net, search, 1, k, opts.seed, min, opts.outputFlag);
}

/** The input of drawRandomInput (for callers that always name the output, or take its fallback silently). */
export function randomInput(net: Network, opts: RandomInputOptions): Float64Array {
  return drawRandomInput(net, opts).x;
}
