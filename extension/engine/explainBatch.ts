// The decomposition core every shell shares: explain() (one input), the audit
// (N inputs) and the benchmark call `explainBatch` for the train-free DTD of a
// batch, and `trainFreeRoots` for the roots and their checks, batched over the
// inputs and the units of a layer. Both run on the Ops interface.

import { rootChecks, inDomain, samePattern } from './checks';
import { coneRelevance, coneShares, coneTop } from './rootCone';
import { forwardBatch, type BatchForward, type NetMats } from './forward';
import { denseRow, isChain, isWeighted, layerInputs, layerShapes, type DenseNetwork, type Layer, type Network } from './network';
import type { Mat } from './ops/ops';
import { TypedOps } from './ops/typed';
import { Rng } from './rng';
import { crossingIn, localLinearRegion, type Polytope } from './region';
import { dtdRuleAt, nonNegativeInputOf, singleNeuronRoot } from './rules';
import { explainedRowStart, trainFreeBatch } from './trainFree';
import { LIMITS, quoteName, type RootInfo, type RuleSpec } from '../protocol';

/** Train-free root checks are skipped (with a warning) for a layer whose roots would hold more numbers than this, per input. */
export const MAX_ROOT_CHECK_COST = 1e7;
/** Root vectors beyond this many numbers per layer and input are left out of the result (hasRoot stays true). */
export const MAX_ROOT_VALUES_PER_LAYER = 200_000;

export interface BatchExplanation<M extends Mat> {
  fwd: BatchForward<M>;
  /** relevance[l]: [N, n_l] (index 0 = the network input). */
  relevance: M[];
  /** ok[s]: every layer had a unit with a root for input s (relevance could pass down). */
  ok: boolean[];
  /** The first layer (1-based, from the top) where input s had no root, or 0. */
  noRootLayer: number[];
  dispose(): void;
}

/** Train-free DTD of N inputs at once: the forward pass, f(x) on the explained row, and the rules' closed forms down to the input. */
export function explainBatch<M extends Mat>(mats: NetMats<M>, X: M, row: number, rules: RuleSpec[]): BatchExplanation<M> {
  const { ops, net } = mats;
  const L = net.layers.length;
  const fwd = forwardBatch(mats, X);
  const start = explainedRowStart(ops, fwd.act[L], row);
  const tf = trainFreeBatch(mats, fwd, rules, start.top, start.mask);
  const N = X.rows;
  const noRootLayer = Array.from({ length: N }, (_, s) => {
    for (let l = L; l >= 1; l--) if (tf.rootCounts[l - 1][s] === 0) return l;
    return 0;
  });
  return {
    fwd,
    relevance: tf.relevance,
    ok: noRootLayer.map((l) => l === 0),
    noRootLayer,
    dispose: () => ops.dispose(...fwd.pre, ...fwd.act.slice(1), ...tf.relevance, start.mask),
  };
}

export interface TrainFreeRootsOptions {
  /** Per input: whether layer 1's input domain is ≥ 0. */
  inputNonNegative: boolean[];
  /** Only units whose relevance is non-zero (the audit's roots); default every unit. */
  relevantOnly?: boolean;
  /** Keep the root vectors in the result (default true, up to MAX_ROOT_VALUES_PER_LAYER per layer). */
  keepRoots?: boolean;
  warnings?: string[];
  /** The most multiply-adds per input spent on the checks (default LIMITS.rootCheckWork); past it big layers are sampled, and the lowest layers skipped when even a sample does not fit. */
  maxWorkPerInput?: number;
  /** Seed of the unit sample (default 0). */
  seed?: number;
  /** Pass relevance down on each conv unit's upward cone where it applies (rootCone.ts; default true, on typed-array backends). False runs every layer whole: the reference the cone pass is tested against (the cost estimate and so the sample stay the same). */
  cone?: boolean;
  /** Told for every layer whose roots were sampled: how many were checked of how many. */
  onSampled?: (layer: number, checked: number, of: number) => void;
}

/** Multiply-adds of one layer's forward map for one point. */
function layerMacs(layer: Layer): number {
  if (layer.kind === 'dense') return layer.weight.length;
  if (layer.kind === 'conv2d') return (layer.weight.length * layer.outFeatures) / layer.outShape[0];
  if (layer.kind === 'convtranspose2d') return (layer.weight.length * layer.inFeatures) / layer.inShape[0];
  return layer.inFeatures;
}

/** Multiply-adds of layer k's train-free step for one point: the rule's denominators and its transposed maps. */
function backwardMacs(net: Network, rules: readonly RuleSpec[], k: number, macs: number): number {
  const layer = net.layers[k - 1];
  if (!isWeighted(layer)) return macs;
  const rule = dtdRuleAt(net, rules, k);
  if (rule.name === 'pinv') return 2 * layer.inFeatures * layer.outFeatures;
  if (rule.name === 'w2' || rule.name === '0') return macs;
  return rule.name === 'zB' || rule.splitSigns ? 4 * macs : 2 * macs;
}

/**
 * What one value of a layer's input or output costs a root check, per pass, in
 * multiply-adds: the elementwise steps (bias, activation, quotients, products),
 * their allocation and garbage collection. Fitted to LeNet-5 and the VGG-style
 * CNN of the peer benchmark (small layers pay it, big convolutions hardly).
 */
export const ROOT_CHECK_VALUE_COST = 16;

/**
 * What checking the roots of each layer costs (multiply-adds, for `roots[l-1]`
 * roots per layer l): every root runs forward through layer l and the layers
 * above, Σ_{k ≥ l} max(pass, roots·(macs_k + e_k)), and train-free back down to
 * layer l, Σ_{k > l} max(pass, roots·(back_k + e_k)·share_k), where back_k is
 * the rule's step (its denominators and transposed maps), e_k the layer's
 * values times ROOT_CHECK_VALUE_COST, and share_k the share of layer k in the
 * unit's upward cone (rootCone.ts; 1 above the cone). Summed over the layers
 * that is ∝ depth² for a deep narrow network (the per-pass overhead dominates
 * there). Returns cost[l-1].
 */
export function rootCheckCosts(net: Network, roots: number[], rules: readonly RuleSpec[], cone = true): number[] {
  const L = net.layers.length;
  const macs = net.layers.map(layerMacs);
  const pass = LIMITS.rootCheckLayerPass;
  return net.layers.map((layer, i) => {
    if (!isWeighted(layer)) return 0;
    const l = i + 1;
    const K = cone ? coneTop(net, rules, l) : l;
    const shares = K > l ? coneShares(net, l, K) : [];
    let c = 0;
    const values = (k: number) => ROOT_CHECK_VALUE_COST * (net.layers[k - 1].inFeatures + net.layers[k - 1].outFeatures);
    for (let k = l; k <= L; k++) c += Math.max(pass, roots[i] * (macs[k - 1] + values(k)));
    for (let k = l + 1; k <= L; k++) c += Math.max(pass, roots[i] * (backwardMacs(net, rules, k, macs[k - 1]) + values(k)) * (shares[k - l - 1] ?? 1));
    return c;
  });
}

/** A root with what the audit also needs: the explained output computed from the root. */
export type CheckedRoot = RootInfo & { outputAtRoot?: number };

/**
 * The root each unit used in the train-free decomposition, with its checks,
 * for N inputs: the unit's train-free relevance re-computed at the root, the
 * activation pattern along the explained output's path, the domain. All roots
 * of a layer (all units of all inputs) form one batch through the layers above.
 * Returns roots[s][l-1].
 */
export function trainFreeRoots<M extends Mat>(
  mats: NetMats<M>,
  X: Float64Array[],
  relevance: (ArrayLike<number> | null)[][],
  row: number,
  rules: RuleSpec[],
  opts: TrainFreeRootsOptions,
): CheckedRoot[][][] {
  const { ops, net } = mats;
  const L = net.layers.length;
  const N = X.length;
  const n0 = net.inputSize;
  const all = new Float64Array(N * n0);
  X.forEach((x, s) => all.set(x, s * n0));
  const Xm = ops.matrix(N, n0, all);
  const fx = forwardBatch(mats, Xm);
  const act = fx.act.map((a) => ops.read(a));
  const pre = fx.pre.map((z) => ops.read(z));
  ops.dispose(Xm, ...fx.pre, ...fx.act.slice(1));
  const out: CheckedRoot[][][] = Array.from({ length: N }, () => []);
  // The crossed constraint is named from the exact region (dense networks; one region per layer input).
  const allDense = net.layers.every((q) => q.kind === 'dense') && isChain(net);
  // A budget on the whole check, from the top down: a layer whose checks fit its share of what is left is checked in
  // full, a bigger one on a uniform sample of its units that fits its share (at least one root per input), and only
  // when not even one root fits are it and the layers below skipped.
  const rootsPerLayer = net.layers.map((layer, i) => {
    if (i === L - 1) return N;
    if (!opts.relevantOnly) return N * layer.outFeatures;
    let c = 0;
    for (let s = 0; s < N; s++) for (const v of Array.from(relevance[s][i + 1] ?? [])) if (v !== 0) c++;
    return c;
  });
  // The cone's windows are many small passes: they pay on typed arrays, where a small op costs little; TensorFlow.js
  // (and any backend with a fixed cost per op) runs every layer whole.
  const coneBackend = ops instanceof TypedOps;
  const costs = rootCheckCosts(net, rootsPerLayer, rules, coneBackend);
  const budget = (opts.maxWorkPerInput ?? LIMITS.rootCheckWork) * N;
  const plan = new Float64Array(L); // fraction of each layer's roots checked (0: skipped)
  // One root per input of every layer first: the layers kept are those from the top whose single roots fit together,
  // and what a layer takes beyond its own root leaves the single roots of the layers below it.
  const oneRoot = costs.map((c, i) => (rootsPerLayer[i] > 0 ? c * Math.min(1, N / rootsPerLayer[i]) : 0));
  let skipBelow = 0; // layers 1..skipBelow are not checked
  let reserve = 0;
  for (let l = L; l >= 1; l--) {
    if (reserve + oneRoot[l - 1] > budget) {
      skipBelow = l;
      break;
    }
    reserve += oneRoot[l - 1];
  }
  let used = 0;
  for (let l = L; l > skipBelow; l--) {
    if (!isWeighted(net.layers[l - 1])) continue;
    reserve -= oneRoot[l - 1];
    const left = net.layers.slice(skipBelow, l).filter(isWeighted).length;
    const share = (budget - used - reserve) / left;
    const c = costs[l - 1];
    if (c <= share || rootsPerLayer[l - 1] === 0) {
      plan[l - 1] = 1;
      used += c;
      continue;
    }
    // The layer's share of what is left, but at least one root per input; skipped (with the layers below) when not even that fits.
    const f = Math.max(share / c, Math.min(1, N / rootsPerLayer[l - 1]));
    if (f * c > budget - used) {
      skipBelow = l;
      break;
    }
    plan[l - 1] = f;
    used += f * c;
  }
  const sampledText: string[] = [];
  const rng = new Rng(opts.seed ?? 0);
  if (skipBelow > 0) {
    const all = costs.reduce((x, y) => x + y, 0);
    const names = net.layers.slice(0, skipBelow).filter(isWeighted).map((q) => q.name);
    const shown = names.length > 4 ? `${names.slice(0, 2).join(', ')}, …, ${names[names.length - 1]}` : names.join(', ');
    opts.warnings?.push(
      `Root diagnostics skipped for the ${names.length} lowest layer${names.length === 1 ? '' : 's'} (${shown}): checking every root re-runs the network above it, about ${all.toExponential(2)} multiply-adds${N > 1 ? ` for ${N} inputs` : ''} on this ${L}-layer network (limit ${LIMITS.rootCheckWork.toExponential()} per input); the ${L - skipBelow} layers above are checked.`,
    );
  }
  for (let l = 1; l <= L; l++) {
    const layer = net.layers[l - 1];
    const rule = dtdRuleAt(net, rules, l);
    const n = layer.inFeatures;
    const tIn = layerInputs(net, l)[0];
    const units = l === L ? [row] : Array.from({ length: layer.outFeatures }, (_, j) => j);
    // Pooling, join and affine layers have no rule roots (max: winner takes all; average, add: proportional).
    if (!isWeighted(layer) || l <= skipBelow || plan[l - 1] === 0) {
      for (const o of out) o.push([]);
      continue;
    }
    // The units whose roots are checked, per input: all of them (that carry relevance, for the audit), or a uniform sample.
    const chosen = Array.from({ length: N }, (_, s) => {
      const R = relevance[s][l] ?? [];
      const cand = opts.relevantOnly ? units.filter((j) => (R[j] ?? 0) !== 0) : units;
      if (plan[l - 1] >= 1) return cand;
      const k = Math.min(cand.length, Math.max(1, Math.round(plan[l - 1] * cand.length)));
      const pick = cand.slice();
      for (let i = 0; i < k; i++) {
        const r = i + Math.floor(rng.uniform() * (pick.length - i));
        [pick[i], pick[r]] = [pick[r], pick[i]];
      }
      return pick.slice(0, k).sort((x, y) => x - y);
    });
    if (plan[l - 1] < 1) {
      const checked = chosen.reduce((x, c) => x + c.length, 0);
      const of = opts.relevantOnly ? rootsPerLayer[l - 1] : N * units.length;
      opts.onSampled?.(l, checked, of);
      sampledText.push(`${quoteName(layer.name)} ${checked} of ${of}`);
    }
    const coneK = opts.cone === false || !coneBackend ? l : coneTop(net, rules, l); // layers l+1..coneK pass relevance down on each unit's cone (rootCone.ts)
    const pinvP = rule.name === 'pinv' ? ops.read(mats.pinvT(l)) : null; // [in, out]
    const keep = (opts.keepRoots ?? true) && units.length * n <= MAX_ROOT_VALUES_PER_LAYER;
    const regions = new Map<number, Polytope>();
    const w = new Float64Array(n);
    // Roots in batches of at most MAX_ROOT_CHECK_COST numbers, over inputs and units.
    const perBatch = Math.max(1, Math.floor(MAX_ROOT_CHECK_COST / n));
    let pts: Float64Array[] = [];
    let who: { s: number; info: CheckedRoot }[] = [];
    const flush = () => {
      if (!pts.length) return;
      checkBatch(pts, who);
      pts = [];
      who = [];
    };
    const checkBatch = (pts: Float64Array[], who: { s: number; info: CheckedRoot }[]) => {
      // Evaluate every root's unit relevance in one batch: the forward pass above layer l, then train-free back down to layer l.
      const B = pts.length;
      const P = ops.matrix(B, n, concat(pts, n));
      // Layers above that read tensors below layer l (skip connections) see each root's own input's values there.
      const base = skipBase(net, l, act, who.map((x) => x.s), ops);
      const bf = forwardBatch(mats, P, l, base);
      const rootPre = bf.pre.map((z) => ops.read(z));
      const nL = net.layers[L - 1].outFeatures;
      const topAll = ops.read(bf.act[L - l + 1]);
      let atRoot: Float64Array;
      if (l === L) {
        atRoot = Float64Array.from(who, (_, b) => topAll[b * nL + row]);
      } else {
        const top = new Float64Array(B * nL);
        const mask = new Float64Array(B * nL);
        for (let b = 0; b < B; b++) {
          top[b * nL + row] = topAll[b * nL + row];
          mask[b * nL + row] = 1;
        }
        // The whole pass from the top down to tensor K, then (K > l) on each unit's upward cone down to tensor l.
        const from = coneK + 1;
        const fwdAbove = { pre: bf.pre.slice(from - l), act: bf.act.slice(from - l), from, base: bf.base };
        const tf = trainFreeBatch(mats, fwdAbove, rules, ops.matrix(B, nL, top), ops.matrix(B, nL, mask), from);
        const Rk = ops.read(tf.relevance[0]);
        const m = layer.outFeatures;
        atRoot =
          coneK === l
            ? Float64Array.from(who, ({ info }, b) => Rk[b * m + info.unit])
            : coneRelevance(mats, rules, l, coneK, { act: bf.act.slice(0, coneK - l + 2).map((a) => ops.read(a)), pre: rootPre.slice(0, coneK - l + 1), relevanceTop: Rk, units: who.map((x) => x.info.unit) });
        ops.dispose(...tf.relevance);
      }
      ops.dispose(P, ...bf.pre, ...bf.act.slice(1), ...(base ? base.filter((m): m is M => !!m) : []));
      for (let b = 0; b < B; b++) {
        const { s, info } = who[b];
        const a = act[tIn].subarray(s * n, (s + 1) * n);
        const ref = pre.slice(l - 1).map((z, k) => z.subarray(s * net.layers[l - 1 + k].outFeatures, (s + 1) * net.layers[l - 1 + k].outFeatures));
        const Rj = info.relevanceAtInput;
        info.relevanceAtRoot = atRoot[b];
        info.taylorResidual = Rj - atRoot[b] - info.passedOn;
        info.outputAtRoot = topAll[b * nL + row];
        const inRegion = samePattern(net, l, ref, rootPre, row, b, ops.precision);
        let crossing: string | null = null;
        if (!inRegion && allDense) {
          let region = regions.get(s);
          if (!region) {
            region = localLinearRegion(new TypedOps('float64'), net as DenseNetwork, l, a, undefined, row);
            regions.set(s, region);
          }
          crossing = crossingIn(region, net as DenseNetwork, a, pts[b]);
        }
        info.checks = rootChecks(atRoot[b], Rj, inRegion, inDomain(rule, pts[b], nonNegativeInputOf(net, l, opts.inputNonNegative[s])), crossing, ops.precision);
        if (!keep) info.root = null;
      }
    };
    for (let s = 0; s < N; s++) {
      const a = act[tIn].subarray(s * n, (s + 1) * n);
      const R = relevance[s][l] ?? [];
      const infos: CheckedRoot[] = [];
      let pinvRoot: Float64Array | null = null;
      if (pinvP) {
        pinvRoot = Float64Array.from(a);
        for (let i = 0; i < n; i++) for (let j = 0; j < layer.outFeatures; j++) pinvRoot[i] -= pinvP[i * layer.outFeatures + j] * (R[j] ?? 0);
      }
      for (const j of chosen[s]) {
        const Rj = R[j] ?? 0;
        denseRow(layer, j, w);
        const r = pinvRoot ? pinvRoot.slice() : singleNeuronRoot(rule, w, a, Rj).root;
        if (!r) {
          infos.push({ layer: l, unit: j, hasRoot: false, root: null, relevanceAtInput: Rj, relevanceAtRoot: null, passedOn: 0, taylorResidual: null, distance: null, checks: null });
          continue;
        }
        let d = 0;
        for (let i = 0; i < n; i++) d += (a[i] - r[i]) ** 2;
        let passed = 0;
        if (rule.name === '0') for (let i = 0; i < n; i++) passed += w[i] * a[i];
        else if (rule.name === 'pinv') for (let i = 0; i < n; i++) passed += w[i] * (a[i] - r[i]);
        else passed = Rj;
        const info: CheckedRoot = { layer: l, unit: j, hasRoot: true, root: keep ? Array.from(r) : null, relevanceAtInput: Rj, relevanceAtRoot: null, passedOn: passed, taylorResidual: null, distance: Math.sqrt(d), checks: null };
        infos.push(info);
        pts.push(r);
        who.push({ s, info });
        if (pts.length >= perBatch) flush();
      }
      out[s].push(infos);
    }
    flush();
  }
  if (sampledText.length) {
    opts.warnings?.push(
      `Root checks sampled (uniformly, seed ${opts.seed ?? 0}) where checking every root would pass the limit of ${LIMITS.rootCheckWork.toExponential()} multiply-adds per input: ${sampledText.join('; ')} roots checked. The shares of roots outside their region are over the checked roots.`,
    );
  }
  return out;
}

/**
 * The tensors below layer l that layers from l up read besides layer l's own
 * input (skip connections and other readers of that input), as the rows of
 * the inputs `rowsOf` (one per root); undefined for a chain.
 */
function skipBase<M extends Mat>(net: Network, l: number, act: Float64Array[], rowsOf: number[], ops: { matrix(r: number, c: number, d: ArrayLike<number>): M }): (M | undefined)[] | undefined {
  const need = new Set<number>();
  for (let k = l; k <= net.layers.length; k++) {
    for (const t of layerInputs(net, k)) if (t < l - 1 || (t === l - 1 && k !== l)) need.add(t);
  }
  if (!need.size) return undefined;
  const sizes = layerShapes(net).map((sh) => sh.reduce((a, b) => a * b, 1));
  const base: (M | undefined)[] = [];
  for (const t of need) {
    const m = sizes[t];
    const data = new Float64Array(rowsOf.length * m);
    rowsOf.forEach((s, b) => data.set(act[t].subarray(s * m, (s + 1) * m), b * m));
    base[t] = ops.matrix(rowsOf.length, m, data);
  }
  return base;
}

function concat(rows: Float64Array[], n: number): Float64Array {
  const out = new Float64Array(rows.length * n);
  rows.forEach((r, i) => out.set(r, i * n));
  return out;
}
