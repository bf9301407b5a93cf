// explain(): the one entry point every shell (child process, command line,
// tests, benchmark) calls. It validates, picks the compute implementation,
// runs the requested decomposition, and assembles the JSON result with
// baselines and diagnostics. Expected failures of the method (no root, no
// positive relevance, signed input for the interpolation finder) come back as
// a result with status 'failed' and a message; only bad usage/input throws.

import { DtdError, throwIfCancelled } from './errors';
import { firstLayerRules, gradientBatch, LRP_BASELINES, LRP_FIRST_LAYER_BASELINES, lrpBatch, lrpRuleText, lrpRulesFor, resolveLrpRules } from './baselines';
import { forward as forward64, sum } from './forward';
import { DecompositionFailure, fullBackwardCost, LinearFullBackward } from './fullBackward';
import { denseRow, explainedRow as rowOf, hasSpatialLayers, layerShapes, materializeDense, outputSize, requireDense, type DenseNetwork, type Network } from './network';
import type { Mat, Ops } from './ops/ops';
import { getOps } from './ops/select';
import { parseRuleMap, ruleToText, singleNeuronRoot } from './rules';
import { inDomain, isConserved, rootChecks, samePattern } from './checks';
import { runSampledFullBackward } from './sampled';
import { explainedRowStart, forwardBatch, NetMats, trainFreeBatch } from './trainFree';
import type {
  Baselines,
  ExplainOptions,
  ExplainResult,
  LayerDiagnostics,
  ModelSummary,
  Precision,
  RootInfo,
  RuleSpec,
  TreeEntry,
} from '../protocol';
import { checkDefinitions, RESULT_SCHEMA, DEFAULT_INTERPOLATION, DEFAULT_MAX_COST, DEFAULT_MAX_TREE_ENTRIES, DEFAULT_MH, DEFAULT_NUDGE, DEFAULT_ROOT_FINDER, DEFAULT_SAME_REGION, DEFAULT_METHOD, DEFAULT_PRECISION, DEFAULT_SEED, DEFAULT_TOP_K, METHODS, ROOT_FINDERS } from '../protocol';
import { computeFlows } from './flows';
import { ENGINE_VERSION } from './version';
import { maxPoolAsSelection, maxPoolWinnerChange } from './pooling';
import { crossingIn, localLinearRegion, type Polytope } from './region';
import { TypedOps } from './ops/typed';

/** Train-free root diagnostics are skipped (with a warning) for a layer whose roots would hold more numbers than this. */
const MAX_ROOT_CHECK_COST = 1e7;

/** Root vectors beyond this many numbers per layer are left out of the result (hasRoot stays true). */
const MAX_ROOT_VALUES_PER_LAYER = 200_000;

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

function checkInput(net: Network, input: ArrayLike<number>): Float64Array {
  const file = net.source.file;
  if (input.length !== net.inputSize) {
    throw new DtdError('bad-input', `The input has ${input.length} values but ${file} expects ${net.inputSize}.`);
  }
  const x = Float64Array.from(input);
  for (let i = 0; i < x.length; i++) {
    if (!Number.isFinite(x[i])) throw new DtdError('bad-input', `Input value ${i} is ${x[i]}; every input value must be a finite number.`);
  }
  return x;
}

export async function explain(model: Network, input: ArrayLike<number>, options: ExplainOptions = {}): Promise<ExplainResult> {
  const t0 = performance.now();
  const x = checkInput(model, input);
  const net = model;
  const L = net.layers.length;
  const method = options.method ?? DEFAULT_METHOD;
  if (!(METHODS as readonly string[]).includes(method)) throw new DtdError('bad-usage', `Unknown method '${method}' (use ${METHODS.join(', ')}).`);
  const rootFinder = options.rootFinder ?? DEFAULT_ROOT_FINDER;
  if (!(ROOT_FINDERS as readonly string[]).includes(rootFinder)) {
    throw new DtdError('bad-usage', `Unknown root finder '${rootFinder}' (use ${ROOT_FINDERS.join(', ')}).`);
  }
  if (method === 'train-free' && rootFinder !== 'linear') {
    throw new DtdError('bad-usage', `The train-free decomposition uses each rule's analytic root; the ${rootFinder} root finder needs --method full-backward.`);
  }
  if (method === 'lrp' && rootFinder !== 'linear') throw new DtdError('bad-usage', `LRP has no root points; the ${rootFinder} root finder needs --method full-backward.`);
  if (method === 'lrp' && options.rule !== undefined && typeof options.rule !== 'string') {
    throw new DtdError('bad-usage', `Method lrp takes its rule as text (e.g. "zplus", "epsilon=1e-6", "layer1=zbox=0,1;*=zplus").`);
  }
  const k = options.explainedOutput ?? 0;
  const nOut = outputSize(net);
  if (!Number.isInteger(k) || k < 0 || k >= nOut) throw new DtdError('bad-usage', `Output ${k} does not exist: ${net.source.file} has outputs 0..${nOut - 1}.`);
  const row = rowOf(net, k);
  const lrpRules = method === 'lrp' ? resolveLrpRules(options.rule as string | undefined, net, options.zeroBias ?? false) : null;
  // LRP has no DTD rules; the z+ placeholders keep the per-layer arrays aligned.
  const rules = lrpRules ? net.layers.map((): RuleSpec => ({ name: 'z+' })) : expandChannelBounds(net, parseRuleMap(options.rule, net.layers, method));
  // Full-backward and the sampled finders run exact per-point code on dense layers: conv/avg-pool become dense matrices.
  const fbNet = method === 'full-backward' ? fullBackwardNetwork(net, options.maxCost ?? DEFAULT_MAX_COST, x) : null;
  const fbRules = rules.map((r, i) => (net.layers[i].kind === 'avgpool2d' ? ({ name: 'z+' } as RuleSpec) : r));
  const precision: Precision = options.precision ?? DEFAULT_PRECISION;
  const seed = options.seed ?? DEFAULT_SEED;
  const nudge = options.nudge ?? DEFAULT_NUDGE;
  const progress = options.onProgress ?? (() => {});
  const warnings: string[] = [];
  const timings: Record<string, number> = {};
  const inputNonNegative = x.every((v) => v >= 0);

  progress({ stage: 'Preparing', fraction: 0 });
  const ops = await getOps(precision, options.backend ?? 'auto');
  const fwd = forward64(net, x);
  const explainedValue = fwd.act[L][row];

  let status: ExplainResult['status'] = 'ok';
  let statusCode: ExplainResult['statusCode'] = 'ok';
  let message: string | null = null;
  let relevance: (number[] | null)[] = new Array(L + 1).fill(null);
  let roots: RootInfo[][] = Array.from({ length: L }, () => []);
  let tree: TreeEntry[] | null = null;
  let treeTruncated = false;
  let contributions: (Map<number, Float64Array> | null)[] | undefined;
  const diagExtra: ExplainResult['diagnostics'] = { layers: [] };

  if (!(explainedValue > 0)) {
    warnings.push(`The explained output is ${explainedValue}: with f(x) ≤ 0 there is no positive relevance to decompose.`);
  }

  const mats = new NetMats(ops, net);
  try {
    const tStart = performance.now();
    if (method === 'train-free') {
      progress({ stage: 'Train-free decomposition', fraction: 0.1 });
      const tf = runTrainFree(mats, x, row, rules, options.checkConsistent ?? true);
      relevance = tf.relevance;
      status = tf.status;
      statusCode = tf.statusCode;
      message = tf.message;
      progress({ stage: 'Checking roots', fraction: 0.5 });
      roots = trainFreeRoots(mats, x, row, rules, relevance, inputNonNegative, warnings);
    } else if (lrpRules) {
      progress({ stage: 'LRP', fraction: 0.1 });
      const X = ops.matrix(1, x.length, x);
      const out = lrpBatch(mats, X, row, lrpRules);
      relevance = out.relevance.map((m) => Array.from(ops.read(m)));
      ops.dispose(X, ...out.relevance);
    } else if (rootFinder === 'linear') {
      const cost = fullBackwardCost(fbNet!);
      const maxCost = options.maxCost ?? DEFAULT_MAX_COST;
      if (cost > maxCost) {
        throw new DtdError(
          'too-costly',
          `Full-backward with the linear root finder needs about ${cost.toExponential(2)} relevance evaluations on this ${L}-layer network (the recursion is exponential in depth); the limit is ${maxCost.toExponential(2)}. Use the train-free method, a sampled root finder, or raise maxCost.`,
        );
      }
      if (precision === 'float32') warnings.push('Full-backward with the linear root finder runs in float64: roots on ReLU hinges are decided by rounding.');
      progress({ stage: 'Full-backward decomposition', fraction: 0.05 });
      const fb = new LinearFullBackward(fbNet!, fbRules, row, {
        nudge,
        maxTreeEntries: options.maxTreeEntries ?? DEFAULT_MAX_TREE_ENTRIES,
        signal: options.signal,
        inputNonNegative,
        onEvaluation: (n) => progress({ stage: 'Full-backward decomposition', fraction: Math.min(0.95, 0.05 + (0.9 * n) / cost) }),
      });
      try {
        const out = fb.run(x);
        relevance = [Array.from(out.relevance), ...out.layerRelevance.slice(1).map((r) => (r ? Array.from(r) : null))];
        relevance[L] = lastLayerRelevance(net, row, explainedValue);
        roots = out.roots;
        contributions = out.contributions;
        tree = out.tree;
        treeTruncated = out.treeTruncated;
        diagExtra.evaluations = out.evaluations;
      } catch (e) {
        if (!(e instanceof DecompositionFailure)) throw e;
        status = 'failed';
        statusCode = e.code;
        message = e.message;
      }
    } else {
      const out = runSampledFullBackward(fbNet!, x, row, fbRules, {
        finder: rootFinder,
        mh: { ...DEFAULT_MH, ...options.metropolisHastings },
        interpolation: { ...DEFAULT_INTERPOLATION, ...options.interpolation },
        sameRegion: { ...DEFAULT_SAME_REGION, ...options.sameRegion },
        hitAndRun: options.hitAndRun,
        nudge,
        seed,
        signal: options.signal,
        onProgress: progress,
        maxTreeEntries: options.maxTreeEntries ?? DEFAULT_MAX_TREE_ENTRIES,
        inputNonNegative,
      });
      if (out.failure) {
        status = 'failed';
        statusCode = out.failure.code;
        message = out.failure.message;
      }
      if (out.relevance) relevance = out.relevance;
      if (relevance[L] === null) relevance[L] = lastLayerRelevance(net, row, explainedValue);
      roots = out.roots;
      contributions = out.contributions;
      tree = out.tree;
      treeTruncated = out.treeTruncated;
      diagExtra.rootFinderStats = out.stats;
      warnings.push(...out.warnings);
      diagExtra.cacheHits = out.cacheHits;
      diagExtra.cacheMisses = out.cacheMisses;
    }
    if (method === 'full-backward' && net.layers.some((l) => l.kind === 'maxpool2d')) {
      const flagged = checkMaxPoolWinners(net, x, roots, tree);
      warnings.push(
        `Max pooling is linearized at the input for full-backward: each window keeps the winner it has at x (DTD's winner-takes-all)${flagged ? `; ${flagged} root${flagged === 1 ? '' : 's'} would change a winner and ${flagged === 1 ? 'is' : 'are'} marked outside the region` : ''}.`,
      );
    }
    timings.decomposition = performance.now() - tStart;
    throwIfCancelled(options.signal);

    let baselines: Baselines | null = null;
    if (options.baselines ?? true) {
      progress({ stage: 'Baselines', fraction: 0.96 });
      const tb = performance.now();
      baselines = computeBaselines(mats, x, row);
      timings.baselines = performance.now() - tb;
    }

    const layers = layerDiagnostics(net, relevance, roots, explainedValue);
    progress({ stage: 'Done', fraction: 1 });
    timings.total = performance.now() - t0;
    return {
      schema: RESULT_SCHEMA,
      provenance: { engineVersion: ENGINE_VERSION, modelSha256: net.source.sha256 ?? null },
      status,
      statusCode,
      message,
      model: summarizeModel(net),
      input: Array.from(x),
      explainedOutput: k,
      explainedRow: row,
      explainedValue,
      method,
      rules: lrpRules ? lrpRules.map((r, i) => lrpRuleText(r, net.layers[i])) : rules.map((r, i) => poolRuleText(net, i) ?? ruleToText(r)),
      rootFinder,
      activations: fwd.act.map((a) => Array.from(a)),
      preActivations: fwd.pre.map((z) => Array.from(z)),
      ...(net.inputShape || hasSpatialLayers(net) ? { shapes: layerShapes(net) } : {}),
      relevance,
      roots,
      flows: computeFlows(net, fwd.act, relevance, roots, rules, options.topK ?? DEFAULT_TOP_K, contributions),
      tree,
      treeTruncated,
      baselines,
      diagnostics: { ...diagExtra, layers, checkDefinitions: checkDefinitions('pattern') },
      backend: ops.backend,
      precision: method === 'full-backward' ? 'float64' : ops.precision,
      seed,
      // Every option that changed the numbers (with the rules, method, finder, output, seed, precision and backend above).
      options: {
        nudge,
        topK: options.topK ?? DEFAULT_TOP_K,
        ...(method === 'lrp' ? { zeroBias: options.zeroBias ?? false } : {}),
        ...(method === 'full-backward' ? { maxCost: options.maxCost ?? DEFAULT_MAX_COST, maxTreeEntries: options.maxTreeEntries ?? DEFAULT_MAX_TREE_ENTRIES } : {}),
        ...(rootFinder === 'metropolis-hastings' ? { metropolisHastings: { ...DEFAULT_MH, ...options.metropolisHastings } } : {}),
        ...(rootFinder === 'interpolation' ? { interpolation: { ...DEFAULT_INTERPOLATION, ...options.interpolation } } : {}),
        ...(rootFinder === 'metropolis-hastings' || rootFinder === 'interpolation' ? { sameRegion: { ...DEFAULT_SAME_REGION, ...options.sameRegion } } : {}),
        ...(rootFinder === 'hit-and-run' ? { hitAndRun: { ...options.hitAndRun } } : {}),
      },
      timings,
      warnings,
    };
  } finally {
    mats.dispose();
  }
}

/** What a pooling layer does in a DTD decomposition (it takes no rule). */
function poolRuleText(net: Network, i: number): string | null {
  const k = net.layers[i].kind;
  return k === 'maxpool2d' ? 'max pool: winner takes all' : k === 'avgpool2d' ? 'avg pool: proportional (z+)' : null;
}

/** zB bounds given per channel (image inputs) become one value per input unit, so single-unit roots and domain checks index them directly. */
function expandChannelBounds(net: Network, rules: RuleSpec[]): RuleSpec[] {
  return rules.map((r, i) => {
    const layer = net.layers[i];
    if (r.name !== 'zB' || layer.kind === 'dense') return r;
    const [C, H, W] = layer.inShape;
    const expand = (b: number | number[] | undefined) => (Array.isArray(b) && b.length === C && b.length !== layer.inFeatures ? Array.from({ length: C * H * W }, (_, u) => b[Math.floor(u / (H * W))]) : b);
    return { ...r, low: expand(r.low), high: expand(r.high) };
  });
}

/** Largest dense-equivalent weight count full-backward materializes for conv/avg-pool layers. */
const MAX_FULL_BACKWARD_WEIGHTS = 2e7;

/**
 * The network full-backward and the sampled finders work on: dense layers as
 * they are, conv and average-pool layers as their dense matrices (for small
 * networks), and max pools as the selection of the winners they have at the
 * explained input x (pooling.ts; roots that change a winner are flagged).
 */
export function fullBackwardNetwork(net: Network, maxCost: number, x: ArrayLike<number>): DenseNetwork {
  if (!hasSpatialLayers(net)) return requireDense(net);
  const weights = net.layers.reduce((acc, l) => acc + l.inFeatures * l.outFeatures, 0);
  if (weights > Math.max(MAX_FULL_BACKWARD_WEIGHTS, maxCost)) {
    throw new DtdError(
      'too-costly',
      `${net.source.file}: full-backward on this convolutional network needs its layers as dense matrices, ${weights.toExponential(2)} weights in all (limit ${Math.max(MAX_FULL_BACKWARD_WEIGHTS, maxCost).toExponential(2)}). Use the train-free method or LRP.`,
      net.source.file,
    );
  }
  const act = forward64(net, x).act;
  return { ...net, layers: net.layers.map((l, i) => (l.kind === 'maxpool2d' ? maxPoolAsSelection(l, act[i]) : materializeDense(l))) };
}

/** Full-backward on a network with max pools: roots whose real max-pool winners differ from their call input's are outside the region. */
function checkMaxPoolWinners(net: Network, x: ArrayLike<number>, roots: RootInfo[][], tree: TreeEntry[] | null): number {
  if (!net.layers.some((l) => l.kind === 'maxpool2d')) return 0;
  const act = forward64(net, x).act;
  let flagged = 0;
  for (const layerRoots of roots) {
    for (const q of layerRoots) {
      if (!q.root || !q.checks) continue;
      const change = maxPoolWinnerChange(net, q.layer, act[q.layer - 1], q.root);
      if (change) {
        flagged += q.checks.inRegion ? 1 : 0;
        q.checks.inRegion = false;
        q.checks.crossing ??= change;
      }
    }
  }
  for (const e of tree ?? []) {
    const change = maxPoolWinnerChange(net, e.layer, e.input, e.root);
    if (change) {
      flagged += e.checks.inRegion ? 1 : 0;
      e.checks.inRegion = false;
      e.checks.crossing ??= change;
    }
  }
  return flagged;
}

function lastLayerRelevance(net: Network, row: number, value: number): number[] {
  const r = new Array(net.layers[net.layers.length - 1].outFeatures).fill(0);
  r[row] = value;
  return r;
}

interface TrainFreeOutcome {
  relevance: (number[] | null)[];
  status: ExplainResult['status'];
  statusCode: ExplainResult['statusCode'];
  message: string | null;
}

export function runTrainFree<M extends Mat>(mats: NetMats<M>, x: Float64Array, row: number, rules: RuleSpec[], checkConsistent: boolean): TrainFreeOutcome {
  const { ops, net } = mats;
  const L = net.layers.length;
  const X = ops.matrix(1, x.length, x);
  const bf = forwardBatch(mats, X);
  const start = explainedRowStart(ops, bf.act[L], row);
  const tf = trainFreeBatch(mats, bf, rules, start.top, start.mask);
  const relevance = tf.relevance.map((m) => Array.from(ops.read(m)));
  ops.dispose(X, ...bf.pre, ...bf.act.slice(1), ...tf.relevance);
  let status: TrainFreeOutcome['status'] = 'ok';
  let statusCode: TrainFreeOutcome['statusCode'] = 'ok';
  let message: string | null = null;
  for (let l = L; l >= 1; l--) {
    if (tf.rootCounts[l - 1][0] === 0) {
      status = 'failed';
      statusCode = 'no-root';
      message = `No unit of ${net.layers[l - 1].name} has a root under rule ${ruleToText(rules[l - 1])} (v·w = 0 for every unit, e.g. all its inputs are 0): relevance stops there, so the layers below receive none.`;
      break;
    }
  }
  if (status === 'ok' && checkConsistent) {
    const bad = rules.findIndex((r) => r.name === '0');
    if (bad >= 0) {
      status = 'failed';
      statusCode = 'inconsistent';
      message = `Rule 0 takes the origin as root: a unit passes on w·a instead of its relevance, so relevance is not conserved (the research code's consistency check fails). The values are shown for comparison only.`;
    }
  }
  return { relevance, status, statusCode, message };
}

/**
 * The root each unit used in the train-free decomposition, with the checks:
 * the unit's train-free relevance re-computed at the root (batched: all roots
 * of a layer form one batch), whether the root keeps the input's activation
 * pattern in the layers above, and whether it is in the input domain.
 */
export function trainFreeRoots<M extends Mat>(
  mats: NetMats<M>,
  x: Float64Array,
  row: number,
  rules: RuleSpec[],
  relevance: (number[] | null)[],
  inputNonNegative: boolean,
  warnings?: string[],
): RootInfo[][] {
  const { ops, net } = mats;
  const L = net.layers.length;
  const fx = forward64(net, x);
  const out: RootInfo[][] = [];
  // The crossed constraint is named from the exact region (dense networks; one region per layer input).
  const allDense = net.layers.every((q) => q.kind === 'dense');
  for (let l = 1; l <= L; l++) {
    let region: Polytope | undefined;
    const layer = net.layers[l - 1];
    const rule = rules[l - 1];
    const a = fx.act[l - 1];
    const n = layer.inFeatures;
    const R = relevance[l] ?? [];
    const units = l === L ? [row] : Array.from({ length: layer.outFeatures }, (_, j) => j);
    // Pooling layers have no rule roots (max: winner takes all; average: proportional).
    if (layer.kind !== 'dense' && layer.kind !== 'conv2d') {
      out.push([]);
      continue;
    }
    // Each root is a point in the layer's input space: units·n numbers, and a batch of that size re-run above the layer.
    const rootCost = units.length * n;
    if (rootCost > MAX_ROOT_CHECK_COST) {
      warnings?.push(`Root diagnostics skipped for ${layer.name}: its ${units.length} units each have a root of ${n} values (${rootCost.toExponential(2)} numbers; limit ${MAX_ROOT_CHECK_COST.toExponential(0)}).`);
      out.push([]);
      continue;
    }
    const infos: RootInfo[] = [];
    const pts: Float64Array[] = [];
    const who: number[] = [];
    let pinvRoot: Float64Array | null = null;
    if (rule.name === 'pinv') {
      const P = ops.read(mats.pinvT(l)); // [in, out]
      pinvRoot = Float64Array.from(a);
      for (let i = 0; i < n; i++) for (let j = 0; j < layer.outFeatures; j++) pinvRoot[i] -= P[i * layer.outFeatures + j] * (R[j] ?? 0);
    }
    for (const j of units) {
      const w = denseRow(layer, j);
      const r = pinvRoot ? pinvRoot.slice() : singleNeuronRoot(rule, w, a, R[j] ?? 0).root;
      if (!r) {
        infos.push({ layer: l, unit: j, hasRoot: false, root: null, relevanceAtInput: R[j] ?? 0, relevanceAtRoot: null, passedOn: 0, taylorResidual: null, distance: null, checks: null });
        continue;
      }
      let d = 0;
      for (let i = 0; i < n; i++) d += (a[i] - r[i]) ** 2;
      let passed = 0;
      if (rule.name === '0') for (let i = 0; i < n; i++) passed += w[i] * a[i];
      else if (rule.name === 'pinv') for (let i = 0; i < n; i++) passed += w[i] * (a[i] - r[i]);
      else passed = R[j] ?? 0;
      infos.push({
        layer: l,
        unit: j,
        hasRoot: true,
        root: Array.from(r),
        relevanceAtInput: R[j] ?? 0,
        relevanceAtRoot: null,
        passedOn: passed,
        taylorResidual: null,
        distance: Math.sqrt(d),
        checks: null,
      });
      pts.push(r);
      who.push(infos.length - 1);
    }
    if (pts.length) {
      // Evaluate the unit's relevance function at every root in one batch.
      const P = ops.matrix(pts.length, n, concat(pts, n));
      const bf = forwardBatch(mats, P, l);
      const aFwd = forwardBatch(mats, ops.matrix(1, n, a), l);
      const refPre = aFwd.pre.map((z) => ops.read(z));
      const rootPre = bf.pre.map((z) => ops.read(z));
      let atRoot: Float64Array;
      if (l === L) {
        const top = ops.read(bf.act[L - l + 1]);
        const nL = layer.outFeatures;
        atRoot = Float64Array.from(pts, (_, s) => top[s * nL + row]);
      } else {
        const nL = net.layers[L - 1].outFeatures;
        const B = pts.length;
        const topAll = ops.read(bf.act[L - l + 1]);
        const top = new Float64Array(B * nL);
        const mask = new Float64Array(B * nL);
        for (let s = 0; s < B; s++) {
          top[s * nL + row] = topAll[s * nL + row];
          mask[s * nL + row] = 1;
        }
        // Re-run the train-free decomposition above layer l at each root, down to layer l's units.
        const fwdAbove: typeof bf = { pre: bf.pre.slice(1), act: bf.act.slice(1) };
        const tf = trainFreeBatch(mats, fwdAbove, rules, ops.matrix(B, nL, top), ops.matrix(B, nL, mask), l + 1);
        const Rl = ops.read(tf.relevance[0]);
        const m = layer.outFeatures;
        atRoot = Float64Array.from(pts, (_, s) => Rl[s * m + infos[who[s]].unit]);
      }
      const storeRoots = pts.length * n <= MAX_ROOT_VALUES_PER_LAYER;
      for (let s = 0; s < pts.length; s++) {
        const info = infos[who[s]];
        const Rj = info.relevanceAtInput;
        info.relevanceAtRoot = atRoot[s];
        info.taylorResidual = Rj - atRoot[s] - info.passedOn;
        const inRegion = samePattern(net, l, refPre, rootPre, row, s);
        let crossing: string | null = null;
        if (!inRegion && allDense) {
          region ??= localLinearRegion(new TypedOps('float64'), net as DenseNetwork, l, a, undefined, row);
          crossing = crossingIn(region, net as DenseNetwork, a, pts[s]);
        }
        info.checks = rootChecks(atRoot[s], Rj, inRegion, inDomain(rule, pts[s], l > 1 || inputNonNegative), crossing);
        if (!storeRoots) info.root = null;
      }
    }
    out.push(infos);
  }
  return out;
}

function concat(rows: Float64Array[], n: number): Float64Array {
  const out = new Float64Array(rows.length * n);
  rows.forEach((r, i) => out.set(r, i * n));
  return out;
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

export type { Ops };
