// Baselines on demand (engine request 'baselines'): the comparison baselines of a
// shown run — the gradient, gradient × input and the LRP variants, computed by
// assemble.ts: computeBaselines exactly as explain() computes them with
// `baselines: true` — recomputed for the run's model, input, explained output,
// precision and backend. explain() leaves them out by default (DEFAULT_BASELINES):
// on a VGG-style CNN they cost most of an LRP run and most of the result's size.

import { DtdError } from './errors';
import { forward as forward64 } from './forward';
import { explainedRow, outputSize, type Network } from './network';
import { getOps } from './ops/select';
import { computeBaselinesAsync, describeNonFinite, dropNonFiniteBaselines, firstNonFiniteForward, layerLabel } from './assemble';
import { type Baselines, type BaselinesReply, DEFAULT_PRECISION, type ExplainOptions } from '../protocol';

export type BaselineOptions = Pick<ExplainOptions, 'explainedOutput' | 'precision' | 'backend' | 'signal' | 'onProgress'>;

/** What the request answers before its tensors are split for the run's page file (protocol/pages.ts: splitBaselines). */
export interface BaselinesOutcome extends Omit<BaselinesReply, 'baselines' | 'tensors'> {
  baselines: Baselines | null;
}

/**
 * The baselines of input x explaining options.explainedOutput (default 0), in the run's precision and backend.
 * Baselines that are not finite are dropped with a warning, as explain() drops them; a forward pass that is not
 * finite gives none (and says why). Cancelled between the passes by options.signal (assemble.ts:
 * computeBaselinesAsync frees each pass's tensors and turns the event loop, so a 'cancel' message is read).
 */
export async function explainBaselines(net: Network, input: ArrayLike<number>, options: BaselineOptions = {}): Promise<BaselinesOutcome> {
  const t0 = performance.now();
  const k = options.explainedOutput ?? 0;
  const nOut = outputSize(net);
  if (!Number.isInteger(k) || k < 0 || k >= nOut) throw new DtdError('bad-usage', `Output ${k} does not exist: ${net.source.file} has outputs 0..${nOut - 1}.`);
  if (input.length !== net.inputSize) throw new DtdError('bad-input', `The input has ${input.length} values but ${net.source.file} expects ${net.inputSize}.`);
  const x = Float64Array.from(input);
  if (!x.every(Number.isFinite)) throw new DtdError('bad-input', 'Every input value must be a finite number.');
  const row = explainedRow(net, k);
  const ops = await getOps(options.precision ?? DEFAULT_PRECISION, options.backend ?? 'auto');
  const warnings: string[] = [];
  const fwd = forward64(net, x);
  const bad = firstNonFiniteForward(fwd.pre, fwd.act);
  if (bad) {
    warnings.push(`No baselines: the forward pass is not finite from ${layerLabel(net, bad.index)} up (${describeNonFinite(bad)}).`);
    return { baselines: null, warnings, backend: ops.backend, precision: ops.precision, ms: performance.now() - t0 };
  }
  const b = await computeBaselinesAsync(ops, net, x, row, { signal: options.signal, onProgress: options.onProgress });
  const baselines = dropNonFiniteBaselines(net, b, ops.precision === 'float32', warnings);
  return { baselines, warnings, backend: ops.backend, precision: ops.precision, ms: performance.now() - t0 };
}
