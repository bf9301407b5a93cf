// The root audit: the research experiment of Sixt & Landgraf (TMLR 2022) as a
// command. N inputs drawn as the research does (|N(0, I)|, redrawn until the
// explained output exceeds a threshold); for every rule and method, how often
// a root leaves the input's local linear region, how often it does not move
// the output, how far roots are from the input, how often relevance turns
// negative, and how far relevance sums are from f(x). Optional sanity checks
// from the literature: cascading parameter randomisation, random logit, and
// pixel flipping (AOPC) against a random order.
// Train-free runs batched over all inputs (one decomposition call per rule,
// one batched forward pass per layer for all roots); full-backward reuses one
// region cache across inputs.

import { DtdError, throwIfCancelled } from './errors';
import { forward as forward64, NetMats } from './forward';
import { LinearFullBackward, DecompositionFailure, fullBackwardCost } from './fullBackward';
import { explainedRow, outputSize, type DenseNetwork, type Network } from './network';
import { TypedOps } from './ops/typed';
import { Rng } from './rng';
import { parseRule, resolveRules, ruleToText } from './rules';
import { SampledFullBackward } from './sampled';
import { explainBatch, trainFreeRoots } from './explainBatch';
import { checkMaxPoolWinners, fullBackwardNetwork } from './fullBackwardNet';
import { aboutCount, fullBackwardLog10Cost, summarizeModel } from './assemble';
import { outputUnmoved, type AuditOptions, type AuditResult, type AuditRow, type CancelSignal, DEFAULT_INTERPOLATION, DEFAULT_MAX_COST, DEFAULT_MH, DEFAULT_NUDGE, DEFAULT_SAME_REGION, LIMITS, type Method, type RootFinderName, type RuleSpec, type SanityCheck, type SanityResult, type TreeEntry } from '../protocol';

export const AUDIT_DEFINITIONS: Record<string, string> = {
  shareInputsWithRootOutside: 'fraction of inputs with at least one root outside the local linear region of its layer input',
  shareRootsOutside: 'fraction of roots (of units that carry relevance) outside the local linear region: another ReLU on/off pattern in some layer above (units within 1e-9 of their hinge count as either side)',
  shareRootsUnmoved: 'fraction of roots where the network output computed from the root equals f(x) (|Δ| ≤ 1e-12·max(1, |f(x)|)): the root does not remove any output',
  medianRootDistance: 'median Euclidean distance between a root and its layer input',
  shareInputsWithNegativeRelevance: 'fraction of inputs whose input relevance has a negative entry (below −1e-12·f(x))',
  meanConservationError: 'mean over inputs of |Σ input relevance − f(x)| / f(x)',
};

const f64 = new TypedOps('float64');

export interface DrawOptions {
  /** The most draws rejected (explained output not above the threshold); default LIMITS.randomInputDraws + 1000·(n − 1). */
  maxRejected?: number;
  /** The most seconds spent on rejected draws; default LIMITS.randomInputSeconds. */
  maxSeconds?: number;
  signal?: CancelSignal;
  /** The clock in ms (tests). */
  now?: () => number;
}

/** What a search for random inputs saw: per output (after the output selection), how often it was above the threshold and how often it was the largest. */
export interface DrawSearch {
  inputs: Float64Array[];
  draws: number;
  seconds: number;
  /** Why the search stopped before it had n inputs; null when it has them. */
  stoppedBy: 'draws' | 'time' | null;
  /** above[k]: draws whose output k exceeded the threshold (finite or not). */
  above: number[];
  /** largest[k]: draws where output k was the largest output. */
  largest: number[];
  /** firstAbove[k]: the first draw whose output k exceeded the threshold. */
  firstAbove: (Float64Array | null)[];
}

/**
 * Draws |N(0, I)| inputs (deterministic for a seed) until n of them have the
 * output on last-layer row `row` above `minOutput`, within a budget of
 * rejected draws and of time spent on them, so that an output that is never
 * positive ends in seconds, not minutes.
 */
export function searchInputs(net: Network, n: number, seed: number, row: number, minOutput: number, opts: DrawOptions = {}): DrawSearch {
  const rng = new Rng(seed);
  const now = opts.now ?? (() => performance.now());
  const maxRejected = opts.maxRejected ?? LIMITS.randomInputDraws + 1000 * Math.max(0, n - 1);
  const maxMs = 1000 * (opts.maxSeconds ?? LIMITS.randomInputSeconds);
  const sel = net.outputSelection;
  const start = sel ? sel.start : 0;
  const nOut = outputSize(net);
  const L = net.layers.length;
  const out: DrawSearch = { inputs: [], draws: 0, seconds: 0, stoppedBy: null, above: new Array(nOut).fill(0), largest: new Array(nOut).fill(0), firstAbove: new Array(nOut).fill(null) };
  const t0 = now();
  let rejected = 0;
  let rejectedMs = 0;
  while (out.inputs.length < n) {
    if (rejected >= maxRejected) {
      out.stoppedBy = 'draws';
      break;
    }
    if (rejectedMs >= maxMs) {
      out.stoppedBy = 'time';
      break;
    }
    if ((out.draws & 255) === 255) throwIfCancelled(opts.signal);
    const t = now();
    const x = Float64Array.from({ length: net.inputSize }, () => Math.abs(rng.normal()));
    const top = forward64(net, x).act[L];
    out.draws++;
    let best = 0;
    for (let k = 0; k < nOut; k++) {
      const v = top[start + k];
      if (v > minOutput) {
        out.above[k]++;
        out.firstAbove[k] ??= x;
      }
      if (v > top[start + best]) best = k;
    }
    out.largest[best]++;
    if (top[row] > minOutput) out.inputs.push(x);
    else {
      rejected++;
      rejectedMs += now() - t;
    }
  }
  out.seconds = (now() - t0) / 1000;
  return out;
}

/** "7 (100 %), 8 (99.8 %)": the outputs above the threshold in a search, most often first. */
export function outputsAbove(search: DrawSearch, limit = 10): string {
  const ks = search.above.map((c, k) => ({ c, k })).filter((e) => e.c > 0).sort((a, b) => b.c - a.c || a.k - b.k);
  const pct = (c: number) => `${+((100 * c) / search.draws).toPrecision(3)} %`;
  return ks.slice(0, limit).map((e) => `${e.k} (${pct(e.c)})`).join(', ') + (ks.length > limit ? `, … (${ks.length} in all)` : '');
}

/** Why a search for random inputs ended without enough of them, naming the model file and what to do. */
export function searchFailure(net: Network, search: DrawSearch, n: number, k: number, seed: number, minOutput: number, outputFlag = '--output K'): DtdError {
  const file = net.source.file;
  const budget = search.stoppedBy === 'time' ? `the time limit of ${LIMITS.randomInputSeconds} s for draws that miss` : `the limit of draws that miss`;
  const found = n === 1 ? `no random input with output ${k} above ${minOutput}` : `only ${search.inputs.length} of ${n} random inputs with output ${k} above ${minOutput}`;
  const others = outputsAbove(search);
  const advice = others
    ? `Outputs above ${minOutput} in these draws: ${others}; explain one of them with ${outputFlag}.`
    : `No output was above ${minOutput} in these draws: give an input of your own (--input FILE), or a lower --min-output.`;
  return new DtdError(
    'bad-input',
    `${file}: ${found} in ${search.draws} draws from |N(0, I)| (seed ${seed}, ${search.seconds.toFixed(1)} s; stopped at ${budget}); output ${k} may be off for non-negative inputs. ${advice}`,
    file,
  );
}

/** |N(0, I)| inputs with f(x) > minOutput, as the research experiments draw them (within the draw budget of searchInputs). */
export function drawInputs(net: Network, n: number, seed: number, row: number, minOutput: number, opts: DrawOptions = {}): Float64Array[] {
  const search = searchInputs(net, n, seed, row, minOutput, opts);
  if (search.inputs.length < n) throw searchFailure(net, search, n, row - (net.outputSelection?.start ?? 0), seed, minOutput);
  return search.inputs;
}

function median(v: number[]): number {
  if (!v.length) return NaN;
  const s = [...v].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Spearman rank correlation (ties get their average rank); NaN when a side is constant. */
export function spearman(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const rank = (v: ArrayLike<number>) => {
    const idx = Array.from({ length: v.length }, (_, i) => i).sort((p, q) => v[p] - v[q]);
    const r = new Float64Array(v.length);
    for (let i = 0; i < idx.length; ) {
      let j = i;
      while (j + 1 < idx.length && v[idx[j + 1]] === v[idx[i]]) j++;
      for (let k = i; k <= j; k++) r[idx[k]] = (i + j) / 2;
      i = j + 1;
    }
    return r;
  };
  const ra = rank(a), rb = rank(b);
  const n = ra.length;
  const ma = ra.reduce((s, x) => s + x, 0) / n, mb = rb.reduce((s, x) => s + x, 0) / n;
  let sab = 0, saa = 0, sbb = 0;
  for (let i = 0; i < n; i++) {
    sab += (ra[i] - ma) * (rb[i] - mb);
    saa += (ra[i] - ma) ** 2;
    sbb += (rb[i] - mb) ** 2;
  }
  return saa > 0 && sbb > 0 ? sab / Math.sqrt(saa * sbb) : NaN;
}

/** Train-free DTD of all inputs through the batch core: input relevance [N, n0], f(x) per input, and which inputs decomposed. */
function trainFreeAll(net: Network, X: Float64Array[], row: number, rules: RuleSpec[]): { relevance: Float64Array[]; f: Float64Array; ok: boolean[] } {
  const mats = new NetMats(f64, net);
  const N = X.length, n0 = net.inputSize, L = net.layers.length;
  const Xm = f64.matrix(N, n0, concatRows(X, n0));
  const b = explainBatch(mats, Xm, row, rules);
  const nL = net.layers[L - 1].outFeatures;
  const top = f64.read(b.fwd.act[L]);
  const relevance = b.relevance.map((m) => f64.read(m));
  const f = Float64Array.from({ length: N }, (_, s) => top[s * nL + row]);
  // An input whose output or relevance is NaN or ±Infinity in some layer did not decompose (finite or failed).
  const widths = [n0, ...net.layers.map((l) => l.outFeatures)];
  const finite = (s: number) => Number.isFinite(f[s]) && relevance.every((r, l) => r.subarray(s * widths[l], (s + 1) * widths[l]).every(Number.isFinite));
  const out = { relevance, f, ok: b.ok.map((ok, s) => ok && finite(s)) };
  b.dispose();
  mats.dispose();
  return out;
}

function concatRows(rows: ArrayLike<number>[], n: number): Float64Array {
  const out = new Float64Array(rows.length * n);
  rows.forEach((r, i) => out.set(r, i * n));
  return out;
}

/** Per input: is there a negative input relevance (below −1e-12·f(x)), and the relative conservation error. */
function inputStats(r: ArrayLike<number>, f: number): { negative: boolean; consErr: number } {
  let sum = 0, negative = false;
  for (let i = 0; i < r.length; i++) {
    sum += r[i];
    if (r[i] < -1e-12 * Math.abs(f)) negative = true;
  }
  return { negative, consErr: Math.abs(sum - f) / Math.abs(f) };
}

function auditTrainFree(net: Network, X: Float64Array[], row: number, rules: RuleSpec[], ruleText: string, warnings: string[]): AuditRow {
  const N = X.length, L = net.layers.length, n0 = net.inputSize;
  const tf = trainFreeAll(net, X, row, rules);
  const mats = new NetMats(f64, net);
  const okIdx = X.map((_, s) => s).filter((s) => tf.ok[s]);
  // The same roots and checks as explain(), for every input that decomposed, batched per layer.
  const perLayer = (s: number) => tf.relevance.map((r, l) => r.subarray(s * (l === 0 ? n0 : net.layers[l - 1].outFeatures), (s + 1) * (l === 0 ? n0 : net.layers[l - 1].outFeatures)));
  const roots = trainFreeRoots(mats, okIdx.map((s) => X[s]), okIdx.map(perLayer), row, rules, { inputNonNegative: okIdx.map(() => true), relevantOnly: true, keepRoots: false, warnings });
  mats.dispose();
  const c = { withOutside: 0, outside: 0, unmoved: 0, negative: 0, consErr: 0 };
  let count = 0;
  const distances: number[] = [];
  okIdx.forEach((s, idx) => {
    let anyOutside = false;
    for (const layerRoots of roots[idx]) {
      for (const q of layerRoots) {
        if (!q.hasRoot || !q.checks) continue;
        count++;
        if (!q.checks.inRegion) {
          c.outside++;
          anyOutside = true;
        }
        if (outputUnmoved(q.outputAtRoot ?? NaN, tf.f[s])) c.unmoved++;
        distances.push(q.distance ?? NaN);
      }
    }
    if (anyOutside) c.withOutside++;
    const st = inputStats(tf.relevance[0].subarray(s * n0, (s + 1) * n0), tf.f[s]);
    if (st.negative) c.negative++;
    c.consErr += st.consErr;
  });
  void L;
  return auditRow(ruleText, 'train-free', 'linear', N, okIdx.length, count, c, distances);
}

function auditFullBackward(net: Network, X: Float64Array[], row: number, rules: RuleSpec[], ruleText: string, finder: RootFinderName, seed: number, opts: AuditOptions): AuditRow {
  const N = X.length;
  const maxCost = opts.maxCost ?? DEFAULT_MAX_COST;
  // Conv and average-pool layers become dense matrices; max pools the selection of their winners at each input (as explain does).
  const perInputNet = net.layers.some((l) => l.kind === 'maxpool2d');
  const fixedNet = perInputNet ? null : fullBackwardNetwork(net, maxCost, X[0]);
  const fbRules = rules.map((r, i) => (net.layers[i].kind === 'avgpool2d' ? ({ name: 'z+' } as RuleSpec) : r));
  const firstNet = fixedNet ?? fullBackwardNetwork(net, maxCost, X[0]);
  if (finder === 'linear') {
    const cost = fullBackwardCost(firstNet);
    if (cost > maxCost) throw new DtdError('too-costly', `${net.source.file.split(/[\\/]/).pop() ?? net.source.file}: full-backward with linear roots needs ${aboutCount(cost, fullBackwardLog10Cost(firstNet))} evaluations per input on this network (limit ${maxCost.toExponential(2)}); audit it with --root-finder polytope or --method train-free.`);
  }
  const samplerFor = (fbNet: DenseNetwork) => new SampledFullBackward(fbNet, fbRules, row, { finder: finder as Exclude<RootFinderName, 'linear'>, mh: DEFAULT_MH, interpolation: DEFAULT_INTERPOLATION, sameRegion: DEFAULT_SAME_REGION, seed, maxTreeEntries: 1_000_000, maxTreeValues: Infinity, inputNonNegative: true });
  // One sampler (and its region cache) across inputs when the network does not depend on the input.
  const shared = finder !== 'linear' && fixedNet ? samplerFor(fixedNet) : null;
  let ok = 0, roots = 0;
  const c = { withOutside: 0, outside: 0, unmoved: 0, negative: 0, consErr: 0 };
  const distances: number[] = [];
  for (let s = 0; s < N; s++) {
    if ((s & 15) === 0) {
      throwIfCancelled(opts.signal);
      opts.onProgress?.({ stage: `Full-backward (${finder}) with ${ruleText}: input ${s + 1} of ${N}`, fraction: s / N });
    }
    const x = X[s];
    const fbNet = fixedNet ?? fullBackwardNetwork(net, maxCost, x);
    const f = forward64(net, x).act[net.layers.length][row];
    let relevance: ArrayLike<number>;
    let tree: TreeEntry[];
    try {
      if (finder !== 'linear') {
        const out = (shared ?? samplerFor(fbNet)).run(x);
        if (out.failure || !out.relevance) continue;
        relevance = out.relevance[0]!;
        tree = out.tree;
      } else {
        const out = new LinearFullBackward(fbNet, fbRules, row, { nudge: DEFAULT_NUDGE, maxTreeEntries: 1_000_000, maxTreeValues: Infinity, inputNonNegative: true, signal: opts.signal }).run(x);
        relevance = out.relevance;
        tree = out.tree;
      }
    } catch (e) {
      if (e instanceof DecompositionFailure) continue;
      throw e;
    }
    if (!Number.isFinite(f) || !Array.prototype.every.call(relevance, Number.isFinite)) continue; // non-finite: a failed input
    if (perInputNet) checkMaxPoolWinners(net, x, [], tree);
    ok++;
    let anyOutside = false;
    for (const e of tree) {
      roots++;
      if (!e.checks.inRegion) {
        c.outside++;
        anyOutside = true;
      }
      if (outputUnmoved(e.outputAtRoot, e.outputAtInput)) c.unmoved++;
      let d2 = 0;
      for (let i = 0; i < e.root.length; i++) d2 += (e.root[i] - e.input[i]) ** 2;
      distances.push(Math.sqrt(d2));
    }
    if (anyOutside) c.withOutside++;
    const st = inputStats(relevance, f);
    if (st.negative) c.negative++;
    c.consErr += st.consErr;
  }
  return auditRow(ruleText, 'full-backward', finder, N, ok, roots, c, distances);
}

/** Turns the counts of one rule and method into shares (over the inputs that did not fail, and over the roots). */
function auditRow(
  rule: string,
  method: Method,
  rootFinder: RootFinderName,
  inputs: number,
  ok: number,
  roots: number,
  c: { withOutside: number; outside: number; unmoved: number; negative: number; consErr: number },
  distances: number[],
): AuditRow {
  return {
    rule,
    method,
    rootFinder,
    inputs,
    failedInputs: inputs - ok,
    roots,
    shareInputsWithRootOutside: ok ? c.withOutside / ok : NaN,
    shareRootsOutside: roots ? c.outside / roots : NaN,
    shareRootsUnmoved: roots ? c.unmoved / roots : NaN,
    medianRootDistance: median(distances),
    shareInputsWithNegativeRelevance: ok ? c.negative / ok : NaN,
    meanConservationError: ok ? c.consErr / ok : NaN,
  };
}

function randomizedCopy(net: Network, fromLayer: number, rng: Rng): Network {
  return {
    ...net,
    layers: net.layers.map((layer, i) => {
      if (i + 1 < fromLayer || (layer.kind !== 'dense' && layer.kind !== 'conv2d')) return layer;
      const std = Math.sqrt(layer.weight.reduce((s, w) => s + w * w, 0) / layer.weight.length) || 1;
      const bstd = Math.sqrt(layer.bias.reduce((s, b) => s + b * b, 0) / layer.bias.length);
      return { ...layer, weight: layer.weight.map(() => rng.normal() * std), bias: layer.bias.map(() => rng.normal() * bstd) };
    }),
  };
}

function sanityChecks(net: Network, X: Float64Array[], row: number, k: number, rules: RuleSpec[], checks: SanityCheck[], seed: number): SanityResult {
  const out: SanityResult = {};
  const base = trainFreeAll(net, X, row, rules);
  const n0 = net.inputSize, N = X.length, L = net.layers.length;
  const rel = (r: Float64Array, s: number) => r.subarray(s * n0, (s + 1) * n0);
  const rng = new Rng(seed + 1);
  if (checks.includes('randomization')) {
    out.randomization = [];
    for (let from = L; from >= 1; from--) {
      const rnet = randomizedCopy(net, from, rng);
      const r = trainFreeAll(rnet, X, row, rules);
      const cors: number[] = [];
      for (let s = 0; s < N; s++) {
        const c = spearman(rel(base.relevance[0], s), rel(r.relevance[0], s));
        if (Number.isFinite(c)) cors.push(c);
      }
      out.randomization.push({ randomizedFrom: net.layers[from - 1].name, meanSpearman: cors.length ? cors.reduce((a, b) => a + b, 0) / cors.length : NaN, pairs: cors.length });
    }
  }
  if (checks.includes('random-logit')) {
    const nOut = outputSize(net);
    if (nOut > 1) {
      const cors: number[] = [];
      for (let s = 0; s < N; s++) {
        let other = Math.floor(rng.uniform() * (nOut - 1));
        if (other >= k) other++;
        const r = trainFreeAll(net, [X[s]], explainedRow(net, other), rules);
        const c = spearman(rel(base.relevance[0], s), rel(r.relevance[0], 0));
        if (Number.isFinite(c)) cors.push(c);
      }
      out.randomLogit = { meanSpearman: cors.length ? cors.reduce((a, b) => a + b, 0) / cors.length : NaN, pairs: cors.length };
    }
  }
  if (checks.includes('pixel-flipping')) {
    const steps = Math.min(n0, 20);
    const chunk = Math.ceil(n0 / steps);
    let aopcRel = 0, aopcRand = 0;
    const f = (x: Float64Array) => forward64(net, x).act[L][row];
    for (let s = 0; s < N; s++) {
      const r = rel(base.relevance[0], s);
      const byRel = Array.from({ length: n0 }, (_, i) => i).sort((p, q) => r[q] - r[p]);
      const byRand = Array.from({ length: n0 }, (_, i) => i);
      for (let i = n0 - 1; i > 0; i--) {
        const j = Math.floor(rng.uniform() * (i + 1));
        [byRand[i], byRand[j]] = [byRand[j], byRand[i]];
      }
      const f0 = f(X[s]);
      for (const [order, add] of [[byRel, (v: number) => (aopcRel += v)], [byRand, (v: number) => (aopcRand += v)]] as const) {
        const x = Float64Array.from(X[s]);
        let acc = 0;
        for (let k2 = 0; k2 <= steps; k2++) {
          if (k2 > 0) for (const i of order.slice((k2 - 1) * chunk, k2 * chunk)) x[i] = 0;
          acc += f0 - f(x);
        }
        add(acc / (steps + 1));
      }
    }
    out.pixelFlipping = { steps, aopcRelevanceOrder: aopcRel / N, aopcRandomOrder: aopcRand / N };
  }
  return out;
}

export async function audit(model: Network, opts: AuditOptions): Promise<AuditResult> {
  const t0 = performance.now();
  const net = model;
  const k = opts.explainedOutput ?? 0;
  const nOut = outputSize(net);
  if (!Number.isInteger(k) || k < 0 || k >= nOut) throw new DtdError('bad-usage', `Output ${k} does not exist: ${net.source.file} has outputs 0..${nOut - 1}.`);
  if (!Number.isInteger(opts.inputs) || opts.inputs < 1) throw new DtdError('bad-usage', `--inputs must be a positive integer, got ${opts.inputs}.`);
  const row = explainedRow(net, k);
  const seed = opts.seed ?? 0;
  const minOutput = opts.minOutput ?? 0;
  const ruleTexts = opts.rules?.length ? opts.rules : ['z+', 'w2', 'x', 'gamma'];
  for (const r of ruleTexts) if (!r.includes(';') && !r.includes('*')) parseRule(r); // fail early on a bad rule
  const methods = opts.methods?.length ? opts.methods : (['train-free', 'full-backward'] as Method[]);
  const finder = opts.rootFinder ?? 'linear';
  const progress = opts.onProgress ?? (() => {});
  progress({ stage: `Drawing ${opts.inputs} inputs`, fraction: 0 });
  const X = drawInputs(net, opts.inputs, seed, row, minOutput, { signal: opts.signal });
  const timings: Record<string, number> = { draw: performance.now() - t0 };
  const warnings: string[] = [];
  const rows: AuditRow[] = [];
  const names = net.layers.map((l) => l.name);
  let done = 0;
  const total = ruleTexts.length * methods.length;
  for (const text of ruleTexts) {
    const rules = resolveRules(text, net.layers.length, names);
    const label = rules.every((r) => ruleToText(r) === ruleToText(rules[0])) ? ruleToText(rules[0]) : text;
    for (const method of methods) {
      throwIfCancelled(opts.signal);
      progress({ stage: `${method} with ${label}`, fraction: done / total });
      const t = performance.now();
      try {
        rows.push(method === 'train-free' ? auditTrainFree(net, X, row, rules, label, warnings) : auditFullBackward(net, X, row, rules, label, finder, seed, opts));
      } catch (e) {
        // A method too costly for this network (or one that needs a chain, on a graph) does not stop the others: its row says why it was skipped.
        if (!(e instanceof DtdError) || (e.code !== 'too-costly' && e.code !== 'unsupported')) throw e;
        rows.push({ ...auditRow(label, method, method === 'train-free' ? 'linear' : finder, X.length, 0, 0, { withOutside: 0, outside: 0, unmoved: 0, negative: 0, consErr: 0 }, []), failedInputs: 0, skipped: e.message });
      }
      timings[`${method}:${label}`] = performance.now() - t;
      done++;
    }
  }
  let sanity: SanityResult | null = null;
  if (opts.sanity?.length) {
    progress({ stage: 'Sanity checks', fraction: 0.95 });
    const t = performance.now();
    sanity = sanityChecks(net, X, row, k, resolveRules(ruleTexts[0], net.layers.length, names), opts.sanity, seed);
    timings.sanity = performance.now() - t;
  }
  timings.total = performance.now() - t0;
  progress({ stage: 'Done', fraction: 1 });
  return { schema: 'dtd-lens/audit@1', model: summarizeModel(net), explainedOutput: k, seed, minOutput, inputs: X.length, rows, sanity, definitions: AUDIT_DEFINITIONS, timings, warnings: [...new Set(warnings)] };
}

const pct = (v: number) => (Number.isNaN(v) ? '—' : `${(100 * v).toFixed(1)} %`);

export function auditTable(r: AuditResult): string {
  const head = ['rule', 'method', 'root finder', 'inputs ok', 'inputs w/ root outside', 'roots outside', 'roots unmoved', 'median distance', 'inputs w/ neg. relevance', 'conservation error'];
  const body = r.rows.map((x) => [
    x.rule,
    x.method,
    x.rootFinder,
    x.skipped ? 'skipped' : `${x.inputs - x.failedInputs}/${x.inputs}`,
    pct(x.shareInputsWithRootOutside),
    pct(x.shareRootsOutside),
    pct(x.shareRootsUnmoved),
    Number.isNaN(x.medianRootDistance) ? '—' : x.medianRootDistance.toPrecision(3),
    pct(x.shareInputsWithNegativeRelevance),
    Number.isNaN(x.meanConservationError) ? '—' : x.meanConservationError.toExponential(2),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (i < 3 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  const lines = [`Root audit of ${r.model.name}: ${r.inputs} inputs |N(0, I)| with output ${r.explainedOutput} > ${r.minOutput}, seed ${r.seed}`, '', line(head), line(widths.map((w) => '─'.repeat(w))), ...body.map(line)];
  const skipped = new Map<string, string[]>();
  for (const x of r.rows) if (x.skipped) skipped.set(x.skipped, [...(skipped.get(x.skipped) ?? []), `${x.rule} · ${x.method}`]);
  for (const [why, which] of skipped) lines.push('', `Skipped (${which.join(', ')}): ${why}`);
  for (const w of r.warnings ?? []) lines.push('', `Warning: ${w}`);
  if (r.sanity) {
    lines.push('', 'Sanity checks');
    if (r.sanity.randomization) for (const s of r.sanity.randomization) lines.push(`  parameters randomised from ${s.randomizedFrom} up: mean Spearman ρ with the original explanation ${Number.isNaN(s.meanSpearman) ? '— (no input has relevance left)' : s.meanSpearman.toFixed(3)} (${s.pairs} inputs)`);
    if (r.sanity.randomLogit) lines.push(`  random other output: mean Spearman ρ ${r.sanity.randomLogit.meanSpearman.toFixed(3)} (${r.sanity.randomLogit.pairs} inputs)`);
    if (r.sanity.pixelFlipping) lines.push(`  pixel flipping to 0 in ${r.sanity.pixelFlipping.steps} steps: AOPC ${r.sanity.pixelFlipping.aopcRelevanceOrder.toPrecision(4)} by relevance vs ${r.sanity.pixelFlipping.aopcRandomOrder.toPrecision(4)} in random order`);
  }
  return lines.join('\n');
}

export function auditCsv(r: AuditResult): string {
  const keys: (keyof AuditRow)[] = ['rule', 'method', 'rootFinder', 'inputs', 'failedInputs', 'roots', 'shareInputsWithRootOutside', 'shareRootsOutside', 'shareRootsUnmoved', 'medianRootDistance', 'shareInputsWithNegativeRelevance', 'meanConservationError'];
  const esc = (v: unknown) => (typeof v === 'string' && /[",\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : String(v));
  return [keys.join(','), ...r.rows.map((row) => keys.map((k) => esc(row[k])).join(','))].join('\n') + '\n';
}
