// The engine's answer to a concept (CRP) request: the conditional heatmaps of some
// channels of one layer, recomputed for a shown run's model, input and options —
// the rules resolved exactly as explain() resolves them (explain.ts), the
// decomposition's step from crp.ts, in float64.

import { resolveLrpRules } from './baselines';
import { conditionalHeatmaps, type CrpRules } from './crp';
import { DtdError } from './errors';
import { expandChannelBounds } from './explain';
import { exactMats } from './forward';
import { explainedRow, outputSize, type Network } from './network';
import { parseRuleMap } from './rules';
import { DEFAULT_METHOD, type ConceptHeatmap, type ExplainOptions } from '../protocol';

/** The rules a train-free or LRP run used, from its options (refuses full-backward: its roots are not a per-layer step). */
export function crpRulesFor(net: Network, options: Pick<ExplainOptions, 'method' | 'rule' | 'zeroBias'>): CrpRules {
  const method = options.method ?? DEFAULT_METHOD;
  if (method === 'lrp') {
    if (options.rule !== undefined && typeof options.rule !== 'string') throw new DtdError('bad-usage', 'Method lrp takes its rule as text.');
    return { method, rules: resolveLrpRules(options.rule, net, options.zeroBias ?? false) };
  }
  if (method === 'train-free') return { method, rules: expandChannelBounds(net, parseRuleMap(options.rule, net.layers, method)) };
  throw new DtdError('unsupported', `Concepts are computed for train-free and LRP results; a ${method} result has no per-layer step to condition. Re-run with the train-free method.`);
}

/** Conditional heatmaps of `channels` of tensor `layer` for input x, explaining options.explainedOutput (default 0). */
export function explainConcepts(net: Network, x: ArrayLike<number>, options: Pick<ExplainOptions, 'method' | 'rule' | 'zeroBias' | 'explainedOutput'>, layer: number, channels: number[]): ConceptHeatmap[] {
  const k = options.explainedOutput ?? 0;
  if (!Number.isInteger(k) || k < 0 || k >= outputSize(net)) throw new DtdError('bad-usage', `Output ${k} does not exist.`);
  if (x.length !== net.inputSize) throw new DtdError('bad-input', `The input has ${x.length} values but the model expects ${net.inputSize}.`);
  const spec = crpRulesFor(net, options);
  const out = conditionalHeatmaps(exactMats(net), x, explainedRow(net, k), spec, layer, channels);
  return channels.map((channel, i) => ({ layer, channel, relevance: Array.from(out.heatmaps[i]), channelRelevance: out.channelRelevance[i] }));
}
