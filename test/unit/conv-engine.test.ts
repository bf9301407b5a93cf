// Convolutional DTD/LRP through explain() and the command line, and the conv
// and pooling kernels against slow, obviously-correct loops for the layer
// types the fixtures do not cover (dilation, asymmetric padding, pooling with
// stride and padding, count_include_pad, ties).

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import { firstLayerRules, lrpBatch, lrpRulesFor, resolveLrpRules, type LrpRule } from '../../extension/engine/baselines';
import { isDtdError } from '../../extension/engine/errors';
import { explain } from '../../extension/engine/explain';
import { forward } from '../../extension/engine/forward';
import { poolGeom } from '../../extension/engine/layers';
import { denseRow, materializeDense, type Conv2dLayer, type Layer, type Network, type Pool2dLayer } from '../../extension/engine/network';
import { TypedOps } from '../../extension/engine/ops/typed';
import { Rng } from '../../extension/engine/rng';
import { trainFreeBatch } from '../../extension/engine/trainFree';
import { NetMats, forwardBatch } from '../../extension/engine/forward';
import { convFixtureFile, convFixtureNames, convNetFromFixture, flat, loadConvFixture, slowConvDense } from '../helpers/conv';
import { maxAbs, REPO } from '../helpers/fixtures';
import { maxPoolAsSelection, maxPoolWinnerChange } from '../../extension/engine/pooling';

const ops = new TypedOps('float64');

function maxRelDiff(got: ArrayLike<number>, want: ArrayLike<number>): number {
  assert.equal(got.length, want.length);
  let d = 0;
  for (let i = 0; i < want.length; i++) d = Math.max(d, Math.abs(got[i] - want[i]));
  const s = maxAbs(want);
  return s === 0 ? d : d / s;
}

describe('explain() on the conv fixtures', () => {
  for (const name of convFixtureNames()) {
    const fx = loadConvFixture(name);
    const { net, moduleInput } = convNetFromFixture(fx, name);
    const x = flat(fx.input.x);
    const { low, high } = fx.input.zbox_bounds;
    const zbox = `zbox=[${low.join(' ')}],[${high.join(' ')}]`;
    const L = net.layers.length;

    test(`${name}: --method lrp with rule text reproduces zennit (1e-9·max|ref|), shapes and baselines`, async () => {
      const cases: [string, string, boolean][] = [
        ['zplus_zero_bias', 'zplus', true],
        ['zplus', 'zplus', false],
        ['epsilon_1e-6', 'epsilon=1e-6', false],
        ['epsilon_1e-6_zero_bias', 'epsilon=1e-6', true],
        ['gamma_0.25', 'gamma=0.25', false],
        ['gamma_0.25_zero_bias', 'gamma=0.25', true],
        ['alpha2_beta1', 'alpha2beta1', false],
        ['zbox_zplus_zero_bias', `${net.layers[0].name}=${zbox};*=zplus`, true],
        ['wsquare_zplus_zero_bias', 'layer1=wsquare;*=zplus', true],
      ];
      for (const ex of fx.explanations) {
        for (const [key, rule, zeroBias] of cases) {
          const r = await explain(net, x, { method: 'lrp', rule, zeroBias, explainedOutput: ex.explained_output, baselines: key === 'zplus' });
          assert.equal(r.status, 'ok');
          assert.equal(r.method, 'lrp');
          const d = maxRelDiff(r.relevance[0]!, flat(ex.zennit.rules[key].relevance));
          assert.ok(d <= 1e-9, `${key} (${rule}${zeroBias ? ', zero bias' : ''}), output ${ex.explained_output}: max|Δ|/max|ref| = ${d}`);
          assert.ok(r.roots.every((q) => q.length === 0), 'LRP has no roots');
          if (key === 'zplus') {
            // Baselines for conv nets: gradient, gradient×input and the LRP keys.
            assert.ok(maxRelDiff(r.baselines!.gradient, flat(ex.gradient.grad)) <= 1e-12);
            assert.ok(maxRelDiff(r.baselines!.gradientTimesInput, flat(ex.gradient.grad_times_input)) <= 1e-12);
            for (const k of ['zplus_zero_bias', 'epsilon_1e-6', 'gamma_0.25_zero_bias', 'alpha2_beta1', 'wsquare_zplus_zero_bias']) {
              const b = maxRelDiff(r.baselines!.lrp[k].relevance, flat(ex.zennit.rules[k].relevance));
              assert.ok(b <= 1e-9, `baseline ${k}: ${b}`);
            }
          }
        }
      }
      const r = await explain(net, x, { method: 'lrp', rule: 'zplus', explainedOutput: fx.explanations[0].explained_output, baselines: false });
      assert.equal(r.shapes!.length, L + 1);
      assert.deepEqual(r.shapes![0], fx.input.shape.slice(1));
      r.shapes!.forEach((s, l) => assert.equal(s.reduce((a, b) => a * b, 1), r.relevance[l]!.length, `shapes[${l}]`));
      assert.equal(r.rules.length, L);
    });

    test(`${name}: DTD train-free z+ equals zennit's zero-bias z+ up to the stabiliser`, async () => {
      // DTD z+ has no stabiliser (ε = 0, units with |v·w| ≤ 1e-5 pass nothing); zennit uses ε = 1e-6. The fixture's
      // diagnostic measures how far ε = 1e-6 is from ε = 1e-9 (the ε → 0 limit to ~0.1 %): that is the expected gap.
      const signed = x.some((v) => v < 0);
      for (const ex of fx.explanations) {
        const gap = ex.diagnostics['stabilizer_1e-6_vs_1e-9_input_rel_diff_numpy'].zplus_zero_bias as number;
        const tol = 1.1 * gap + 1e-9;
        const r = await explain(net, x, { rule: 'z+', explainedOutput: ex.explained_output, baselines: false });
        assert.equal(r.status, 'ok', r.message ?? '');
        for (const pl of ex.per_layer_zplus_zero_bias) {
          const at = pl.at_input_of_module;
          // With a signed pixel input, layer 1 differs on purpose (DTD uses x·w⁺, zennit x⁺w⁺ + x⁻w⁻); every layer above has inputs ≥ 0.
          if (signed && at === 0) continue;
          const idx = at === null ? L : moduleInput[at];
          const d = maxRelDiff(r.relevance[idx]!, flat(pl.relevance));
          assert.ok(d <= tol, `output ${ex.explained_output}, input of module ${at}: ${d.toExponential(3)} > ${tol.toExponential(3)}`);
        }
        if (signed) assert.ok(maxRelDiff(r.relevance[0]!, flat(ex.per_layer_zplus_zero_bias[0].relevance)) > 1e-2, 'signed pixels: DTD z+ and zennit z+ should differ at the input');
        // Root diagnostics for every conv/dense unit: each root removes its unit's relevance in the unit's linear model.
        for (let l = 1; l <= L; l++) {
          const layer = net.layers[l - 1];
          if (layer.kind === 'maxpool2d' || layer.kind === 'avgpool2d') {
            assert.equal(r.roots[l - 1].length, 0);
            continue;
          }
          const units = l === L ? 1 : layer.outFeatures;
          assert.equal(r.roots[l - 1].length, units, `roots of ${layer.name}`);
          // Each root lies on the unit's z+ line and removes exactly its relevance in the unit's linear model: w_j·(a − r_j) = R_j.
          const a = r.activations[l - 1];
          let checked = 0;
          for (const q of r.roots[l - 1]) {
            if (!q.hasRoot || !q.root) continue;
            const w = denseRow(layer, q.unit);
            let lin = 0;
            for (let i = 0; i < w.length; i++) lin += w[i] * (a[i] - q.root[i]);
            assert.ok(Math.abs(lin - q.relevanceAtInput) <= 1e-9 * Math.max(1e-12, Math.abs(q.relevanceAtInput)) + 1e-15, `${layer.name} unit ${q.unit}: w·(a − r) = ${lin}, R = ${q.relevanceAtInput}`);
            assert.equal(q.passedOn, q.relevanceAtInput);
            checked++;
          }
          assert.ok(checked > 0, `${layer.name}: some roots were checked`);
        }
      }
    });
  }

  test('zB at the pixels and z+ above, gamma, w2 and x: conservation and a per-channel box (train-free)', async () => {
    const fx = loadConvFixture('cnn3x10_signed_maxpool_floor_seed4');
    const { net } = convNetFromFixture(fx);
    const x = flat(fx.input.x);
    const { low, high } = fx.input.zbox_bounds;
    const k = fx.explanations[0].explained_output;
    const zB = await explain(net, x, { rule: [{ name: 'zB', low, high }, ...net.layers.slice(1).map(() => ({ name: 'z+' as const }))], explainedOutput: k, baselines: false });
    assert.equal(zB.status, 'ok');
    // zB on the first layer is zennit's ZBox with the bias left out, and z+ above equals zennit's zero-bias z+ up to the stabiliser.
    const want = flat(fx.explanations[0].zennit.rules.zbox_zplus_zero_bias.relevance);
    const gap = fx.explanations[0].diagnostics['stabilizer_1e-6_vs_1e-9_input_rel_diff_numpy'].zbox_zplus_zero_bias;
    assert.ok(maxRelDiff(zB.relevance[0]!, want) <= 1.1 * gap + 1e-9, `zB vs ZBox: ${maxRelDiff(zB.relevance[0]!, want)}`);
    // Every zB root of the first layer lies in the per-channel box.
    const roots = zB.roots[0].filter((q) => q.hasRoot && q.checks);
    assert.ok(roots.length > 0);
    assert.ok(roots.every((q) => q.checks!.inDomain), 'zB roots stay in the box');
    // Train-free DTD conserves by construction for every rule with a root: unit j passes Σ_i w_i·(a_i − r_i) = t·(v·w) = R_j
    // exactly (the bias does not enter, and there is no stabiliser: a unit with |v·w| ≤ 1e-5 has no root and its R_j is
    // reported as lost), and max pooling hands each window's relevance to one input. So per layer
    // Σ R^(l-1) = Σ R^(l) − lost_l up to float64 rounding only. x and gamma pass relevance of both signs on the signed
    // input, so the sums cancel and rounding scales with the relevance mass Σ|R|, not with f(x): 1e-12·mass (measured ≤ 5e-16·mass).
    // (Average pooling is not in this network: a w2 relevance on a pool output that is 0 has no proportional split there.)
    for (const rule of ['gamma=0.25', 'w2', 'x']) {
      const r = await explain(net, x, { rule, explainedOutput: k, baselines: false });
      assert.equal(r.status, 'ok', `${rule}: ${r.message}`);
      let lostAll = 0;
      let massAll = 0;
      for (let l = 1; l <= net.layers.length; l++) {
        const up = r.relevance[l]!;
        const down = r.relevance[l - 1]!;
        const lost = r.roots[l - 1].filter((q) => !q.hasRoot).reduce((a, q) => a + q.relevanceAtInput, 0);
        const mass = Math.max(up.reduce((a, b) => a + Math.abs(b), 0), down.reduce((a, b) => a + Math.abs(b), 0));
        const sUp = up.reduce((a, b) => a + b, 0);
        const sDown = down.reduce((a, b) => a + b, 0);
        assert.ok(Math.abs(sUp - lost - sDown) <= 1e-12 * mass, `${rule}, ${net.layers[l - 1].name}: Σ above ${sUp} − lost ${lost} ≠ Σ below ${sDown}`);
        lostAll += lost;
        massAll = Math.max(massAll, mass);
      }
      const s0 = r.relevance[0]!.reduce((a, b) => a + b, 0);
      assert.ok(Math.abs(s0 - (r.explainedValue - lostAll)) <= 1e-12 * net.layers.length * massAll, `${rule}: Σ input relevance ${s0} ≠ f(x) ${r.explainedValue} − lost ${lostAll}`);
      // The relevance really flows: not everything is lost on the way down.
      assert.ok(Math.abs(s0) > 0.5 * r.explainedValue, `${rule}: Σ input relevance ${s0} vs f(x) ${r.explainedValue}`);
    }
    // z+ conserves through conv and max pooling where every unit has a root: the sum above the input is f(x) minus lost units.
    const zp = await explain(net, x, { rule: 'z+', explainedOutput: k, baselines: false });
    for (let l = 1; l <= net.layers.length; l++) {
      const lost = zp.roots[l - 1].filter((q) => !q.hasRoot).reduce((a, q) => a + q.relevanceAtInput, 0);
      const sUp = zp.relevance[l]!.reduce((a, b) => a + b, 0);
      const sDown = zp.relevance[l - 1]!.reduce((a, b) => a + b, 0);
      const kind = net.layers[l - 1].kind;
      if (kind === 'maxpool2d') assert.ok(Math.abs(sUp - sDown) <= 1e-12 * Math.abs(sUp), 'max pooling conserves exactly');
      else if (kind !== 'avgpool2d') assert.ok(Math.abs(sUp - lost - sDown) <= 1e-9 * Math.abs(zp.explainedValue), `${net.layers[l - 1].name}: ${sUp} − ${lost} ≠ ${sDown}`);
    }
  });
});

// ── small hand-built networks with layer types the fixtures do not cover ─────

function randn(rng: Rng, n: number, scale = 1): Float64Array {
  return Float64Array.from({ length: n }, () => rng.normal() * scale);
}

function conv(name: string, inShape: [number, number, number], O: number, kernel: [number, number], stride: [number, number], padding: [number, number, number, number], dilation: [number, number], rng: Rng): Conv2dLayer {
  const [C, H, W] = inShape;
  const OH = Math.floor((H + padding[0] + padding[2] - dilation[0] * (kernel[0] - 1) - 1) / stride[0]) + 1;
  const OW = Math.floor((W + padding[1] + padding[3] - dilation[1] * (kernel[1] - 1) - 1) / stride[1]) + 1;
  return {
    kind: 'conv2d', name, inShape, outShape: [O, OH, OW], inFeatures: C * H * W, outFeatures: O * OH * OW,
    weight: randn(rng, O * C * kernel[0] * kernel[1], 0.5), bias: randn(rng, O, 0.1), kernel, stride, padding, dilation, activation: 'relu',
  };
}

function pool(kind: 'maxpool2d' | 'avgpool2d', name: string, inShape: [number, number, number], kernel: [number, number], stride: [number, number], padding: [number, number, number, number], countIncludePad?: boolean): Pool2dLayer {
  const [C, H, W] = inShape;
  const OH = Math.floor((H + padding[0] + padding[2] - kernel[0]) / stride[0]) + 1;
  const OW = Math.floor((W + padding[1] + padding[3] - kernel[1]) / stride[1]) + 1;
  return { kind, name, inShape, outShape: [C, OH, OW], inFeatures: C * H * W, outFeatures: C * OH * OW, kernel, stride, padding, countIncludePad, activation: 'linear' };
}

/** Slow pooling: every output window enumerated by (row, col) with the padding rule spelled out. */
function slowPool(layer: Pool2dLayer, a: ArrayLike<number>): { out: number[]; winner: number[]; members: number[][]; divisor: number[] } {
  const [C, H, W] = layer.inShape;
  const [, OH, OW] = layer.outShape;
  const out: number[] = [], winner: number[] = [], members: number[][] = [], divisor: number[] = [];
  for (let c = 0; c < C; c++)
    for (let i = 0; i < OH; i++)
      for (let j = 0; j < OW; j++) {
        const m: number[] = [];
        let padded = 0;
        for (let u = 0; u < layer.kernel[0]; u++)
          for (let v = 0; v < layer.kernel[1]; v++) {
            const r = i * layer.stride[0] - layer.padding[0] + u, q = j * layer.stride[1] - layer.padding[1] + v;
            if (r >= 0 && r < H && q >= 0 && q < W) m.push(c * H * W + r * W + q);
            else if (r >= -layer.padding[0] && r < H + layer.padding[2] && q >= -layer.padding[1] && q < W + layer.padding[3]) padded++;
          }
        members.push(m);
        let best = m[0];
        for (const p of m) if (a[p] > a[best]) best = p; // strict: ties keep the first in row-major order
        winner.push(best);
        const n = m.length + (layer.countIncludePad ? padded : 0);
        divisor.push(n);
        out.push(layer.kind === 'maxpool2d' ? a[best] : m.reduce((s, p) => s + a[p], 0) / n);
      }
  return { out, winner, members, divisor };
}

function smallNet(rng: Rng): Network {
  const c1 = conv('c1', [2, 7, 6], 3, [3, 2], [2, 1], [2, 0, 1, 1], [2, 1], rng); // dilation, stride, asymmetric padding
  const p1 = pool('maxpool2d', 'p1', c1.outShape, [2, 3], [1, 2], [1, 1, 0, 1]); // overlapping windows with stride and padding
  const c2 = conv('c2', p1.outShape, 4, [2, 2], [1, 1], [0, 1, 1, 0], [1, 1], rng);
  const p2 = pool('avgpool2d', 'p2', c2.outShape, [2, 2], [2, 2], [1, 0, 0, 1], false);
  const n = p2.outFeatures;
  const fc: Layer = { kind: 'dense', name: 'fc', inFeatures: n, outFeatures: 3, weight: randn(rng, 3 * n, 0.5), bias: randn(rng, 3, 0.1), activation: 'linear' };
  return { inputSize: 2 * 7 * 6, inputShape: [2, 7, 6], layers: [c1, p1, c2, p2, fc], outputSelection: null, source: { format: 'json', file: 'small.json' }, notes: [] };
}

describe('conv and pooling kernels against slow loops', () => {
  test('conv2d forward and transpose (dilation, stride, asymmetric padding) equal the dense matrix built by the index formula', () => {
    const rng = new Rng(3);
    const layer = conv('c', [3, 8, 7], 4, [3, 2], [2, 3], [1, 2, 0, 1], [2, 2], rng);
    const M = slowConvDense(layer);
    const n = layer.inFeatures, m = layer.outFeatures;
    const B = 3;
    const X = randn(rng, B * n), G = randn(rng, B * m);
    const mats = new NetMats(ops, { inputSize: n, inputShape: layer.inShape, layers: [layer], outputSelection: null, source: { format: 'json', file: 't' }, notes: [] });
    const Y = ops.read(mats.fwd(1, ops.matrix(B, n, X), mats.W(1)));
    const XT = ops.read(mats.bwd(1, ops.matrix(B, m, G), mats.W(1)));
    for (let s = 0; s < B; s++) {
      for (let j = 0; j < m; j++) {
        let want = 0;
        for (let i = 0; i < n; i++) want += M[j * n + i] * X[s * n + i];
        assert.ok(Math.abs(Y[s * m + j] - want) <= 1e-12 * (1 + Math.abs(want)), `forward sample ${s} unit ${j}`);
      }
      for (let i = 0; i < n; i++) {
        let want = 0;
        for (let j = 0; j < m; j++) want += M[j * n + i] * G[s * m + j];
        assert.ok(Math.abs(XT[s * n + i] - want) <= 1e-12 * (1 + Math.abs(want)), `transpose sample ${s} input ${i}`);
      }
    }
    // materializeDense (used by full-backward and the root diagnostics) is the same matrix.
    assert.deepEqual(Array.from(materializeDense(layer).weight), Array.from(M));
  });

  test('max pooling (first maximum on ties, padding never wins) and average pooling (both divisors) equal slow loops', () => {
    const rng = new Rng(5);
    const shape: [number, number, number] = [2, 5, 6];
    const a = Float64Array.from(randn(rng, 60), (v) => Math.round(v * 2) / 2); // many exact ties
    for (const layer of [
      pool('maxpool2d', 'm', shape, [2, 3], [1, 2], [1, 1, 0, 1]),
      pool('maxpool2d', 'm2', shape, [3, 3], [2, 2], [1, 1, 1, 1]),
      pool('avgpool2d', 'a', shape, [2, 3], [2, 2], [1, 1, 1, 1], false),
      pool('avgpool2d', 'a2', shape, [2, 3], [2, 2], [1, 1, 1, 1], true),
    ]) {
      const net: Network = { inputSize: 60, inputShape: shape, layers: [layer], outputSelection: null, source: { format: 'json', file: 't' }, notes: [] };
      const ref = slowPool(layer, a);
      const f = forward(net, a);
      assert.deepEqual(Array.from(f.pre[0]), ref.out, `${layer.name} forward`);
      const G = randn(rng, layer.outFeatures);
      const A = ops.matrix(1, 60, a);
      const back = ops.read(layer.kind === 'maxpool2d' ? ops.maxPool2dBackward(ops.matrix(1, G.length, G), A, poolGeom(layer)) : ops.avgPool2dTranspose(ops.matrix(1, G.length, G), poolGeom(layer)));
      const want = new Float64Array(60);
      ref.members.forEach((m, j) => {
        if (layer.kind === 'maxpool2d') want[ref.winner[j]] += G[j];
        else for (const p of m) want[p] += G[j] / ref.divisor[j];
      });
      for (let i = 0; i < 60; i++) assert.ok(Math.abs(back[i] - want[i]) <= 1e-12, `${layer.name} backward ${i}: ${back[i]} vs ${want[i]}`);
    }
  });

  test('LRP and train-free DTD through conv/pool layers equal the same network with conv and avg-pool as dense matrices', async () => {
    const rng = new Rng(11);
    const net = smallNet(rng);
    const dense: Network = { ...net, layers: net.layers.map((l) => (l.kind === 'maxpool2d' ? l : materializeDense(l))) };
    const x = Float64Array.from(randn(rng, net.inputSize), Math.abs);
    const f = forward(net, x), fd = forward(dense, x);
    assert.ok(maxRelDiff(f.pre[4], fd.pre[4]) <= 1e-12, 'same logits');
    const row = f.pre[4][0] > f.pre[4][1] ? 0 : 1;
    const X = ops.matrix(1, x.length, x);
    const mc = new NetMats(ops, net), md = new NetMats(ops, dense);
    const lrpRules: LrpRule[][] = [
      lrpRulesFor(net, { name: 'z+', zeroBias: false }),
      lrpRulesFor(net, { name: 'gamma', zeroBias: true, gamma: 0.25 }),
      lrpRulesFor(net, { name: 'alpha2beta1', zeroBias: false }),
      lrpRulesFor(net, { name: 'epsilon', zeroBias: false, epsilon: 1e-6 }),
      firstLayerRules(net, { name: 'zB', zeroBias: true, low: [-1, 0], high: [2, 3] }),
      firstLayerRules(net, { name: 'w2', zeroBias: true }),
    ];
    for (const rules of lrpRules) {
      const a = lrpBatch(mc, X, row, rules).relevance.map((m) => ops.read(m));
      // The dense version needs the per-channel box as per-unit bounds.
      // … and its avg pool (now a dense layer with weights 1/n) gets z⁺, which on inputs ≥ 0 is zennit's Norm rule with the same ε.
      const dRules = rules.map((r, i) => (net.layers[i].kind === 'avgpool2d' ? { name: 'z+' as const, zeroBias: true } : r.name === 'zB' ? { ...r, low: Array.from({ length: 84 }, (_, i) => (r.low as number[])[Math.floor(i / 42)]), high: Array.from({ length: 84 }, (_, i) => (r.high as number[])[Math.floor(i / 42)]) } : r));
      const b = lrpBatch(md, X, row, dRules).relevance.map((m) => ops.read(m));
      for (let l = 0; l < a.length; l++) assert.ok(maxRelDiff(a[l], b[l]) <= 1e-10, `${rules[0].name} relevance[${l}]: ${maxRelDiff(a[l], b[l])}`);
    }
    // Train-free DTD: every rule; the dense version's avg pool is decomposed with z+, which is exactly the proportional split.
    const nL = 3;
    for (const rule of ['z+', 'x', 'gamma', 'w2', 'zB'] as const) {
      const rules = net.layers.map((l, i) => (l.kind === 'avgpool2d' ? { name: 'z+' as const } : i === 0 && rule === 'zB' ? { name: 'zB' as const, low: -1, high: 3 } : { name: rule === 'zB' ? ('z+' as const) : rule }));
      const run = (m: NetMats<typeof X>) => {
        const bf = forwardBatch(m, X);
        const top = new Float64Array(nL), mask = new Float64Array(nL);
        top[row] = ops.read(bf.act[5])[row];
        mask[row] = 1;
        return trainFreeBatch(m, bf, rules, ops.matrix(1, nL, top), ops.matrix(1, nL, mask)).relevance.map((q) => ops.read(q));
      };
      const a = run(mc), b = run(md);
      for (let l = 0; l < a.length; l++) assert.ok(maxRelDiff(a[l], b[l]) <= 1e-10, `train-free ${rule} relevance[${l}]`);
    }
  });

  test('float32 TensorFlow.js kernels agree with the float64 loops (rel 1e-5)', async () => {
    const { createTfjsOps } = await import('../../extension/engine/ops/tfjs');
    const tops = await createTfjsOps('cpu');
    const rng = new Rng(13);
    const net = smallNet(rng);
    const x = Float64Array.from(randn(rng, 2 * net.inputSize), Math.abs);
    const m64 = new NetMats(ops, net), m32 = new NetMats(tops, net);
    for (const rules of [lrpRulesFor(net, { name: 'z+', zeroBias: false }), firstLayerRules(net, { name: 'zB', zeroBias: true, low: 0, high: 3 })]) {
      const a = lrpBatch(m64, ops.matrix(2, net.inputSize, x), 1, rules).relevance.map((m) => ops.read(m));
      const b = lrpBatch(m32, tops.matrix(2, net.inputSize, x), 1, rules).relevance.map((m) => tops.read(m));
      for (let l = 0; l < a.length; l++) assert.ok(maxRelDiff(b[l], a[l]) <= 1e-5, `${rules[0].name} relevance[${l}]: ${maxRelDiff(b[l], a[l])}`);
    }
    m32.dispose();
  });
});

describe('full-backward and the sampled finders on conv networks', () => {
  function tinyNet(withMaxPool: boolean): Network {
    const rng = new Rng(21);
    const c1 = conv('c1', [1, 4, 4], 2, [2, 2], [2, 2], [0, 0, 0, 0], [1, 1], rng);
    c1.weight = c1.weight.map(Math.abs);
    const p = pool(withMaxPool ? 'maxpool2d' : 'avgpool2d', 'p', c1.outShape, [2, 1], [2, 1], [0, 0, 0, 0]);
    const fc: Layer = { kind: 'dense', name: 'fc', inFeatures: p.outFeatures, outFeatures: 2, weight: Float64Array.from([0.7, 0.4, 0.9, 0.3, -0.2, 0.5, 0.1, 0.2].slice(0, 2 * p.outFeatures)), bias: Float64Array.from([0.05, -0.1]), activation: 'relu' };
    return { inputSize: 16, inputShape: [1, 4, 4], layers: [c1, p, fc], outputSelection: null, source: { format: 'json', file: 'tiny.json' }, notes: [] };
  }
  const x = Float64Array.from({ length: 16 }, (_, i) => ((i * 7) % 5) / 4 + 0.1);

  test('a conv + avg-pool network runs full-backward (linear and Metropolis–Hastings) as its dense equivalent', async () => {
    const net = tinyNet(false);
    const dense: Network = { ...net, inputShape: undefined, layers: net.layers.map((l) => materializeDense(l as never)) };
    const a = await explain(net, x, { method: 'full-backward', rule: 'z+', baselines: false });
    const b = await explain(dense, x, { method: 'full-backward', rule: 'z+', baselines: false });
    assert.equal(a.status, 'ok', a.message ?? '');
    assert.ok(a.relevance[0]!.some((v) => v !== 0));
    assert.deepEqual(a.relevance[0], b.relevance[0]);
    assert.deepEqual(a.shapes![0], [1, 4, 4]);
    const mh = await explain(net, x, { method: 'full-backward', rootFinder: 'metropolis-hastings', rule: 'z+', metropolisHastings: { steps: 50, warmup: 10 }, baselines: false });
    assert.equal(mh.relevance[0]!.length, 16);
  });

  test('max pooling: full-backward decomposes the winners at x (a selection matrix), and flags every root that changes a winner', async () => {
    const net = tinyNet(true);
    const act = forward(net, x).act;
    const pool = net.layers[1] as Pool2dLayer;
    const frozen: Network = { ...net, inputShape: undefined, layers: [materializeDense(net.layers[0] as never), maxPoolAsSelection(pool, act[1]), net.layers[2]] };
    let ok = 0, changed = 0;
    for (const rule of ['z+', 'w2', 'x']) {
      const a = await explain(net, x, { method: 'full-backward', rule, baselines: false });
      const b = await explain(frozen, x, { method: 'full-backward', rule, baselines: false });
      assert.equal(a.status, b.status, `${rule}: ${a.message}`);
      if (a.status !== 'ok') continue;
      ok++;
      assert.deepEqual(a.relevance[0], b.relevance[0], `${rule}: the decomposition is the one of the network with the winners at x`);
      assert.ok(a.warnings.some((w) => /Max pooling is linearized at the input/.test(w)));
      // Every root: outside exactly when the real max pool picks another winner there (or the frozen network's region check says so).
      for (const e of a.tree!) {
        const change = maxPoolWinnerChange(net, e.layer, e.input, e.root);
        const frozenEntry = b.tree!.find((f) => f.path.join('/') === e.path.join('/'))!;
        assert.equal(e.checks.inRegion, frozenEntry.checks.inRegion && change === null, `${rule} ${e.path.join('/')}`);
        if (change) {
          changed++;
          assert.match(e.checks.crossing ?? '', /max pool 'p' unit \d+ changes its winner|turns (on|off)/);
        }
      }
    }
    assert.ok(ok >= 2, `only ${ok} rules decomposed this network`);
    assert.ok(changed > 0, 'some root should move a max-pool winner on this network (the check would be untested)');
  });

  test('oversized conv networks are refused with the estimated cost', async () => {
    const fx = loadConvFixture('cnn3x10_stride2_softmax_seed3');
    const { net } = convNetFromFixture(fx);
    await assert.rejects(explain(net, flat(fx.input.x), { method: 'full-backward', rule: 'z+' }), (e: unknown) => isDtdError(e) && e.code === 'too-costly' && /\d\.\d+e\+\d+ relevance evaluations/.test(e.message));
  });

  test('LRP rule text errors are usage errors', () => {
    const { net } = convNetFromFixture(loadConvFixture('cnn1x8_maxpool_avgpool_seed0'));
    assert.throws(() => resolveLrpRules('zplus2', net, false), /Unknown LRP rule/);
    assert.throws(() => resolveLrpRules('zbox=1,0', net, false), /bounds/);
    assert.throws(() => resolveLrpRules('layer1=zbox=0,1', net, false), /No LRP rule/);
    assert.equal(resolveLrpRules('layer1=zbox=0,1;*=zplus', net, true)[0].name, 'zB');
  });
});

describe('command line: --method lrp on a conv fixture', () => {
  test('--method lrp --rule zbox/zplus --zero-bias writes relevance and shapes that match zennit', () => {
    const name = 'cnn1x8_maxpool_ties_seed5';
    const fx = loadConvFixture(name);
    const tmp = mkdtempSync(path.join(tmpdir(), 'dtd-conv-cli-'));
    const input = path.join(tmp, 'x.json');
    writeFileSync(input, JSON.stringify(flat(fx.input.x)));
    const out = path.join(tmp, 'r.json');
    const r = spawnSync(
      process.execPath,
      ['--import', 'tsx', path.join(REPO, 'extension/engine/cli.ts'), 'explain', convFixtureFile(name, 'json'), '--input', input, '--output', String(fx.explanations[0].explained_output), '--method', 'lrp', '--rule', 'layer1=zbox=0,1;*=zplus', '--zero-bias', '--json', out, '--quiet'],
      { encoding: 'utf8', cwd: REPO, timeout: 120_000 },
    );
    assert.equal(r.status, 0, r.stderr);
    const res = JSON.parse(readFileSync(out, 'utf8'));
    assert.equal(res.method, 'lrp');
    assert.deepEqual(res.shapes[0], [1, 8, 8]);
    const d = maxRelDiff(res.relevance[0], flat(fx.explanations[0].zennit.rules.zbox_zplus_zero_bias.relevance));
    assert.ok(d <= 1e-9, `CLI zbox/zplus: ${d}`);
  });
});
