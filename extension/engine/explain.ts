// explain(): the one entry point every shell (child process, command line,
// tests, benchmark) calls. It validates, picks the compute implementation,
// runs the requested decomposition, and assembles the JSON result with
// baselines and diagnostics. Expected failures of the method (no root, no
// positive relevance, signed input for the interpolation finder) come back as
// a result with status 'failed' and a message; only bad usage/input throws.

import { DtdError, throwIfCancelled } from './errors';
import { lrpBatch, lrpRuleText, resolveLrpRules } from './baselines';
import { forward as forward64, forwardBatch, NetMats } from './forward';
import { DecompositionFailure, fullBackwardCost, LinearFullBackward } from './fullBackward';
import { explainedRow as rowOf, hasSpatialLayers, layerShapes, outputSize, type Network } from './network';
import type { Mat } from './ops/ops';
import { opsFor } from './ops/select';
import { parseRuleMap, ruleToText } from './rules';
import { runSampledFullBackward } from './sampled';
import { explainBatch, trainFreeRoots } from './explainBatch';
import { type Baselines, checkDefinitions, DEFAULT_BASELINES, DEFAULT_INTERPOLATION, DEFAULT_MAX_COST, DEFAULT_MAX_TREE_ENTRIES, DEFAULT_METHOD, DEFAULT_MH, DEFAULT_NUDGE, DEFAULT_PRECISION, DEFAULT_ROOT_FINDER, DEFAULT_SAME_REGION, DEFAULT_SEED, DEFAULT_TOP_K, type ExplainOptions, escapeName, type ExplainResult, METHODS, type Precision, quoteName, RESULT_SCHEMA, ROOT_FINDERS, type RootInfo, type RuleSpec, type TreeEntry } from '../protocol';
import { computeFlows } from './flows';
import { computeChannelFlows, type FullWalk } from './crp';
import { ENGINE_VERSION } from './version';
import { aboutCount, computeBaselines, describeNonFinite, fullBackwardLog10Cost, dropNonFiniteBaselines, firstNonFinite, firstNonFiniteForward, FLOAT64_HINT, lastLayerRelevance, layerDiagnostics, layerLabel, poolRuleText, summarizeModel, topDown } from './assemble';
import { checkMaxPoolWinners, fullBackwardNetwork, graphChainBlocks } from './fullBackwardNet';
import { graphResults } from './graphChain';

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
  // The root tree also stops at LIMITS.treeValues numbers (fullBackward.ts, sampled.ts), so a result stays small
  // enough to store, send and draw; beyond either bound it is marked truncated.
  const maxTreeEntries = options.maxTreeEntries ?? DEFAULT_MAX_TREE_ENTRIES;
  const progress = options.onProgress ?? (() => {});
  const warnings: string[] = [];
  const timings: Record<string, number> = {};
  const inputNonNegative = x.every((v) => v >= 0);

  progress({ stage: 'Preparing', fraction: 0 });
  const ops = await opsFor(net, precision, options.backend ?? 'auto', warnings);
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

  // Finite or failed: a forward pass that overflows (float64) is not decomposed at all.
  const fwdBad = firstNonFiniteForward(fwd.pre, fwd.act);
  if (fwdBad) {
    status = 'failed';
    statusCode = 'non-finite';
    message = `The forward pass is not finite from ${layerLabel(net, fwdBad.index)} up (${describeNonFinite(fwdBad)} in its pre-activations or activations, even in float64): the weights or the input are too large to compute with, so nothing is decomposed.`;
  } else if (!(explainedValue > 0)) {
    warnings.push(`The explained output is ${explainedValue}: with f(x) ≤ 0 there is no positive relevance to decompose.`);
  }

  // Every tensor this explanation makes is freed when it ends (an engine process explains run after run).
  const endScope = ops.beginScope();
  const mats = new NetMats(ops, net);
  let lrpWalk: FullWalk<Mat> | undefined;
  let failed = false;
  try {
    const tStart = performance.now();
    if (fwdBad) {
      // Nothing to decompose: the result carries the activations and says where they overflowed.
    } else if (method === 'train-free') {
      progress({ stage: 'Train-free decomposition', fraction: 0.1 });
      const tf = runTrainFree(mats, x, row, rules, options.checkConsistent ?? true);
      relevance = tf.relevance;
      status = tf.status;
      statusCode = tf.statusCode;
      message = tf.message;
      progress({ stage: 'Checking roots', fraction: 0.5 });
      if (statusCode !== 'non-finite' && !firstNonFinite(relevance)) {
        const sampled: { layer: number; checked: number; units: number }[] = [];
        roots = trainFreeRoots(mats, [x], [relevance], row, rules, { inputNonNegative: [inputNonNegative], warnings, seed, onSampled: (layer, checked, units) => sampled.push({ layer, checked, units }) })[0];
        if (sampled.length) diagExtra.rootSampling = sampled;
      }
    } else if (lrpRules) {
      progress({ stage: 'LRP', fraction: 0.1 });
      const X = ops.matrix(1, x.length, x);
      const fwd = forwardBatch(mats, X);
      const out = lrpBatch(mats, X, row, lrpRules, fwd);
      // The channel flows below walk the same decomposition: they get this one (the scope frees X and fwd).
      lrpWalk = { fwd, relevance: out.relevance.map((m) => ops.read(m)) };
      relevance = lrpWalk.relevance.map((r) => Array.from(r));
      ops.dispose(...out.relevance);
    } else if (rootFinder === 'linear') {
      const cost = fullBackwardCost(fbNet!);
      const maxCost = options.maxCost ?? DEFAULT_MAX_COST;
      if (cost > maxCost) {
        throw new DtdError(
          'too-costly',
          `${escapeName(net.source.file.split(/[\\/]/).pop() ?? net.source.file)}: full-backward with the linear root finder needs ${aboutCount(cost, fullBackwardLog10Cost(fbNet!))} relevance evaluations on this ${L}-layer network (the recursion is exponential in depth); the limit is ${maxCost.toExponential(2)}. Use the train-free method, a sampled root finder, or raise maxCost.`,
        );
      }
      if (precision === 'float32') warnings.push('Full-backward with the linear root finder runs in float64: roots on ReLU hinges are decided by rounding.');
      progress({ stage: 'Full-backward decomposition', fraction: 0.05 });
      const fb = new LinearFullBackward(fbNet!, fbRules, row, {
        nudge,
        maxTreeEntries,
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
        maxTreeEntries,
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
    const blocks = fbNet ? graphChainBlocks(fbNet) : undefined;
    if (blocks) {
      // A graph network decomposed as a chain that carries the live tensors (graphChain.ts): results in the graph's terms.
      const g = graphResults(net, blocks, relevance, roots, contributions);
      relevance = g.relevance;
      roots = g.roots;
      contributions = g.contributions;
      warnings.push('This network is a graph: full-backward decomposes it as a chain whose layers also carry the tensors that later layers read (skip connections), so each layer input is the whole cut of the graph there. Relevance and roots are shown on the graph; the root tree lists carried units too, past each layer\'s own units.');
    }
    if (method === 'full-backward' && net.layers.some((l) => l.kind === 'maxpool2d')) {
      const flagged = checkMaxPoolWinners(net, x, roots, tree);
      warnings.push(
        `Max pooling is linearized at the input for full-backward: each window keeps the winner it has at x (DTD's winner-takes-all)${flagged ? `; ${flagged} root${flagged === 1 ? '' : 's'} would change a winner and ${flagged === 1 ? 'is' : 'are'} marked outside the region` : ''}.`,
      );
    }
    timings.decomposition = performance.now() - tStart;
    throwIfCancelled(options.signal);
    // Relevance that is NaN or ±Infinity anywhere fails the result, naming where it appeared first going down.
    const float32 = ops.precision === 'float32' && method !== 'full-backward';
    const relBad = fwdBad || statusCode === 'non-finite' ? null : firstNonFinite(relevance, topDown(L));
    if (relBad) {
      status = 'failed';
      statusCode = 'non-finite';
      message = `The relevance is not finite at ${layerLabel(net, relBad.index)}, the first layer going down from the output where it is not (${describeNonFinite(relBad)}; f(x) = ${Math.abs(explainedValue) >= 1e6 ? explainedValue.toExponential(3) : explainedValue}).${float32 ? ` ${FLOAT64_HINT}` : ' The weights or activations are too large for the rule to compute with.'}`;
    }

    let baselines: Baselines | null = null;
    if ((options.baselines ?? DEFAULT_BASELINES) && !fwdBad) {
      progress({ stage: 'Baselines', fraction: 0.96 });
      const tb = performance.now();
      baselines = dropNonFiniteBaselines(net, computeBaselines(mats, x, row, { signal: options.signal }), ops.precision === 'float32', warnings);
      timings.baselines = performance.now() - tb;
    }

    // Concepts (CRP): channel-to-channel flows of the layers with image-shaped tensors (crp.ts).
    let channelFlows: ExplainResult['channelFlows'];
    if (method !== 'full-backward' && hasSpatialLayers(net) && !fwdBad && !relBad && !rules.some((r) => r.name === '0')) {
      const tc = performance.now();
      const cf = computeChannelFlows(mats, x, row, lrpRules ? { method: 'lrp', rules: lrpRules } : { method: 'train-free', rules }, lrpWalk);
      channelFlows = cf.flows;
      if (cf.skipped.length) warnings.push(`Channel flows left out for ${cf.skipped.length} layer${cf.skipped.length === 1 ? '' : 's'} (too many channels or too much work): ${cf.skipped.slice(0, 4).join(', ')}${cf.skipped.length > 4 ? ', …' : ''}.`);
      timings.channelFlows = performance.now() - tc;
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
      ...(channelFlows ? { channelFlows } : {}),
      tree,
      treeTruncated,
      baselines,
      diagnostics: { ...diagExtra, layers, checkDefinitions: checkDefinitions('pattern', method === 'train-free' ? ops.precision : 'float64') },
      backend: ops.backend,
      precision: method === 'full-backward' ? 'float64' : ops.precision,
      seed,
      // Every option that changed the numbers (with the rules, method, finder, output, seed, precision and backend above).
      options: {
        nudge,
        topK: options.topK ?? DEFAULT_TOP_K,
        ...(method === 'lrp' ? { zeroBias: options.zeroBias ?? false } : {}),
        ...(method === 'full-backward' ? { maxCost: options.maxCost ?? DEFAULT_MAX_COST, maxTreeEntries } : {}),
        ...(rootFinder === 'metropolis-hastings' ? { metropolisHastings: { ...DEFAULT_MH, ...options.metropolisHastings } } : {}),
        ...(rootFinder === 'interpolation' ? { interpolation: { ...DEFAULT_INTERPOLATION, ...options.interpolation } } : {}),
        ...(rootFinder === 'metropolis-hastings' || rootFinder === 'interpolation' ? { sameRegion: { ...DEFAULT_SAME_REGION, ...options.sameRegion } } : {}),
        ...(rootFinder === 'hit-and-run' ? { hitAndRun: { ...options.hitAndRun } } : {}),
      },
      timings,
      warnings,
    };
  } catch (e) {
    failed = true;
    throw e;
  } finally {
    // After a failure inside the backend (a wasm abort) freeing can fail too: that must not hide the first error.
    try {
      mats.dispose();
      endScope();
    } catch (e) {
      if (!failed) throw e;
    }
  }
}

/** zB bounds given per channel (image inputs) become one value per input unit, so single-unit roots and domain checks index them directly. */
export function expandChannelBounds(net: Network, rules: RuleSpec[]): RuleSpec[] {
  return rules.map((r, i) => {
    const layer = net.layers[i];
    if (r.name !== 'zB' || !('inShape' in layer)) return r;
    const [C, H, W] = layer.inShape;
    const expand = (b: number | number[] | undefined) => (Array.isArray(b) && b.length === C && b.length !== layer.inFeatures ? Array.from({ length: C * H * W }, (_, u) => b[Math.floor(u / (H * W))]) : b);
    return { ...r, low: expand(r.low), high: expand(r.high) };
  });
}

interface TrainFreeOutcome {
  relevance: (number[] | null)[];
  status: ExplainResult['status'];
  statusCode: ExplainResult['statusCode'];
  message: string | null;
}

/** Train-free DTD of one input through the batch core, with the status a user reads. */
function runTrainFree<M extends Mat>(mats: NetMats<M>, x: Float64Array, row: number, rules: RuleSpec[], checkConsistent: boolean): TrainFreeOutcome {
  const { ops, net } = mats;
  const X = ops.matrix(1, x.length, x);
  const b = explainBatch(mats, X, row, rules);
  const relevance = b.relevance.map((m) => Array.from(ops.read(m)));
  // The float64 forward pass was finite (explain() checked it); in float32 it may still overflow.
  const fwdBad = firstNonFiniteForward(b.fwd.pre.map((m) => ops.read(m)), b.fwd.act.map((m) => ops.read(m)));
  b.dispose();
  ops.dispose(X);
  let status: TrainFreeOutcome['status'] = 'ok';
  let statusCode: TrainFreeOutcome['statusCode'] = 'ok';
  let message: string | null = null;
  const l = b.noRootLayer[0];
  if (fwdBad) {
    status = 'failed';
    statusCode = 'non-finite';
    message = `In ${ops.precision} the forward pass is not finite from ${layerLabel(net, fwdBad.index)} up (${describeNonFinite(fwdBad)}), although it is in float64.${ops.precision === 'float32' ? ` ${FLOAT64_HINT}` : ''}`;
  } else if (l > 0) {
    status = 'failed';
    statusCode = 'no-root';
    message = `No unit of ${quoteName(net.layers[l - 1].name)} has a root under rule ${ruleToText(rules[l - 1])} (v·w = 0 for every unit, e.g. all its inputs are 0): relevance stops there, so the layers below receive none.`;
  } else if (checkConsistent && rules.some((r) => r.name === '0')) {
    status = 'failed';
    statusCode = 'inconsistent';
    message = `Rule 0 takes the origin as root: a unit passes on w·a instead of its relevance, so relevance is not conserved (the research code's consistency check fails). The values are shown for comparison only.`;
  }
  return { relevance, status, statusCode, message };
}
