// The train-free root checks pass relevance down on each conv unit's upward
// cone (extension/engine/rootCone.ts). Every root they check must get the same
// relevance at the root, residual and checks as the straightforward pass that
// runs every layer whole (trainFreeRoots with cone: false), on LeNet- and
// VGG-like networks with pooling, padding, stride and dilation, for every rule
// the windows take, and on graphs with skip connections (where the cone stops).

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { explainBatch, rootCheckCosts, trainFreeRoots, type CheckedRoot } from '../../extension/engine/explainBatch';
import { NetMats } from '../../extension/engine/forward';
import { loadModel } from '../../extension/engine/loaders';
import { isWeighted, type AddLayer, type Conv2dLayer, type Layer, type Network, type Pool2dLayer } from '../../extension/engine/network';
import { TypedOps } from '../../extension/engine/ops/typed';
import { Rng } from '../../extension/engine/rng';
import { coneTop, coneWindows, cropRows } from '../../extension/engine/rootCone';
import type { RuleSpec } from '../../extension/protocol';
import { CONV_FIXTURES_DIR, RESIDUAL_FIXTURES_DIR } from '../helpers/fixtures';

function randn(rng: Rng, n: number, scale: number, shift = 0): Float64Array {
  return Float64Array.from({ length: n }, () => rng.normal() * scale + shift);
}

function conv(name: string, inShape: [number, number, number], O: number, kernel: [number, number], stride: [number, number], padding: [number, number, number, number], dilation: [number, number], rng: Rng): Conv2dLayer {
  const [C, H, W] = inShape;
  const OH = Math.floor((H + padding[0] + padding[2] - dilation[0] * (kernel[0] - 1) - 1) / stride[0]) + 1;
  const OW = Math.floor((W + padding[1] + padding[3] - dilation[1] * (kernel[1] - 1) - 1) / stride[1]) + 1;
  // Mostly positive weights and biases keep most units on, so relevance reaches every layer.
  return {
    kind: 'conv2d', name, inShape, outShape: [O, OH, OW], inFeatures: C * H * W, outFeatures: O * OH * OW,
    weight: randn(rng, O * C * kernel[0] * kernel[1], 0.4, 0.15), bias: randn(rng, O, 0.05, 0.02), kernel, stride, padding, dilation, activation: 'relu',
  };
}

function pool(kind: 'maxpool2d' | 'avgpool2d', name: string, inShape: [number, number, number], kernel: [number, number], stride: [number, number], padding: [number, number, number, number], countIncludePad?: boolean): Pool2dLayer {
  const [C, H, W] = inShape;
  const OH = Math.floor((H + padding[0] + padding[2] - kernel[0]) / stride[0]) + 1;
  const OW = Math.floor((W + padding[1] + padding[3] - kernel[1]) / stride[1]) + 1;
  return { kind, name, inShape, outShape: [C, OH, OW], inFeatures: C * H * W, outFeatures: C * OH * OW, kernel, stride, padding, countIncludePad, activation: 'linear' };
}

function dense(name: string, n: number, m: number, rng: Rng, activation: Layer['activation']): Layer {
  return { kind: 'dense', name, inFeatures: n, outFeatures: m, weight: randn(rng, m * n, 0.3, 0.05), bias: randn(rng, m, 0.05), activation };
}

function net(layers: Layer[], inputShape: [number, number, number], file: string): Network {
  return { inputSize: inputShape[0] * inputShape[1] * inputShape[2], inputShape, layers, outputSelection: null, source: { format: 'json', file }, notes: [] };
}

/** LeNet-5's shape at 1×16×16: conv 5×5 (padding 2), max pool, conv 5×5, max pool, three dense layers. */
function lenetLike(): Network {
  const rng = new Rng(5);
  const c1 = conv('c1', [1, 16, 16], 4, [5, 5], [1, 1], [2, 2, 2, 2], [1, 1], rng);
  const p1 = pool('maxpool2d', 'p1', c1.outShape, [2, 2], [2, 2], [0, 0, 0, 0]);
  const c2 = conv('c2', p1.outShape, 6, [3, 3], [1, 1], [0, 0, 0, 0], [1, 1], rng);
  const p2 = pool('maxpool2d', 'p2', c2.outShape, [2, 2], [2, 2], [0, 0, 0, 0]);
  return net([c1, p1, c2, p2, dense('fc1', p2.outFeatures, 12, rng, 'relu'), dense('fc2', 12, 8, rng, 'relu'), dense('fc3', 8, 3, rng, 'linear')], [1, 16, 16], 'lenet-like.json');
}

/** A VGG-style stack at 3×18×18 with asymmetric padding, dilation, stride 2, overlapping and floor-mode pooling, and an average pool. */
function vggLike(countIncludePad: boolean): Network {
  const rng = new Rng(7);
  const c1 = conv('c1', [3, 18, 18], 4, [3, 3], [1, 1], [1, 1, 1, 1], [1, 1], rng);
  const c2 = conv('c2', c1.outShape, 4, [3, 2], [1, 1], [2, 0, 1, 1], [2, 1], rng); // dilation 2, asymmetric padding
  const p1 = pool('maxpool2d', 'p1', c2.outShape, [3, 3], [2, 2], [1, 1, 0, 0]); // overlapping windows with padding
  const c3 = conv('c3', p1.outShape, 5, [3, 3], [2, 2], [1, 1, 1, 1], [1, 1], rng); // stride 2
  const c4 = conv('c4', c3.outShape, 5, [2, 2], [1, 1], [0, 0, 1, 1], [1, 1], rng);
  const p2 = pool('avgpool2d', 'p2', c4.outShape, [2, 2], [2, 2], [1, 1, 0, 0], countIncludePad);
  return net([c1, c2, p1, c3, c4, p2, dense('fc1', p2.outFeatures, 10, rng, 'relu'), dense('fc2', 10, 3, rng, 'linear')], [3, 18, 18], 'vgg-like.json');
}

/** A residual block: c2 and c3 read c1's output, an add joins them (so c1's tensor has two readers and the cone stops there). */
function residualLike(): Network {
  const rng = new Rng(9);
  const c1 = conv('c1', [2, 12, 12], 4, [3, 3], [1, 1], [1, 1, 1, 1], [1, 1], rng);
  const c2 = conv('c2', c1.outShape, 4, [3, 3], [1, 1], [1, 1, 1, 1], [1, 1], rng);
  c2.inputs = [1];
  const c3 = conv('c3', c2.outShape, 4, [3, 3], [1, 1], [1, 1, 1, 1], [1, 1], rng);
  const add: AddLayer = { kind: 'add', name: 'add', inputs: [1, 3], shape: [...c3.outShape], inFeatures: c3.outFeatures, outFeatures: c3.outFeatures, activation: 'relu' };
  const p = pool('maxpool2d', 'p', c3.outShape, [2, 2], [2, 2], [0, 0, 0, 0]);
  const c4 = conv('c4', p.outShape, 4, [3, 3], [1, 1], [0, 0, 0, 0], [1, 1], rng);
  const p2 = pool('maxpool2d', 'p2', c4.outShape, [2, 2], [2, 2], [0, 0, 0, 0]);
  return net([c1, c2, c3, add, p, c4, p2, dense('fc', p2.outFeatures, 3, rng, 'linear')], [2, 12, 12], 'residual-like.json');
}

function input(n: number, seed: number, signed = false): Float64Array {
  const rng = new Rng(seed);
  return Float64Array.from({ length: n }, () => (signed ? rng.normal() : rng.uniform()));
}

/** The explained row with the largest positive output (train-free needs f(x) > 0). */
function bestRow(network: Network, x: Float64Array, rules: RuleSpec[]): number {
  const ops = new TypedOps('float64');
  const b = explainBatch(new NetMats(ops, network), ops.matrix(1, x.length, x), 0, rules);
  const out = ops.read(b.fwd.act[network.layers.length]);
  let row = 0;
  for (let j = 1; j < out.length; j++) if (out[j] > out[row]) row = j;
  return row;
}

/**
 * Checks the roots of every layer with and without the cone windows and
 * asserts they agree root by root. Returns how many roots were checked on
 * layers whose cone is used.
 */
function compare(network: Network, x: Float64Array, rules: RuleSpec[], maxWorkPerInput = 1e12): number {
  const ops = new TypedOps('float64');
  const mats = new NetMats(ops, network);
  const row = bestRow(network, x, rules);
  const b = explainBatch(mats, ops.matrix(1, x.length, x), row, rules);
  const rel = b.relevance.map((m) => ops.read(m));
  const inputNonNegative = [x.every((v) => v >= 0)];
  const fast = trainFreeRoots(mats, [x], [rel], row, rules, { inputNonNegative, maxWorkPerInput, keepRoots: false })[0];
  const whole = trainFreeRoots(mats, [x], [rel], row, rules, { inputNonNegative, maxWorkPerInput, keepRoots: false, cone: false })[0];
  let onCone = 0;
  fast.forEach((layer, i) => {
    const l = i + 1;
    assert.deepEqual(layer.map((q) => q.unit), whole[i].map((q) => q.unit), `layer ${l}: the same units are checked`);
    layer.forEach((q: CheckedRoot, k) => {
      const p = whole[i][k];
      const where = `layer ${l} unit ${q.unit}`;
      assert.equal(q.hasRoot, p.hasRoot, where);
      if (!p.hasRoot) return;
      const tol = 1e-12 * (Math.abs(p.relevanceAtRoot!) + Math.abs(p.relevanceAtInput) + 1e-300);
      assert.ok(Math.abs(q.relevanceAtRoot! - p.relevanceAtRoot!) <= tol, `${where}: relevance at the root ${q.relevanceAtRoot} vs ${p.relevanceAtRoot}`);
      assert.ok(Math.abs(q.taylorResidual! - p.taylorResidual!) <= tol, `${where}: Taylor residual`);
      assert.equal(q.outputAtRoot, p.outputAtRoot, where);
      assert.deepEqual(q.checks, p.checks, where);
      if (coneTop(network, rules, l) > l) onCone++;
    });
  });
  return onCone;
}

const zplus = (network: Network): RuleSpec[] => network.layers.map(() => ({ name: 'z+' }));

describe('root checks on the upward cone equal the whole pass', () => {
  test('LeNet-like: every root of both conv layers, z+; the cone is used below the dense layers', () => {
    const network = lenetLike();
    const rules = zplus(network);
    assert.equal(coneTop(network, rules, 1), 3, 'c1 passes relevance down through p1 and c2 on windows (p2 above the last conv stays whole)');
    assert.equal(coneTop(network, rules, 3), 3, 'c2: only a pooling layer above it before the dense layers, so no window');
    const onCone = compare(network, input(network.inputSize, 1), rules);
    assert.ok(onCone >= 256, `${onCone} roots checked on the cone`);
  });

  test('LeNet-like: every rule the windows take (x, w2, γ, 0, zB on the first layer), and a signed input (z+ on split signs)', () => {
    const network = lenetLike();
    const x = input(network.inputSize, 2);
    for (const name of ['x', 'w2', 'gamma', '0'] as const) {
      const rules: RuleSpec[] = network.layers.map(() => ({ name }));
      assert.ok(compare(network, x, rules) > 0, name);
    }
    const zb: RuleSpec[] = [{ name: 'zB', low: 0, high: 1 }, ...zplus(network).slice(1)];
    assert.ok(compare(network, x, zb) > 0, 'zB');
    assert.ok(compare(network, input(network.inputSize, 3, true), zplus(network)) > 0, 'signed input');
  });

  test('VGG-like with dilation, asymmetric padding, stride 2, overlapping max pool and an average pool (both divisor rules)', () => {
    for (const countIncludePad of [false, true]) {
      const network = vggLike(countIncludePad);
      const rules = zplus(network);
      assert.ok(coneTop(network, rules, 1) >= 2, 'c1 uses the cone');
      const onCone = compare(network, input(network.inputSize, 4), rules);
      assert.ok(onCone > 100, `${onCone} roots on the cone`);
    }
  });

  test('a sampled layer checks the same sample both ways (the cost cap decides, not the pass)', () => {
    const network = vggLike(false);
    const onCone = compare(network, input(network.inputSize, 6), zplus(network), 3e6);
    assert.ok(onCone > 0);
  });

  test('a residual block: the cone stops at a tensor with two readers, and the roots still agree', () => {
    const network = residualLike();
    const rules = zplus(network);
    assert.equal(coneTop(network, rules, 1), 1, 'c1 feeds c2 and the add: no window');
    assert.equal(coneTop(network, rules, 3), 3, 'c3 feeds the add: no window');
    assert.equal(coneTop(network, rules, 6), 6);
    compare(network, input(network.inputSize, 8), rules);
  });

  test('the conv and residual fixtures exported by PyTorch agree both ways', () => {
    const files = [
      path.join(CONV_FIXTURES_DIR, 'cnn1x8_maxpool_avgpool_seed0.onnx'),
      path.join(CONV_FIXTURES_DIR, 'cnn1x8_bn_stride2_seed1.onnx'),
      path.join(CONV_FIXTURES_DIR, 'cnn3x10_signed_maxpool_floor_seed4.onnx'),
      path.join(CONV_FIXTURES_DIR, 'cnn3x10_stride2_softmax_seed3.onnx'),
      path.join(RESIDUAL_FIXTURES_DIR, 'res_basic_seed20.onnx'),
      path.join(RESIDUAL_FIXTURES_DIR, 'res_bottleneck_maxpool_seed21.onnx'),
    ];
    let onCone = 0;
    for (const f of files) {
      const network = loadModel(readFileSync(f), path.basename(f));
      onCone += compare(network, input(network.inputSize, 11), zplus(network), 3e7);
    }
    assert.ok(onCone > 0, 'some fixture layer uses the cone');
  });
});

describe('the root-check budget over the layers', () => {
  test('every layer whose single root fits gets at least one, the lowest included; below that sum the lowest layers are skipped and said', () => {
    const network = vggLike(false);
    const rules = zplus(network);
    const ops = new TypedOps('float64');
    const mats = new NetMats(ops, network);
    const x = input(network.inputSize, 12);
    const row = bestRow(network, x, rules);
    const rel = explainBatch(mats, ops.matrix(1, x.length, x), row, rules).relevance.map((m) => ops.read(m));
    const L = network.layers.length;
    const units = network.layers.map((q, i) => (i === L - 1 ? 1 : q.outFeatures));
    const costs = rootCheckCosts(network, units, rules);
    const oneRoot = costs.map((c, i) => c / units[i]);
    const singles = oneRoot.reduce((a, b) => a + b, 0);
    const weighted = network.layers.map((q, i) => (isWeighted(q) ? i : -1)).filter((i) => i >= 0);
    // Room for the single roots and a little more: every weighted layer is checked, the big ones on a sample.
    const warnings: string[] = [];
    const roots = trainFreeRoots(mats, [x], [rel], row, rules, { inputNonNegative: [true], maxWorkPerInput: 1.5 * singles, keepRoots: false, warnings })[0];
    for (const i of weighted) assert.ok(roots[i].length >= 1, `layer ${i + 1} has ${roots[i].length} roots checked`);
    assert.ok(weighted.some((i) => roots[i].length < units[i]), 'some layer is sampled');
    assert.ok(warnings.some((w) => w.startsWith('Root checks sampled')), warnings.join('\n'));
    assert.ok(!warnings.some((w) => w.startsWith('Root diagnostics skipped')), warnings.join('\n'));
    // Less than the single roots of all layers: the lowest layer is skipped (with a warning), the top ones still checked.
    const tight: string[] = [];
    const fewer = trainFreeRoots(mats, [x], [rel], row, rules, { inputNonNegative: [true], maxWorkPerInput: singles - oneRoot[0] / 2, keepRoots: false, warnings: tight })[0];
    assert.equal(fewer[0].length, 0, 'the lowest layer is skipped');
    assert.ok(fewer[L - 1].length === 1 && fewer[L - 2].length >= 1, 'the top layers are checked');
    assert.ok(tight.some((w) => w.startsWith('Root diagnostics skipped for the 1 lowest layer (c1)')), tight.join('\n'));
  });
});

describe('cone geometry', () => {
  test('the windows hold every unit whose taps reach the position, and cropRows cuts rows to a window', () => {
    const network = vggLike(false);
    const rules = zplus(network);
    const K = coneTop(network, rules, 1);
    const [, H, W] = (network.layers[0] as Conv2dLayer).outShape;
    for (const [y, x] of [[0, 0], [H - 1, W - 1], [7, 3]]) {
      const wins = coneWindows(network, 1, K, y, x);
      // Brute force: unit (i, j) of layer k is in the cone iff one of its taps lands in the window below.
      for (let k = 2; k <= K; k++) {
        const layer = network.layers[k - 1] as Conv2dLayer | Pool2dLayer;
        const below = wins[k - 2];
        const d = layer.kind === 'conv2d' ? layer.dilation : [1, 1];
        for (let i = 0; i < layer.outShape[1]; i++) {
          for (let j = 0; j < layer.outShape[2]; j++) {
            let reads = false;
            for (let u = 0; u < layer.kernel[0]; u++)
              for (let v = 0; v < layer.kernel[1]; v++) {
                const r = i * layer.stride[0] - layer.padding[0] + u * d[0], q = j * layer.stride[1] - layer.padding[1] + v * d[1];
                if (r >= below.y0 && r < below.y1 && q >= below.x0 && q < below.x1) reads = true;
              }
            const inside = i >= wins[k - 1].y0 && i < wins[k - 1].y1 && j >= wins[k - 1].x0 && j < wins[k - 1].x1;
            if (reads) assert.ok(inside, `layer ${k} unit (${i}, ${j}) reads the cone below but is outside its window`);
          }
        }
      }
    }
    const data = Float64Array.from({ length: 2 * 2 * 3 * 4 }, (_, i) => i);
    assert.deepEqual(Array.from(cropRows(data, [2, 3, 4], [1], { y0: 1, y1: 3, x0: 2, x1: 5 })), [30, 31, 0, 34, 35, 0, 42, 43, 0, 46, 47, 0]);
  });
});
