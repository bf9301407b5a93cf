// Result assembly: the parts of an ExplainResult that do not depend on the
// decomposition method — the model summary, per-layer diagnostics, baselines,
// the rule text of pooling layers.

import { fixedRuleText } from './backward';
import { type CancelSignal, isConserved, type Baselines, type LayerDiagnostics, type LayerSummary, type ModelSummary, type Progress, quoteName, type RootInfo } from '../protocol';
import { firstLayerRules, gradientBatch, LRP_BASELINES, LRP_FIRST_LAYER_BASELINES, lrpBatch, lrpRulesFor, type LrpRule } from './baselines';
import { throwIfCancelled } from './errors';
import { NetMats, sum } from './forward';
import { hasSpatialLayers, outShapeOf, outputSize, type Network } from './network';
import { activationText } from './activations';
import type { Mat, Ops } from './ops/ops';

export function summarizeModel(net: Network): ModelSummary {
  return {
    name: net.source.file.split(/[\\/]/).pop() ?? net.source.file,
    format: net.source.format,
    inputSize: net.inputSize,
    outputSize: outputSize(net),
    layers: net.layers.map((l, i): LayerSummary => ({
      name: l.name,
      kind: l.kind,
      inFeatures: l.inFeatures,
      outFeatures: l.outFeatures,
      activation: l.activation,
      activationText: activationText(l.activation, l.activationParams),
      parameters: 'weight' in l ? l.weight.length / (l.kind === 'conv2d' ? (l.groups ?? 1) : 1) + l.bias.length : l.kind === 'affine' ? l.scale.length * 2 : 0,
      ...(l.inputs && !(l.inputs.length === 1 && l.inputs[0] === i) ? { inputs: [...l.inputs] } : {}),
      outShape: outShapeOf(l),
      ...('kernel' in l ? { kernel: [...l.kernel], stride: [...l.stride], padding: [...l.padding] } : {}),
      ...('dilation' in l ? { dilation: [...l.dilation] } : {}),
      ...('groups' in l && l.groups ? { groups: l.groups } : {}),
    })),
    notes: net.notes,
    ...(net.inputShape ? { inputShape: [...net.inputShape] } : {}),
  };
}

/** What a pooling layer does in a DTD decomposition (it takes no rule). */
export function poolRuleText(net: Network, i: number): string | null {
  return fixedRuleText(net.layers[i], 'dtd');
}

export function lastLayerRelevance(net: Network, row: number, value: number): number[] {
  const r = new Array(net.layers[net.layers.length - 1].outFeatures).fill(0);
  r[row] = value;
  return r;
}

/** How a baseline computation reports: its progress (0..1 over the passes) and a cancel signal checked between passes. */
export interface BaselineControl {
  signal?: CancelSignal;
  onProgress?: (p: Progress) => void;
}

/** One pass of the baselines: the gradient, or LRP with one rule list under its fixtures' key. */
type BaselinePass = { key: 'gradient' } | { key: string; rules: LrpRule[] };

/** The passes, in the order the result lists them. */
function baselinePasses(net: Network): BaselinePass[] {
  return [
    { key: 'gradient' },
    ...Object.entries(LRP_BASELINES).map(([key, rule]) => ({ key, rules: lrpRulesFor(net, rule) })),
    // Networks with conv/pooling layers also get zennit's special-first-layer w² composite (as in the conv fixtures).
    ...(hasSpatialLayers(net) ? Object.entries(LRP_FIRST_LAYER_BASELINES) : []).map(([key, rule]) => ({ key, rules: firstLayerRules(net, rule) })),
  ];
}

/** Runs one pass on the [1, n] input X and reads what it gives into `into`. */
function runPass<M extends Mat>(mats: NetMats<M>, X: M, row: number, pass: BaselinePass, into: { grad: number[]; lrp: Baselines['lrp'] }): void {
  const { ops, net } = mats;
  if (!('rules' in pass)) {
    into.grad = Array.from(ops.read(gradientBatch(mats, X, row)));
    return;
  }
  const out = lrpBatch(mats, X, row, pass.rules);
  const perLayer = out.relevance.slice(0, net.layers.length).map((m) => Array.from(ops.read(m)));
  into.lrp[pass.key] = { relevance: perLayer[0], sum: sum(perLayer[0]), perLayer };
}

function passStage(pass: BaselinePass): string {
  return 'rules' in pass ? `Baselines: LRP ${pass.key}` : 'Baselines: gradient';
}

/** The gradient, gradient × input and the LRP variants of input x for last-layer row `row`, on `mats` (within the caller's ops scope). */
export function computeBaselines<M extends Mat>(mats: NetMats<M>, x: Float64Array, row: number, control: BaselineControl = {}): Baselines {
  const X = mats.ops.matrix(1, x.length, x);
  const into = { grad: [] as number[], lrp: {} as Baselines['lrp'] };
  const passes = baselinePasses(mats.net);
  passes.forEach((pass, i) => {
    throwIfCancelled(control.signal);
    control.onProgress?.({ stage: passStage(pass), fraction: i / passes.length });
    runPass(mats, X, row, pass, into);
  });
  throwIfCancelled(control.signal);
  return { gradient: into.grad, gradientTimesInput: into.grad.map((g, i) => g * x[i]), lrp: into.lrp };
}

/**
 * computeBaselines for a request of its own (baselines on demand): each pass in its own ops scope with its own
 * matrices, then a turn of the event loop, so a 'cancel' message is read between passes and stops it.
 */
export async function computeBaselinesAsync<M extends Mat>(ops: Ops<M>, net: Network, x: Float64Array, row: number, control: BaselineControl = {}): Promise<Baselines> {
  const into = { grad: [] as number[], lrp: {} as Baselines['lrp'] };
  const passes = baselinePasses(net);
  for (let i = 0; i < passes.length; i++) {
    throwIfCancelled(control.signal);
    control.onProgress?.({ stage: passStage(passes[i]), fraction: i / passes.length });
    const endScope = ops.beginScope();
    const mats = new NetMats(ops, net);
    try {
      runPass(mats, ops.matrix(1, x.length, x), row, passes[i], into);
    } finally {
      mats.dispose();
      endScope();
    }
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  throwIfCancelled(control.signal);
  return { gradient: into.grad, gradientTimesInput: into.grad.map((g, i) => g * x[i]), lrp: into.lrp };
}

export function layerDiagnostics(net: Network, relevance: (ArrayLike<number> | null)[], roots: RootInfo[][], explainedValue: number): LayerDiagnostics[] {
  const out: LayerDiagnostics[] = [];
  for (let i = 0; i < relevance.length; i++) {
    const r = relevance[i];
    if (!r) continue;
    let s = 0;
    let neg = 0;
    for (let k = 0; k < r.length; k++) {
      const v = r[k];
      s += v;
      if (v < 0) neg += v;
    }
    out.push(layerDiagnostic(net, i, s, neg, i < roots.length ? roots[i] : [], explainedValue));
  }
  return out;
}

/**
 * Relevance tensor i's diagnostics from its sum and negative mass (each summed in
 * index order, as layerDiagnostics does) and the roots that produced it. The one
 * home of the record: layerDiagnostics and the dataset runs' batched loops build it here.
 */
export function layerDiagnostic(net: Network, i: number, relevanceSum: number, negativeMass: number, roots: readonly RootInfo[], explainedValue: number): LayerDiagnostics {
  // Roots that produced relevance[i] are those of layer i+1 (they live in layer i+1's input space).
  let total = 0, inRegion = 0, inDomain = 0, zero = 0;
  for (const q of roots) {
    if (!q.hasRoot || !q.checks) continue;
    total++;
    if (q.checks.inRegion) inRegion++;
    if (q.checks.inDomain) inDomain++;
    if (q.checks.relevanceZero) zero++;
  }
  return {
    index: i,
    name: i === 0 ? 'input' : net.layers[i - 1].name,
    relevanceSum: relevanceSum,
    explainedValue,
    conservationError: relevanceSum - explainedValue,
    conserved: isConserved(relevanceSum, explainedValue),
    negativeMass,
    rootsTotal: total,
    rootsInRegion: inRegion,
    rootsInDomain: inDomain,
    rootsWithZeroRelevance: zero,
  };
}


// ── finite or failed: NaN and ±Infinity never pass as a result ─────────────

export interface NonFinite {
  /** Index of the array in the list given (a layer, or 0 for the input). */
  index: number;
  /** How many values are NaN, +Infinity, −Infinity, of `size`. */
  nan: number;
  inf: number;
  size: number;
}

function nonFiniteIn(v: ArrayLike<number>, index: number): NonFinite | null {
  let nan = 0, inf = 0;
  for (let i = 0; i < v.length; i++) {
    const x = v[i];
    if (x - x !== 0) {
      if (x !== x) nan++;
      else inf++;
    }
  }
  return nan || inf ? { index, nan, inf, size: v.length } : null;
}

/** The first array with a NaN or ±Infinity, in the order of `indices` (default: 0, 1, …); nulls are skipped. */
export function firstNonFinite(arrays: readonly (ArrayLike<number> | null | undefined)[], indices: Iterable<number> = arrays.keys()): NonFinite | null {
  for (const i of indices) {
    const v = arrays[i];
    const bad = v ? nonFiniteIn(v, i) : null;
    if (bad) return bad;
  }
  return null;
}

/** Layers L, L−1, …, 0: where relevance going down from the output first stops being finite. */
export function topDown(L: number): number[] {
  return Array.from({ length: L + 1 }, (_, i) => L - i);
}

/** "±Infinity in 3 of 10 values", "NaN in all 10 values". */
export function describeNonFinite(b: NonFinite): string {
  const what = b.nan && b.inf ? 'NaN or ±Infinity' : b.nan ? 'NaN' : '±Infinity';
  const count = b.nan + b.inf;
  if (b.size === 1) return `${what} in its one value`;
  return `${what} in ${count === b.size ? `all ${b.size}` : `${count} of ${b.size}`} values`;
}

/** The name of relevance/activation index l (0 = the input) in messages. */
export function layerLabel(net: Network, l: number): string {
  return l === 0 ? 'the input' : `layer ${quoteName(net.layers[l - 1].name)} (${l} of ${net.layers.length})`;
}

/**
 * The first layer (bottom-up) whose pre-activations or activations are not
 * finite, from a forward pass: pre[l-1] and act[l] belong to layer l.
 */
export function firstNonFiniteForward(pre: readonly ArrayLike<number>[], act: readonly ArrayLike<number>[]): NonFinite | null {
  for (let l = 1; l < act.length; l++) {
    const bad = firstNonFinite([pre[l - 1], act[l]]);
    if (bad) return { ...bad, index: l };
  }
  return null;
}

/** What to do when float32 overflows: the advice appended to messages about non-finite values. */
export const FLOAT64_HINT = 'Values this large overflow float32 (about ±3.4e38): run in float64 (--precision float64, setting dtdLens.precision).';

/**
 * Baselines with a NaN or ±Infinity are dropped, each with a warning (they
 * compare, they are not the result): LRP rules one by one (α2β1 grows ×3 per
 * layer and overflows in very deep networks), all of them when the gradient
 * itself is not finite.
 */
export function dropNonFiniteBaselines(net: Network, b: Baselines, float32: boolean, warnings: string[]): Baselines | null {
  const hint = float32 ? ` ${FLOAT64_HINT}` : '';
  const g = firstNonFinite([b.gradient, b.gradientTimesInput]);
  if (g) {
    warnings.push(`Baselines left out: the gradient at the input is not finite (${describeNonFinite(g)}).${hint}`);
    return null;
  }
  const lrp: Baselines['lrp'] = {};
  for (const [key, v] of Object.entries(b.lrp)) {
    const perLayer = v.perLayer ?? [v.relevance];
    const bad = firstNonFinite(perLayer, topDown(perLayer.length - 1)) ?? firstNonFinite([v.relevance]);
    if (bad) warnings.push(`Baseline LRP ${key} left out: its relevance is not finite at ${layerLabel(net, bad.index)} and below (${describeNonFinite(bad)}).${hint}`);
    else lrp[key] = v;
  }
  return { ...b, lrp };
}

/**
 * An estimated count in words: "about 3.54e+6", or, where the estimate
 * overflows a double, "more than 1.8e+308 (about 10^602)" — never "Infinity".
 * `log10` is the estimate's logarithm when the caller can compute it.
 */
export function aboutCount(n: number, log10?: number): string {
  if (Number.isFinite(n)) return `about ${n.toExponential(2)}`;
  return `more than ${Number.MAX_VALUE.toExponential(1)}${log10 !== undefined && Number.isFinite(log10) ? ` (about 10^${Math.floor(log10)})` : ''}`;
}

/** log10 of fullBackwardCost (fixtures: C(L) = 3, C(l) = (2 + n_l)·C(l+1)), finite where the cost itself overflows. */
export function fullBackwardLog10Cost(net: Network): number {
  let c = Math.log10(3);
  for (let l = net.layers.length - 1; l >= 1; l--) c += Math.log10(2 + net.layers[l - 1].outFeatures);
  return c;
}
