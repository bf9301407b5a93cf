// Result assembly: the parts of an ExplainResult that do not depend on the
// decomposition method — the model summary, per-layer diagnostics, baselines,
// the rule text of pooling layers.

import { firstLayerRules, gradientBatch, LRP_BASELINES, LRP_FIRST_LAYER_BASELINES, lrpBatch, lrpRulesFor } from './baselines';
import { isConserved } from './checks';
import { sum, type NetMats } from './forward';
import { hasSpatialLayers, outputSize, type Network } from './network';
import type { Mat } from './ops/ops';
import type { Baselines, LayerDiagnostics, ModelSummary, RootInfo } from '../protocol';

export function summarizeModel(net: Network): ModelSummary {
  return {
    name: net.source.file.split(/[\\/]/).pop() ?? net.source.file,
    format: net.source.format,
    inputSize: net.inputSize,
    outputSize: outputSize(net),
    layers: net.layers.map((l) => ({
      name: l.name,
      kind: l.kind,
      inFeatures: l.inFeatures,
      outFeatures: l.outFeatures,
      activation: l.activation,
      parameters: 'weight' in l ? l.weight.length + l.bias.length : 0,
    })),
    notes: net.notes,
  };
}

/** What a pooling layer does in a DTD decomposition (it takes no rule). */
export function poolRuleText(net: Network, i: number): string | null {
  const k = net.layers[i].kind;
  return k === 'maxpool2d' ? 'max pool: winner takes all' : k === 'avgpool2d' ? 'avg pool: proportional (z+)' : null;
}

export function lastLayerRelevance(net: Network, row: number, value: number): number[] {
  const r = new Array(net.layers[net.layers.length - 1].outFeatures).fill(0);
  r[row] = value;
  return r;
}

export function computeBaselines<M extends Mat>(mats: NetMats<M>, x: Float64Array, row: number): Baselines {
  const { ops, net } = mats;
  const X = ops.matrix(1, x.length, x);
  const grad = Array.from(ops.read(gradientBatch(mats, X, row)));
  const lrp: Baselines['lrp'] = {};
  for (const [key, rule] of Object.entries(LRP_BASELINES)) {
    const out = lrpBatch(mats, X, row, lrpRulesFor(net, rule));
    const perLayer = out.relevance.slice(0, net.layers.length).map((m) => Array.from(ops.read(m)));
    lrp[key] = { relevance: perLayer[0], sum: sum(perLayer[0]), perLayer };
  }
  // Networks with conv/pooling layers also get zennit's special-first-layer w² composite (as in the conv fixtures).
  for (const [key, rule] of hasSpatialLayers(net) ? Object.entries(LRP_FIRST_LAYER_BASELINES) : []) {
    const out = lrpBatch(mats, X, row, firstLayerRules(net, rule));
    const perLayer = out.relevance.slice(0, net.layers.length).map((m) => Array.from(ops.read(m)));
    lrp[key] = { relevance: perLayer[0], sum: sum(perLayer[0]), perLayer };
  }
  return { gradient: grad, gradientTimesInput: grad.map((g, i) => g * x[i]), lrp };
}

export function layerDiagnostics(net: Network, relevance: (number[] | null)[], roots: RootInfo[][], explainedValue: number): LayerDiagnostics[] {
  const out: LayerDiagnostics[] = [];
  for (let i = 0; i < relevance.length; i++) {
    const r = relevance[i];
    if (!r) continue;
    const s = sum(r);
    const neg = r.reduce((acc, v) => acc + (v < 0 ? v : 0), 0);
    // Roots that produced relevance[i] are those of layer i+1 (they live in layer i+1's input space).
    const rs = i < roots.length ? roots[i].filter((q) => q.hasRoot && q.checks) : [];
    out.push({
      index: i,
      name: i === 0 ? 'input' : net.layers[i - 1].name,
      relevanceSum: s,
      explainedValue,
      conservationError: s - explainedValue,
      conserved: isConserved(s, explainedValue),
      negativeMass: neg,
      rootsTotal: rs.length,
      rootsInRegion: rs.filter((q) => q.checks!.inRegion).length,
      rootsInDomain: rs.filter((q) => q.checks!.inDomain).length,
      rootsWithZeroRelevance: rs.filter((q) => q.checks!.relevanceZero).length,
    });
  }
  return out;
}

