// The channel flows' fast paths (crp.ts computeChannelFlows: dense and conv
// layers contracted from their rule's terms, channel-wise layers from one
// step) equal the definition, computed here one output channel at a time:
// flow_l(c → d) = Σ over input channel c's positions of what layer l's own
// step (lrpLayerStep / trainFreeLayerStep, one input row) sends down when
// handed only output channel d's relevance. 1e-9 relative to the largest entry
// of the layer's matrix, on a conv net with max and average pooling, the graph
// fixtures (residual adds, a bottleneck with max pooling, depthwise/grouped
// convs, concat), and real ONNX files with a transposed convolution and with
// affine layers; for every LRP and train-free rule with a closed form (each
// term shape: one term, two, four with signs and coefficients, bounds, no
// input factor) and for pinv, which takes the per-channel path.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import { lrpLayerStep, resolveLrpRules } from '../../extension/engine/baselines';
import { channelsOf, computeChannelFlows, fullWalk, type CrpRules } from '../../extension/engine/crp';
import { exactMats } from '../../extension/engine/forward';
import { loadModel } from '../../extension/engine/loaders';
import { explainedRow, layerInputs, layerShapes, type Network } from '../../extension/engine/network';
import { parseRuleMap } from '../../extension/engine/rules';
import { trainFreeLayerStep } from '../../extension/engine/trainFree';
import { TypedMat } from '../../extension/engine/ops/typed';
import { convNetFromFixture, flat, loadConvFixture } from '../helpers/conv';
import { REAL_MODELS_DIR } from '../helpers/fixtures';
import { loadResidualFixture, residualFixtureNames, residualNetFromFixture } from '../helpers/residual';

const specs = (net: Network): [string, CrpRules][] => [
  ['LRP epsilon', { method: 'lrp', rules: resolveLrpRules('epsilon=0.01', net, false) }],
  ['LRP gamma', { method: 'lrp', rules: resolveLrpRules('gamma=0.25', net, false) }],
  ['LRP alpha2beta1', { method: 'lrp', rules: resolveLrpRules('alpha2beta1', net, false) }],
  ['LRP zB on layer 1, z+ (zero bias) elsewhere', { method: 'lrp', rules: resolveLrpRules('layer1=zB=-1,1;*=z+', net, true) }],
  ['LRP w2 on layer 1, x elsewhere', { method: 'lrp', rules: resolveLrpRules('layer1=w2;*=x', net, false) }],
  ['train-free z+', { method: 'train-free', rules: parseRuleMap('z+', net.layers, 'train-free') }],
  ['train-free gamma', { method: 'train-free', rules: parseRuleMap('gamma=0.5', net.layers, 'train-free') }],
  ['train-free zB on layer 1, w2 on dense layers, x elsewhere', { method: 'train-free', rules: parseRuleMap('layer1=zB=-1,1;dense=w2;*=x', net.layers, 'train-free') }],
  ['train-free pinv on dense layers, z+ elsewhere', { method: 'train-free', rules: parseRuleMap('dense=pinv;*=z+', net.layers, 'train-free') }],
];

/** flow_l(c → d) by the definition: layer l's step on output channel d's relevance alone, one channel at a time. */
function referenceFlows(net: Network, x: number[], row: number, spec: CrpRules, l: number, relevance: Float64Array[], act: TypedMat[], pre: TypedMat[]): number[][][] {
  const mats = exactMats(net);
  const shapes = layerShapes(net);
  const layer = net.layers[l - 1];
  const out = channelsOf(shapes[l]);
  const tensors = layerInputs(net, l);
  const ins = tensors.map((t) => channelsOf(shapes[t]));
  const nL = net.layers[net.layers.length - 1].outFeatures;
  const participating = new TypedMat(1, nL, new Float64Array(nL));
  participating.data[row] = 1;
  const matrices = ins.map((c) => Array.from({ length: c.count }, () => new Array<number>(out.count).fill(0)));
  for (let d = 0; d < out.count; d++) {
    const R = new Float64Array(layer.outFeatures);
    for (let p = d * out.size; p < (d + 1) * out.size; p++) R[p] = relevance[l][p];
    const st = { l, R: new TypedMat(1, R.length, R), inputs: tensors.map((t) => act[t]), Z: pre[l - 1] };
    const sent = spec.method === 'lrp' ? lrpLayerStep(mats, spec.rules, st) : trainFreeLayerStep(mats, spec.rules, participating, st).out;
    sent.forEach((m, i) => {
      const { count, size } = ins[i];
      for (let c = 0; c < count; c++) {
        let s = 0;
        for (let p = c * size; p < (c + 1) * size; p++) s += m.data[p];
        matrices[i][c][d] = s;
      }
    });
  }
  return matrices;
}

function maxAbsMatrix(m: number[][]): number {
  let r = 0;
  for (const row of m) for (const v of row) r = Math.max(r, Math.abs(v));
  return r;
}

function checkNetwork(name: string, net: Network, x: number[], output: number, kindsExpected: string[]): void {
  const row = explainedRow(net, output);
  for (const [label, spec] of specs(net)) {
    test(`${name}, ${label}: every layer's flows equal the per-channel definition (1e-9)`, () => {
      const mats = exactMats(net);
      const full = fullWalk(mats, x, row, spec);
      const { flows, skipped } = computeChannelFlows(mats, x, row, spec, full);
      assert.deepEqual(skipped, [], 'no layer left out');
      const kinds = new Set<string>();
      const byLayer = new Map<number, typeof flows>();
      for (const f of flows) byLayer.set(f.layer, [...(byLayer.get(f.layer) ?? []), f]);
      let nonzero = 0;
      for (const [l, fs] of byLayer) {
        const want = referenceFlows(net, x, row, spec, l, full.relevance, full.fwd.act as TypedMat[], full.fwd.pre as TypedMat[]);
        assert.deepEqual(fs.map((f) => f.from), layerInputs(net, l), `layer ${l}: one matrix per input tensor, in order`);
        fs.forEach((f, i) => {
          const scale = Math.max(1e-300, maxAbsMatrix(want[i]));
          if (maxAbsMatrix(want[i]) > 0) nonzero++;
          assert.equal(f.matrix.length, want[i].length, `layer ${l}: input channels`);
          f.matrix.forEach((rowC, c) =>
            rowC.forEach((v, d) => assert.ok(Math.abs(v - want[i][c][d]) <= 1e-9 * scale, `layer ${l} (${net.layers[l - 1].kind}) input ${f.from} flow ${c} → ${d}: ${v} vs ${want[i][c][d]} (largest ${scale})`)),
          );
        });
        kinds.add(net.layers[l - 1].kind);
      }
      for (const k of kindsExpected) assert.ok(kinds.has(k), `a ${k} layer was checked (checked: ${[...kinds].join(', ')})`);
      assert.ok(nonzero >= 2, `${nonzero} nonzero flow matrices`);
    });
  }
}

describe('channel flows equal the per-channel definition: a conv net with max and average pooling', () => {
  const name = 'cnn1x8_maxpool_avgpool_seed0';
  const fx = loadConvFixture(name);
  const { net } = convNetFromFixture(fx, name);
  checkNetwork(name, net, flat(fx.input.x), fx.explanations[0].explained_output, ['conv2d', 'maxpool2d', 'avgpool2d']);
});

describe('channel flows equal the per-channel definition: the graph fixtures', () => {
  const expected: Record<string, string[]> = {
    res_basic_seed20: ['conv2d', 'add'],
    res_bottleneck_maxpool_seed21: ['conv2d', 'add', 'maxpool2d'],
    mobile_depthwise_seed22: ['conv2d'],
    dense_concat_seed23: ['concat'],
  };
  for (const name of residualFixtureNames()) {
    const fx = loadResidualFixture(name);
    const { net } = residualNetFromFixture(fx, name);
    checkNetwork(name, net, flat(fx.input.x), fx.explanations[0].explained_output, expected[name] ?? []);
  }
});

describe('channel flows equal the per-channel definition: real ONNX files (transposed convolution; affine layers and a join)', () => {
  for (const [file, kinds] of [
    ['conv_transpose', ['conv2d', 'convtranspose2d', 'dense']],
    ['input_normalize', ['affine', 'conv2d', 'add']],
  ] as const) {
    const p = path.join(REAL_MODELS_DIR, 'onnx', `${file}.onnx`);
    const net = loadModel(new Uint8Array(fs.readFileSync(p)), p);
    // A signed input, so a⁻ terms and the zB bounds take part.
    const x = Array.from({ length: net.inputSize }, (_, i) => Math.sin(1.7 * i + 0.3));
    checkNetwork(file, net, x, 0, [...kinds]);
  }
});

/** The VGG-style 3×32×32 network of the peer benchmark (conv-ReLU ×2, max pool; 32, 64, 128 channels; dense 2048-256-10), random weights. */
function vggShaped(): Network {
  let seed = 7;
  const rnd = () => ((seed = (seed * 16807) % 2147483647) / 2147483647 - 0.5) * 0.2;
  const layers: Network['layers'] = [];
  let shape: [number, number, number] = [3, 32, 32];
  const conv = (o: number) => {
    const [c, h, w] = shape;
    layers.push({ kind: 'conv2d', name: `conv${layers.length + 1}`, inShape: shape, outShape: [o, h, w], inFeatures: c * h * w, outFeatures: o * h * w, weight: Float64Array.from({ length: o * c * 9 }, rnd), bias: Float64Array.from({ length: o }, rnd), kernel: [3, 3], stride: [1, 1], padding: [1, 1, 1, 1], dilation: [1, 1], activation: 'relu' });
    shape = [o, h, w];
  };
  const pool = () => {
    const [c, h, w] = shape;
    layers.push({ kind: 'maxpool2d', name: `pool${layers.length + 1}`, inShape: shape, outShape: [c, h / 2, w / 2], inFeatures: c * h * w, outFeatures: (c * h * w) / 4, kernel: [2, 2], stride: [2, 2], padding: [0, 0, 0, 0], activation: 'linear' });
    shape = [c, h / 2, w / 2];
  };
  for (const o of [32, 64, 128]) conv(o), conv(o), pool();
  const dense = (n: number, m: number, activation: 'relu' | 'linear') => layers.push({ kind: 'dense', name: `fc${layers.length + 1}`, inFeatures: n, outFeatures: m, weight: Float64Array.from({ length: n * m }, rnd), bias: Float64Array.from({ length: m }, rnd), activation });
  dense(2048, 256, 'relu');
  dense(256, 10, 'linear');
  return { inputSize: 3 * 32 * 32, inputShape: [3, 32, 32], layers, outputSelection: null, source: { format: 'test', file: 'vgg-shaped' }, notes: [] };
}

test('the VGG-style 3×32×32 network gets the flows of all its layers within the work budget (LRP z+ and γ, train-free z+)', () => {
  const net = vggShaped();
  const x = Array.from({ length: net.inputSize }, (_, i) => (Math.sin(i) + 1) / 2);
  const rules: CrpRules[] = [
    { method: 'lrp', rules: resolveLrpRules('z+', net, false) },
    { method: 'lrp', rules: resolveLrpRules('gamma=0.25', net, false) },
    { method: 'train-free', rules: parseRuleMap('z+', net.layers, 'train-free') },
  ];
  for (const spec of rules) {
    const { flows, skipped } = computeChannelFlows(exactMats(net), x, 0, spec);
    assert.deepEqual(skipped, [], spec.method);
    assert.deepEqual(flows.map((f) => f.layer), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], `${spec.method}: every layer that reads or writes an image`);
  }
});
