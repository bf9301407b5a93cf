// One numerical spec, run against every compute backend that loads here:
// typed float64 (the exact reference), typed float32, TensorFlow.js (wasm)
// float32, onnxruntime float32 and float64. For each backend:
//   ops       conv / conv-transpose (stride, dilation, asymmetric and cropping
//             padding), max pooling (overlap, padding, ties: first maximum),
//             its backward pass (accumulating over overlapping windows), average
//             pooling (both divisors) and its adjoint, divOrZero/divStabilized
//             edge cases, against the typed float64 kernels;
//   networks  dense, conv (pooling, BatchNorm, stride 2), graph (residual add,
//             bottleneck + max pool, depthwise/grouped conv, dense concat):
//             the batched forward pass, the gradient, LRP with every registry
//             rule that has an LRP form (with and without bias), train-free DTD
//             with every rule that has a DTD form, against the typed float64
//             result on a batch of the fixture input and two random inputs; and
//             the fixtures' own values (zennit's rule keys, the research code's
//             train-free relevances, zennit's zero-bias z+ for train-free z+).
// Tolerances, relative to max|reference| per array: float64 backends meet the
// fixtures' (forward and gradient 1e-12 — 1e-10 against typed float64 on
// another backend, whose sums run in another order —, relevances 1e-9).
// float32 backends: FLOAT32_TOL, or more where the array is ill-conditioned
// in float32. The measure is backend-independent: s = how far the exact
// (float64) result moves when the network and the input are rounded to
// float32. A float32 pass rounds those and, about as much again, the
// intermediates of each of its L layers, so it may be off by
// FLOAT32_GROWTH·L·s (at least FLOAT32_TOL). Measured: two correct float32
// summation orders (onnxruntime's native Conv and a sum of per-tap matrix
// products) differ by 1 % on the train-free x rule of res_basic_seed20, where
// s = 1.6e-4 and the worst backend is 6·L·s off; well-conditioned arrays
// (s ≤ FLOAT32_TOL / (FLOAT32_GROWTH·L)) keep FLOAT32_TOL.

import assert from 'node:assert/strict';
import { afterEach, before, beforeEach, describe, test } from 'node:test';
import { gradientBatch, LRP_BASELINES, lrpBatch, lrpRulesFor, type LrpRule } from '../../extension/engine/baselines';
import { explain } from '../../extension/engine/explain';
import { forwardBatch, NetMats } from '../../extension/engine/forward';
import { isDtdError } from '../../extension/engine/errors';
import type { Network } from '../../extension/engine/network';
import { loadModel } from '../../extension/engine/loaders';
import type { ConvGeom, Mat, Ops, PoolGeom } from '../../extension/engine/ops/ops';
import { createOrtOps } from '../../extension/engine/ops/ort';
import { getOps } from '../../extension/engine/ops/select';
import { TypedOps } from '../../extension/engine/ops/typed';
import { Rng } from '../../extension/engine/rng';
import { parseRuleMap } from '../../extension/engine/rules/parse';
import { RULE_REGISTRY } from '../../extension/engine/rules/registry';
import { explainedRowStart, trainFreeBatch } from '../../extension/engine/trainFree';
import type { RuleSpec } from '../../extension/protocol';
import { convNetFromFixture, flat, loadConvFixture, rulesForKey } from '../helpers/conv';
import { fixtureFile, loadFixture, maxAbs } from '../helpers/fixtures';
import { loadResidualFixture, residualNetFromFixture } from '../helpers/residual';
import { readFileSync } from 'node:fs';

/**
 * float32 backends: every array within this fraction of its reference's largest magnitude (well-conditioned arrays).
 * Measured: the LRP ε-zero-bias and w² rules through the 3–10 layers of these fixtures are 2.4e-4–5e-4 off in every
 * float32 backend alike, the typed one (float64 sums) included.
 */
const FLOAT32_TOL = 1e-3;
/** float32 backends on ill-conditioned arrays: allowed error per layer, in units of the array's sensitivity to float32 rounding (see the header). */
const FLOAT32_GROWTH = 8;

/** The network with every parameter rounded to float32 (what a float32 backend computes with). */
function roundedNet(net: Network): Network {
  const r = (a: Float64Array) => Float64Array.from(a, Math.fround);
  const layers = net.layers.map((l) => {
    const q: Record<string, unknown> = { ...l };
    for (const k of ['weight', 'bias', 'scale', 'shift'] as const) if (q[k] instanceof Float64Array) q[k] = r(q[k] as Float64Array);
    if (l.activationParams?.slopes) q.activationParams = { ...l.activationParams, slopes: r(l.activationParams.slopes) };
    return q as unknown as typeof l;
  });
  return { ...net, layers } as Network;
}

/** max|a − b| / max|b|: how far a is from b relative to b's scale. */
function relDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let worst = 0;
  for (let i = 0; i < b.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  const scale = maxAbs(b);
  return scale > 0 ? worst / scale : worst;
}

interface Backend {
  name: string;
  /** null when the backend does not load here (the reason in `why`). */
  get: (() => Promise<Ops>) | null;
  why?: string;
  f64: boolean;
}

/** onnxruntime is optional per platform: load it synchronously to know whether its tests run. */
function ortAvailable(precision: 'float32' | 'float64'): { get: (() => Promise<Ops>) | null; why?: string } {
  try {
    createOrtOps(precision);
    return { get: () => getOps(precision, 'onnxruntime') };
  } catch (e) {
    return { get: null, why: (e as Error).message };
  }
}

const REF = new TypedOps('float64');
const ortF64 = ortAvailable('float64');
const ortF32 = ortAvailable('float32');
const BACKENDS: Backend[] = [
  { name: 'typed-float64', get: async () => REF, f64: true },
  { name: 'typed-float32', get: async () => new TypedOps('float32'), f64: false },
  { name: 'tfjs-wasm float32', get: () => getOps('float32', 'wasm'), f64: false },
  { name: 'onnxruntime float32', ...ortF32, f64: false },
  { name: 'onnxruntime float64', ...ortF64, f64: true },
];

/** max|got − want| ≤ tol·max|want| (exactly equal when the reference is all zeros and tol is 0). */
function close(got: ArrayLike<number>, want: ArrayLike<number>, tol: number, what: string): void {
  assert.equal(got.length, want.length, `${what}: length ${got.length} ≠ ${want.length}`);
  const scale = maxAbs(want);
  let worst = 0, at = 0;
  for (let i = 0; i < want.length; i++) {
    assert.ok(Number.isFinite(got[i]), `${what}[${i}] is ${got[i]}`);
    const d = Math.abs(got[i] - want[i]);
    if (d > worst) [worst, at] = [d, i];
  }
  assert.ok(worst <= tol * scale, `${what}[${at}]: got ${got[at]}, want ${want[at]} (|Δ| = ${worst.toExponential(3)} > ${tol}·max|ref| = ${(tol * scale).toExponential(3)})`);
}

function values(n: number, seed: number, lo = -1, hi = 1, ties = false): Float64Array {
  const r = new Rng(seed);
  // Ties: a few distinct values only, so that pooling windows hold equal maxima.
  return Float64Array.from({ length: n }, () => (ties ? Math.floor(r.uniform() * 3) - 1 : lo + (hi - lo) * r.uniform()));
}

// ── ops ────────────────────────────────────────────────────────────────────

const convCases: [string, ConvGeom][] = [
  ['3×3, pad 1', { inShape: [2, 5, 6], outShape: [3, 5, 6], kernel: [3, 3], stride: [1, 1], padding: [1, 1, 1, 1], dilation: [1, 1] }],
  ['stride 2, asymmetric pad', { inShape: [2, 7, 6], outShape: [3, 4, 3], kernel: [3, 2], stride: [2, 2], padding: [1, 0, 1, 1], dilation: [1, 1] }],
  ['dilation 2', { inShape: [1, 7, 7], outShape: [2, 3, 5], kernel: [3, 2], stride: [1, 1], padding: [0, 1, 0, 1], dilation: [2, 2] }],
  ['windows end before the input (rows never read)', { inShape: [2, 8, 8], outShape: [2, 3, 3], kernel: [3, 3], stride: [2, 2], padding: [0, 0, 0, 0], dilation: [1, 1] }],
  ['stride 3, pad 2', { inShape: [2, 9, 8], outShape: [2, 4, 3], kernel: [2, 3], stride: [3, 3], padding: [2, 1, 1, 0], dilation: [1, 1] }],
];

const poolCases: [string, PoolGeom][] = [
  ['2×2 stride 2', { inShape: [2, 6, 6], outShape: [2, 3, 3], kernel: [2, 2], stride: [2, 2], padding: [0, 0, 0, 0] }],
  ['3×3 stride 2 pad 1 (overlap, −∞ padding)', { inShape: [2, 7, 6], outShape: [2, 4, 3], kernel: [3, 3], stride: [2, 2], padding: [1, 1, 1, 0] }],
  ['3×3 stride 1 (overlap)', { inShape: [1, 5, 5], outShape: [1, 3, 3], kernel: [3, 3], stride: [1, 1], padding: [0, 0, 0, 0] }],
  ['floor: last row never read', { inShape: [1, 7, 7], outShape: [1, 3, 3], kernel: [2, 2], stride: [2, 2], padding: [0, 0, 0, 0] }],
  ['count padded taps', { inShape: [2, 5, 5], outShape: [2, 3, 3], kernel: [3, 3], stride: [2, 2], padding: [1, 1, 1, 1], countIncludePad: true }],
];

function opsSpec(b: Backend): void {
  const tol = b.f64 ? 1e-12 : FLOAT32_TOL;
  const B = 3;
  const run = <M extends Mat>(o: Ops<M>, f: (o: Ops<M>, m: (r: number, c: number, d: Float64Array) => M) => M) => o.read(f(o, (r, c, d) => o.matrix(r, c, d)));

  for (const [name, g] of convCases) {
    test(`conv2d and its adjoint: ${name}`, async () => {
      const ops = await b.get!();
      const nIn = g.inShape[0] * g.inShape[1] * g.inShape[2], nOut = g.outShape[0] * g.outShape[1] * g.outShape[2];
      const kk = g.inShape[0] * g.kernel[0] * g.kernel[1];
      const x = values(B * nIn, 1), k = values(g.outShape[0] * kk, 2), y = values(B * nOut, 3);
      const conv = <M extends Mat>(o: Ops<M>) => run(o, (o, m) => o.conv2d(m(B, nIn, x), m(g.outShape[0], kk, k), g));
      const convT = <M extends Mat>(o: Ops<M>) => run(o, (o, m) => o.conv2dTranspose(m(B, nOut, y), m(g.outShape[0], kk, k), g));
      close(conv(ops), conv(REF), tol, 'conv2d');
      close(convT(ops), convT(REF), tol, 'conv2dTranspose');
    });
  }
  for (const [name, g] of poolCases) {
    for (const ties of [false, true]) {
      test(`max pool, its backward pass, avg pool and its adjoint: ${name}${ties ? ', tied maxima' : ''}`, async () => {
        const ops = await b.get!();
        const nIn = g.inShape[0] * g.inShape[1] * g.inShape[2], nOut = g.outShape[0] * g.outShape[1] * g.outShape[2];
        const x = values(B * nIn, 4, -1, 1, ties), gy = values(B * nOut, 5, 0.5, 2);
        close(run(ops, (o, m) => o.maxPool2d(m(B, nIn, x), g)), run(REF, (o, m) => o.maxPool2d(m(B, nIn, x), g)), tol, 'maxPool2d');
        // The gradient goes to the first maximum of each window: with ties any other choice moves whole values.
        close(run(ops, (o, m) => o.maxPool2dBackward(m(B, nOut, gy), m(B, nIn, x), g)), run(REF, (o, m) => o.maxPool2dBackward(m(B, nOut, gy), m(B, nIn, x), g)), tol, 'maxPool2dBackward');
        close(run(ops, (o, m) => o.avgPool2d(m(B, nIn, x), g)), run(REF, (o, m) => o.avgPool2d(m(B, nIn, x), g)), tol, 'avgPool2d');
        close(run(ops, (o, m) => o.avgPool2dTranspose(m(B, nOut, gy), g)), run(REF, (o, m) => o.avgPool2dTranspose(m(B, nOut, gy), g)), tol, 'avgPool2dTranspose');
      });
    }
  }
  test('divOrZero / divStabilized: zero, tiny, NaN and negative denominators, overflowing quotients', async () => {
    const ops = await b.get!();
    const num = Float64Array.from([1, 2, -3, 4, 1e30, 5, 0, -1]);
    const den = Float64Array.from([0, 1e-6, -2, NaN, 1e-4, -1e-7, 3, 0.5]);
    const nz = (o: Ops) => o.read(o.divOrZero(o.matrix(2, 4, num), o.matrix(2, 4, den), 1e-5));
    const want = nz(REF);
    const got = nz(ops);
    // num/den is finite in float32 here except 1e30/1e-4 = 1e34 (finite) — all entries compare.
    close(got, want, tol, 'divOrZero');
    assert.deepEqual(Array.from(got, (v) => v === 0), Array.from(want, (v) => v === 0), 'divOrZero: zeros in the same places');
    const den2 = Float64Array.from([0, 1e-6, -2, 3, 1e-4, -1e-7, 3, 0.5]);
    const st = (o: Ops) => o.read(o.divStabilized(o.matrix(2, 4, num), o.matrix(2, 4, den2), 1e-6));
    close(st(ops), st(REF), tol, 'divStabilized');
  });
  test('elementwise ops, broadcasting rows, slices, concat, column sums, products', async () => {
    const ops = await b.get!();
    const a = values(12, 7), r = values(4, 8), w = values(20, 9);
    const f = (o: Ops) => {
      const A = o.matrix(3, 4, a), R = o.matrix(1, 4, r), W = o.matrix(5, 4, w);
      const parts = [o.add(A, R), o.sub(A, R), o.mul(A, R), o.scale(A, -0.5), o.relu(A), o.stepPositive(A), o.positivePart(A), o.negativePart(A), o.nonNegativeMask(A)];
      for (const k of ['sigmoid', 'tanh', 'elu'] as const) parts.push(o.smooth(A, k, 0.7), o.smoothSlope(A, k, 0.7));
      const cat = o.concatCols([...parts, o.sliceCols(A, 1, 3), o.matmul(A, W, true)]);
      return [o.read(cat), o.read(o.sumRows(cat)), o.read(o.sliceRows(cat, 1, 3)), o.read(o.matmul(o.matmul(A, W, true), W, false))];
    };
    const got = f(ops), want = f(REF);
    got.forEach((g, i) => close(g, want[i], b.f64 ? 1e-12 : FLOAT32_TOL, `result ${i}`));
  });
}

// ── networks ───────────────────────────────────────────────────────────────

interface Case {
  name: string;
  net: Network;
  /** Batch rows: the fixture input, then random inputs. */
  X: Float64Array;
  B: number;
  row: number;
  /** The fixture's own expectations at row 0. */
  fixture: { zennit: Record<string, number[]>; rulesFor: (key: string) => LrpRule[]; trainFree: Record<string, number[]>; trainFreeZplusGap?: number };
}

function batch(x: number[], extra: number, seed: number): Float64Array {
  const lo = Math.min(0, ...x), hi = Math.max(1, ...x);
  const rows = [x, ...Array.from({ length: extra }, (_, i) => Array.from(values(x.length, seed + i, lo, hi)))];
  return Float64Array.from(rows.flat());
}

function denseCase(name: string): Case {
  const fx = loadFixture(name);
  const net = loadModel(new Uint8Array(readFileSync(fixtureFile(name, 'json'))), `${name}.json`);
  const x = fx.input.x[0] as number[];
  const zennit: Record<string, number[]> = {};
  for (const [k, v] of Object.entries(fx.zennit.rules) as [string, { relevance: number[][] | number[] }][]) zennit[k] = flat(v.relevance);
  const trainFree: Record<string, number[]> = {};
  for (const [k, v] of Object.entries(fx.train_free.rules) as [string, { status: string; input_relevance?: number[] }][]) if (v.status === 'ok' && v.input_relevance) trainFree[k === 'gamma' ? `gamma=${fx.train_free.gamma}` : k] = v.input_relevance;
  return { name, net, X: batch(x, 2, 11), B: 3, row: fx.explained_output_row_in_last_layer ?? 0, fixture: { zennit, rulesFor: (k) => lrpRulesFor(net, LRP_BASELINES[k]), trainFree } };
}

function explanationsCase(name: string, fx: ReturnType<typeof loadFixture>, net: Network): Case {
  const x = flat(fx.input.x);
  const ex = fx.explanations[0];
  const zennit: Record<string, number[]> = {};
  for (const [k, v] of Object.entries(ex.zennit.rules) as [string, { relevance: unknown }][]) if (k !== 'epsilon_plus') zennit[k] = flat(v.relevance);
  // Train-free z+ = zennit's zero-bias z+ (up to the stabiliser) needs a non-negative input: on a signed input zennit's
  // ZPlus splits a⁺/a⁻ while train-free z+ takes the input as it is (cnn3x10_signed_maxpool_floor_seed4: 11.5 apart).
  const gap = x.every((v) => v >= 0) ? (ex.diagnostics?.['stabilizer_1e-6_vs_1e-9_input_rel_diff_numpy']?.zplus_zero_bias as number | undefined) : undefined;
  return { name, net, X: batch(x, 2, 21), B: 3, row: ex.explained_output, fixture: { zennit, rulesFor: (k) => rulesForKey(net, fx, k), trainFree: {}, trainFreeZplusGap: gap } };
}

const CASES: (() => Case)[] = [
  () => denseCase('mlp3_seed1_notebook'),
  () => denseCase('mlp5_seed1_out1'),
  () => denseCase('deep6_w32_seed10'),
  ...['cnn1x8_maxpool_avgpool_seed0', 'cnn1x8_maxpool_ties_seed5', 'cnn1x8_bn_stride2_seed1', 'cnn3x10_signed_maxpool_floor_seed4'].map((n) => () => {
    const fx = loadConvFixture(n);
    return explanationsCase(n, fx, convNetFromFixture(fx, n).net);
  }),
  ...['res_basic_seed20', 'res_bottleneck_maxpool_seed21', 'mobile_depthwise_seed22', 'dense_concat_seed23'].map((n) => () => {
    const fx = loadResidualFixture(n);
    return explanationsCase(n, fx, residualNetFromFixture(fx, n).net);
  }),
];

/** Every registry rule with an LRP form, as zennit-style rule lists (with and without bias). */
function lrpRuleSets(net: Network): [string, LrpRule[]][] {
  const out: [string, LrpRule[]][] = [];
  for (const r of RULE_REGISTRY) {
    if (!r.lrp) continue;
    for (const zeroBias of [false, true]) out.push([`${r.name}${zeroBias ? ' (zero bias)' : ''}`, lrpRulesFor(net, { name: r.name, zeroBias, ...(r.name === 'epsilon' ? { epsilon: 1e-3 } : {}), ...(r.name === 'gamma' ? { gamma: 0.25 } : {}) } as LrpRule)]);
  }
  return out;
}

/** Every registry rule with a DTD form, on every layer. */
function dtdRuleSets(net: Network): [string, RuleSpec[]][] {
  return RULE_REGISTRY.filter((r) => r.dtd).map((r) => [r.name, parseRuleMap(r.name, net.layers, 'train-free')]);
}

function trainFree<M extends Mat>(ops: Ops<M>, net: Network, X: Float64Array, B: number, row: number, rules: RuleSpec[]): { R0: Float64Array; counts: number[] } {
  const mats = new NetMats(ops, net);
  const fwd = forwardBatch(mats, ops.matrix(B, net.inputSize, X));
  const start = explainedRowStart(ops, fwd.act[net.layers.length], row);
  const tf = trainFreeBatch(mats, fwd, rules, start.top, start.mask);
  return { R0: ops.read(tf.relevance[0]), counts: tf.rootCounts.flatMap((c) => Array.from(c)) };
}

function networkSpec(b: Backend, make: () => Case): void {
  const c = make();
  const { net, X, B, row } = c;
  const L = net.layers.length;
  const fwdTol = b.f64 ? (b.name === 'typed-float64' ? 0 : 1e-10) : FLOAT32_TOL;
  // The array's sensitivity to float32 rounding sets a float32 backend's tolerance (see the header): the same
  // computation, exact (typed float64), on the rounded network and input; computed on demand.
  type Compute = <M extends Mat>(o: Ops<M>, m: NetMats<M>, Xm: M, n: Network, x: Float64Array) => ArrayLike<number>;
  const net32 = roundedNet(net);
  const X32 = Float64Array.from(X, Math.fround);
  const mats32 = new NetMats(REF, net32);
  const relTolFor = (want: ArrayLike<number>, f: Compute) => (b.f64 ? 1e-9 : Math.max(FLOAT32_TOL, FLOAT32_GROWTH * L * relDiff(f(REF, mats32, REF.matrix(B, net.inputSize, X32), net32, X32), want)));
  describe(c.name, () => {
    let ops: Ops, mats: NetMats<Mat>, Xm: Mat;
    const refMats = new NetMats(REF, net);
    const Xr = REF.matrix(B, net.inputSize, X);
    let endScope: () => void = () => undefined;
    before(async () => {
      ops = await b.get!();
    });
    // Each test in its own scope, as explain() runs (TensorFlow.js frees the test's tensors at its end).
    beforeEach(() => {
      endScope = ops.beginScope();
      mats = new NetMats(ops, net);
      Xm = ops.matrix(B, net.inputSize, X);
    });
    afterEach(() => {
      mats.dispose();
      endScope();
    });

    test('forward pass (every layer) and gradient, batched', () => {
      const f = forwardBatch(mats, Xm), fr = forwardBatch(refMats, Xr);
      for (let l = 1; l <= L; l++) close(ops.read(f.act[l]), REF.read(fr.act[l]), fwdTol, `layer ${l} output`);
      close(ops.read(gradientBatch(mats, Xm, row)), REF.read(gradientBatch(refMats, Xr, row)), b.f64 ? 1e-10 : FLOAT32_TOL, 'gradient');
    });

    test('LRP with every registry rule (with and without bias) equals the typed float64 result (input and a hidden tensor)', () => {
      for (const [name, rules] of lrpRuleSets(net)) {
        // The input relevance and one hidden tensor's (each read is a runtime call for a tracing backend).
        const mid = Math.ceil(L / 2);
        const got = lrpBatch(mats, Xm, row, rules).relevance, want = lrpBatch(refMats, Xr, row, rules).relevance;
        for (const k of [0, mid]) {
          const w = REF.read(want[k]);
          close(ops.read(got[k]), w, relTolFor(w, (o, m, Xp) => o.read(lrpBatch(m, Xp, row, rules).relevance[k])), `${name}: relevance at tensor ${k}`);
        }
      }
    });

    test('LRP: the fixture’s zennit rule keys at the input', () => {
      const keys = Object.keys(c.fixture.zennit);
      assert.ok(keys.length >= 8, `${keys.length} zennit keys`);
      for (const key of keys) {
        const R0 = ops.read(lrpBatch(mats, Xm, row, c.fixture.rulesFor(key)).relevance[0]).subarray(0, net.inputSize);
        const want = c.fixture.zennit[key];
        close(R0, want, relTolFor(want, (o, m, Xp) => o.read(lrpBatch(m, Xp, row, c.fixture.rulesFor(key)).relevance[0]).subarray(0, net.inputSize)), `zennit ${key}`);
      }
    });

    test('train-free DTD with every registry rule equals the typed float64 result (relevance and root counts)', () => {
      for (const [name, rules] of dtdRuleSets(net)) {
        let want: ReturnType<typeof trainFree>;
        try {
          want = trainFree(REF, net, X, B, row, rules);
        } catch (e) {
          // pinv needs a fixed weight matrix per layer: on max pooling / joins every backend refuses alike.
          assert.ok(isDtdError(e), String(e));
          assert.throws(() => trainFree(ops, net, X, B, row, rules), (e2: unknown) => isDtdError(e2) && e2.message === (e as Error).message);
          continue;
        }
        const got = trainFree(ops, net, X, B, row, rules);
        close(got.R0, want.R0, relTolFor(want.R0, (o, _m, _X, n, x) => trainFree(o, n, x, B, row, rules).R0), `${name}: input relevance`);
        if (b.f64) assert.deepEqual(got.counts, want.counts, `${name}: units with a root per layer and sample`);
      }
    });

    test('train-free DTD: the fixture’s values', () => {
      for (const [rule, want] of Object.entries(c.fixture.trainFree)) {
        const got = trainFree(ops, net, X, B, row, parseRuleMap(rule, net.layers, 'train-free')).R0.subarray(0, net.inputSize);
        close(got, want, b.f64 ? 1e-8 : relTolFor(want, (o, _m, _X, n, x) => trainFree(o, n, x, B, row, parseRuleMap(rule, net.layers, 'train-free')).R0.subarray(0, net.inputSize)), `train-free ${rule}`);
      }
      if (c.fixture.trainFreeZplusGap !== undefined) {
        // Train-free z+ is zennit's zero-bias z+ up to the stabiliser (RESIDUAL.md / CONV.md).
        const got = trainFree(ops, net, X, B, row, parseRuleMap('z+', net.layers, 'train-free')).R0.subarray(0, net.inputSize);
        const want = c.fixture.zennit.zplus_zero_bias;
        const d = Math.max(...Array.from(got, (v, i) => Math.abs(v - want[i]))) / maxAbs(want);
        const zp = parseRuleMap('z+', net.layers, 'train-free');
        const exact = trainFree(REF, net, X, B, row, zp).R0.subarray(0, net.inputSize);
        const slack = b.f64 ? 1e-9 : relTolFor(exact, (o, _m, _X, n, x) => trainFree(o, n, x, B, row, zp).R0.subarray(0, net.inputSize));
        assert.ok(d <= 1.1 * c.fixture.trainFreeZplusGap + slack, `train-free z+ vs zennit zero-bias z+: ${d.toExponential(3)} (allowed ${(1.1 * c.fixture.trainFreeZplusGap + slack).toExponential(3)})`);
      }
    });
  });
}

for (const b of BACKENDS) {
  describe(`backend ${b.name}`, { skip: b.get ? false : `not available here: ${b.why}` }, () => {
    if (!b.get) return;
    describe('ops', () => opsSpec(b));
    for (const make of CASES) networkSpec(b, make);
  });
}

describe('backend selection', () => {
  test('explain() names the backend it ran on; onnxruntime float64 equals typed float64 end to end', { skip: ortF64.get ? false : `onnxruntime not available: ${ortF64.why}` }, async () => {
    const c = CASES[4]();
    const x = Array.from(c.X.subarray(0, c.net.inputSize));
    for (const method of ['train-free', 'lrp'] as const) {
      const ref = await explain(c.net, x, { method, explainedOutput: c.row, baselines: false });
      const got = await explain(c.net, x, { method, explainedOutput: c.row, baselines: false, backend: 'onnxruntime' });
      assert.equal(ref.backend, 'typed-float64');
      assert.match(got.backend, /^onnxruntime-(cpu|cuda)$/);
      assert.equal(got.precision, 'float64');
      ref.relevance.forEach((r, l) => close(got.relevance[l]!, r!, 1e-9, `${method} relevance ${l}`));
    }
  });
  test('auto in float32 picks onnxruntime when it loads; float64 auto stays on exact typed arrays', async () => {
    const f32 = await getOps('float32', 'auto');
    if (ortF32.get) assert.match(f32.backend, /^onnxruntime-/);
    else assert.match(f32.backend, /onnxruntime unavailable: /);
    assert.equal((await getOps('float64', 'auto')).backend, 'typed-float64');
  });
  test('an unknown backend is refused with the list', async () => {
    await assert.rejects(getOps('float32', 'gpu' as never), /Unknown backend 'gpu' \(use auto, onnxruntime, tensorflow, wasm, cpu\)/);
  });
});
