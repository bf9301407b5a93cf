// Test data for the webview suite. `engineResult` runs the real engine
// (loadModel + explain) on a golden fixture network in ../shared/fixtures/dtd;
// that is what the suite draws. `trainFreeResult` / `fullBackwardResult`
// rebuild z+ results straight from the fixture file (its weights, README §5, and
// its `nudged` tree) and are kept as an engine-independent cross-check.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ExplainResult, RootInfo, TreeEntry } from '../../extension/engine/types';
import { topFlowsOfLayer } from '../../webview/flows';
import { explain, loadModel } from '../../extension/engine';
import type { ExplainOptions } from '../../extension/engine/types';

export const FIXTURES = process.env.DTD_FIXTURES ?? join(__dirname, '..', '..', '..', 'shared', 'fixtures', 'dtd');

interface FixtureLayer {
  name: string;
  in_features: number;
  out_features: number;
  weight: number[][];
  bias: number[];
}

export interface Fixture {
  case: string;
  network: { input_size: number; layers: FixtureLayer[] };
  input: { x: number[][]; non_negative: boolean };
  explained_output: number;
  explained_output_row_in_last_layer: number;
  forward: { activations: number[][]; explained_logit: number };
  gradient: { grad: number[]; grad_times_input: number[] };
  train_free: { rules: Record<string, { status: string; input_relevance?: number[]; relevances?: { at_input_of: string; relevance: number[]; sum: number }[] }> };
  full_backward_linear: { rules: Record<string, Record<string, { status: string; relevance?: number[]; relevance_sum?: number; tree?: FixtureTreeEntry[]; tree_truncated?: boolean }>> };
  zennit: { rules: Record<string, { relevance: number[]; sum?: number }>; per_layer?: Record<string, number[]>[] };
}

interface FixtureTreeEntry {
  layer: string;
  callgraph: string[];
  explained_neuron: number;
  root: number[];
  input: number[];
  input_relevance_of_neuron: number;
  relevance: number[];
  relevance_sum: number;
  unresolved_relevance: number;
  taylor_residual: number;
  root_relevance: number[];
  root_logit: number;
  input_logit: number;
  pre_activation_at_root: number;
  grad_at_root_is_zero: boolean;
}

const results = new Map<string, Promise<ExplainResult>>();
/** The engine's result for a fixture network and its input (explaining the fixture's output), cached per arguments. */
export function engineResult(name: string, options: Omit<ExplainOptions, 'onProgress' | 'signal'> = {}): Promise<ExplainResult> {
  const key = `${name} ${JSON.stringify(options)}`;
  let r = results.get(key);
  if (!r) {
    const fx = loadFixture(name);
    const file = join(FIXTURES, `${name}.json`);
    const net = loadModel(new Uint8Array(readFileSync(file)), `${name}.json`);
    results.set(key, (r = explain(net, fx.input.x[0], { rule: 'z+', explainedOutput: fx.explained_output, ...options })));
  }
  return r;
}

const cache = new Map<string, Fixture>();
export function loadFixture(name: string): Fixture {
  let f = cache.get(name);
  if (!f) cache.set(name, (f = JSON.parse(readFileSync(join(FIXTURES, `${name}.json`), 'utf8')) as Fixture));
  return f;
}

function dot(w: number[], a: number[]): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += w[i] * a[i];
  return s;
}

function forward(fx: Fixture, x: number[]): { pre: number[][]; act: number[][] } {
  const act = [x];
  const pre: number[][] = [];
  for (const L of fx.network.layers) {
    const a = act[act.length - 1];
    const z = L.weight.map((w, j) => dot(w, a) + L.bias[j]);
    pre.push(z);
    act.push(z.map((v) => Math.max(0, v)));
  }
  return { pre, act };
}

/** ReLU pattern of layers `from`..L (1-based) starting from a point in activations[from-1]. */
function patternFrom(fx: Fixture, from: number, p: number[]): boolean[][] {
  const out: boolean[][] = [];
  let a = p;
  for (let l = from; l <= fx.network.layers.length; l++) {
    const L = fx.network.layers[l - 1];
    const z = L.weight.map((w, j) => dot(w, a) + L.bias[j]);
    out.push(z.map((v) => v > 0));
    a = z.map((v) => Math.max(0, v));
  }
  return out;
}

function samePattern(a: boolean[][], b: boolean[][]): boolean {
  return a.every((row, l) => row.every((v, j) => v === b[l][j]));
}

function model(fx: Fixture): ExplainResult['model'] {
  const layers = fx.network.layers.map((L) => ({ name: L.name, kind: 'linear', inFeatures: L.in_features, outFeatures: L.out_features, activation: 'relu', parameters: L.in_features * L.out_features + L.out_features }));
  return { name: fx.case, format: 'json', inputSize: fx.network.input_size, outputSize: layers[layers.length - 1].outFeatures, layers, notes: [] };
}

function baselines(fx: Fixture): ExplainResult['baselines'] {
  const lrp: NonNullable<ExplainResult['baselines']>['lrp'] = {};
  for (const [k, v] of Object.entries(fx.zennit.rules)) {
    const perLayer = fx.zennit.per_layer?.map((p) => p[k]).filter((x): x is number[] => Array.isArray(x));
    lrp[k] = { relevance: v.relevance, sum: v.relevance.reduce((a, b) => a + b, 0), ...(perLayer && perLayer.length === fx.network.layers.length ? { perLayer } : {}) };
  }
  return { gradient: fx.gradient.grad, gradientTimesInput: fx.gradient.grad_times_input, lrp };
}

function diagnostics(relevance: (number[] | null)[], roots: RootInfo[][], fx: number, names: string[]): ExplainResult['diagnostics'] {
  const layers = [];
  for (let i = 0; i < relevance.length; i++) {
    const r = relevance[i];
    if (!r) continue;
    const s = r.reduce((a, b) => a + b, 0);
    const rs = (roots[i] ?? []).filter((q) => q.checks);
    layers.push({
      index: i,
      name: names[i],
      relevanceSum: s,
      explainedValue: fx,
      conservationError: s - fx,
      negativeMass: r.reduce((a, v) => a + (v < 0 ? v : 0), 0),
      rootsTotal: rs.length,
      rootsInRegion: rs.filter((q) => q.checks!.inRegion).length,
      rootsInDomain: rs.filter((q) => q.checks!.inDomain).length,
      rootsWithZeroRelevance: rs.filter((q) => q.checks!.relevanceZero).length,
    });
  }
  return { layers };
}

/** Train-free DTD with the z+ rule (README §5), roots with their checks, flows (top-k per unit, rest as the engine writes it). */
export function trainFreeResult(name: string, topK = 8): ExplainResult {
  const fx = loadFixture(name);
  const x = fx.input.x[0];
  const { pre, act } = forward(fx, x);
  const Ls = fx.network.layers;
  const L = Ls.length;
  const row = fx.explained_output_row_in_last_layer;
  const f = act[L][row];
  const relevance: (number[] | null)[] = new Array(L + 1).fill(null);
  relevance[L] = act[L].map((_, j) => (j === row ? f : 0));
  const roots: RootInfo[][] = [];
  const flows = [];
  for (let l = L; l >= 1; l--) {
    const W = Ls[l - 1].weight;
    const a = act[l - 1];
    const R = relevance[l]!;
    const units = l === L ? [row] : W.map((_, j) => j);
    const below = new Array(a.length).fill(0);
    const layerRoots: RootInfo[] = [];
    const rows: (number[] | null)[] = W.map(() => null);
    const inputPattern = patternFrom(fx, l, a);
    for (const j of units) {
      const w = W[j];
      const v = a.map((ai, i) => (w[i] >= 0 ? ai : 0));
      const d = dot(v, w);
      if (Math.abs(d) <= 1e-5) {
        layerRoots.push({ layer: l, unit: j, hasRoot: false, root: null, relevanceAtInput: R[j], relevanceAtRoot: null, passedOn: 0, taylorResidual: null, distance: null, checks: null } as RootInfo);
        continue;
      }
      let t = R[j] / d;
      if (!Number.isFinite(t)) t = 0;
      const r = a.map((ai, i) => ai - t * v[i]);
      const rel = w.map((wi, i) => wi * (a[i] - r[i]));
      rows[j] = rel;
      rel.forEach((q, i) => (below[i] += q));
      const passedOn = rel.reduce((p, q) => p + q, 0);
      const atRoot = R[j] - passedOn; // the unit's linear relevance model at the root
      layerRoots.push({
        layer: l,
        unit: j,
        hasRoot: true,
        root: r,
        relevanceAtInput: R[j],
        relevanceAtRoot: atRoot,
        passedOn,
        taylorResidual: 0,
        distance: Math.sqrt(r.reduce((p, ri, i) => p + (a[i] - ri) ** 2, 0)),
        checks: {
          relevanceZero: Math.abs(atRoot) <= 1e-6 * Math.max(Math.abs(R[j]), 1e-300),
          inRegion: samePattern(patternFrom(fx, l, r), inputPattern),
          inDomain: l === 1 && !fx.input.non_negative ? true : r.every((ri) => ri >= 0),
        },
      } as RootInfo);
    }
    relevance[l - 1] = below;
    roots[l - 1] = layerRoots;
    const top = topFlowsOfLayer(l, rows, topK);
    const rest = new Array(W.length).fill(0);
    for (const q of top.rest) rest[q.to] = q.positive + q.negative;
    flows.unshift({ layer: l, k: topK, top: top.top, rest });
  }
  const names = ['input', ...Ls.map((q) => q.name)];
  const result = {
    schema: 'dtd-lens/result@1',
    status: 'ok',
    statusCode: 'ok',
    message: null,
    model: model(fx),
    input: x,
    explainedOutput: fx.explained_output,
    explainedRow: row,
    explainedValue: f,
    method: 'train-free',
    rules: Ls.map(() => 'z+'),
    rootFinder: 'linear',
    activations: act,
    preActivations: pre,
    relevance,
    roots,
    flows,
    tree: null,
    treeTruncated: false,
    baselines: baselines(fx),
    diagnostics: diagnostics(relevance, roots, f, names),
    backend: 'test-fixture',
    precision: 'float64',
    seed: 0,
    options: {},
    timings: {},
    warnings: [],
  };
  return result as unknown as ExplainResult;
}

/** Full-backward (linear root finder, z+) from the fixture's deterministic `nudged` tree. No `flows`: the webview derives layer 1's from the tree. */
export function fullBackwardResult(name: string): ExplainResult {
  const fx = loadFixture(name);
  const fb = fx.full_backward_linear.rules['z+'].nudged;
  if (fb.status !== 'ok' || !fb.relevance || !fb.tree) throw new Error(`${name}: no full-backward z+ result`);
  const x = fx.input.x[0];
  const { pre, act } = forward(fx, x);
  const Ls = fx.network.layers;
  const L = Ls.length;
  const row = fx.explained_output_row_in_last_layer;
  const f = act[L][row];
  const tree: TreeEntry[] = fb.tree.map((e) => {
    const layer = Number(e.layer.replace('layer', ''));
    return {
      layer,
      path: e.callgraph,
      unit: e.explained_neuron,
      root: e.root,
      input: e.input,
      relevanceOfUnit: e.input_relevance_of_neuron,
      relevance: e.relevance,
      relevanceSum: e.relevance_sum,
      unresolvedRelevance: e.unresolved_relevance,
      taylorResidual: e.taylor_residual,
      gradient: [],
      rootRelevance: e.root_relevance,
      rootLogit: e.root_logit,
      inputLogit: e.input_logit,
      preActivationAtRoot: e.pre_activation_at_root,
      gradAtRootIsZero: e.grad_at_root_is_zero,
      inRegion: samePattern(patternFrom(fx, layer, e.root), patternFrom(fx, layer, e.input)),
      inDomain: layer === 1 && !fx.input.non_negative ? true : e.root.every((v) => v >= 0),
    };
  });
  const relevance: (number[] | null)[] = new Array(L + 1).fill(null);
  relevance[0] = fb.relevance;
  relevance[L] = act[L].map((_, j) => (j === row ? f : 0));
  const roots: RootInfo[][] = Array.from({ length: L }, () => []);
  for (const e of tree) {
    if (e.path.length !== 2) continue;
    roots[0].push({
      layer: 1,
      unit: e.unit,
      hasRoot: true,
      root: e.root,
      relevanceAtInput: e.relevanceOfUnit,
      relevanceAtRoot: e.unresolvedRelevance,
      passedOn: e.relevanceSum,
      taylorResidual: e.taylorResidual,
      distance: Math.sqrt(e.root.reduce((p, r, i) => p + (e.input[i] - r) ** 2, 0)),
      checks: { relevanceZero: Math.abs(e.unresolvedRelevance) <= 1e-3 * Math.abs(e.relevanceOfUnit), inRegion: e.inRegion, inDomain: e.inDomain },
    } as RootInfo);
  }
  const names = ['input', ...Ls.map((q) => q.name)];
  const result = {
    schema: 'dtd-lens/result@1',
    status: 'ok',
    statusCode: 'ok',
    message: null,
    model: model(fx),
    input: x,
    explainedOutput: fx.explained_output,
    explainedRow: row,
    explainedValue: f,
    method: 'full-backward',
    rules: Ls.map(() => 'z+'),
    rootFinder: 'linear',
    activations: act,
    preActivations: pre,
    relevance,
    roots,
    flows: [],
    tree,
    treeTruncated: fb.tree_truncated ?? false,
    baselines: baselines(fx),
    diagnostics: diagnostics(relevance, roots, f, names),
    backend: 'test-fixture',
    precision: 'float64',
    seed: 0,
    options: {},
    timings: {},
    warnings: [],
  };
  return result as unknown as ExplainResult;
}
