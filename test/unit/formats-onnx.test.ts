// ONNX conv models: the fixtures' .onnx files (torch.onnx.export, opset 13; one
// keeps BatchNormalization, one has it fused by the exporter, one ends in
// Softmax and several carry torch's all-zero Pad before AveragePool) load into
// the same IR as the fixture JSON and reproduce forward.logits; conv-specific
// refusals name what is missing.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { onnx } from 'onnx-proto';
import { CONV_FIXTURES_DIR } from '../helpers/fixtures';
import { loadModel } from '../../extension/engine/loaders/index';
import { isDtdError } from '../../extension/engine/errors';
import type { Network } from '../../extension/engine/network';
import { assertClose, flat, referenceForward, referenceOutput } from './formats-helpers';

const CASES = fs.readdirSync(CONV_FIXTURES_DIR).filter((f) => f.endsWith('.onnx')).map((f) => f.slice(0, -5)).sort();

function shapesOf(net: Network): string[] {
  return net.layers.map((l) => (l.kind === 'dense' ? `dense ${l.inFeatures}→${l.outFeatures} ${l.activation}` : !('kernel' in l) ? `${l.kind} ${l.activation}` : `${l.kind} [${l.inShape}]→[${l.outShape}] k${l.kernel} s${l.stride} p${l.padding} ${l.activation}`));
}

for (const name of CASES) {
  test(`ONNX conv fixture ${name}: same IR as the JSON and forward.logits`, () => {
    const fx = JSON.parse(fs.readFileSync(path.join(CONV_FIXTURES_DIR, `${name}.json`), 'utf8'));
    const fromJson = loadModel(new Uint8Array(fs.readFileSync(path.join(CONV_FIXTURES_DIR, `${name}.json`))), `${name}.json`);
    const file = path.join(CONV_FIXTURES_DIR, `${name}.onnx`);
    const net = loadModel(new Uint8Array(fs.readFileSync(file)), file);
    assert.equal(net.source.format, 'onnx');
    assert.deepEqual(net.inputShape, fx.input.shape.slice(1));
    assert.deepEqual(shapesOf(net), shapesOf(fromJson));
    const x = flat(fx.input.x);
    const fused = fx.model_files.onnx.batchnorm_fused_into_conv_by_exporter;
    // float32 weights read exactly; the exporter's BN fusion is float32 arithmetic (CONV.md §9: abs 1e-6).
    assertClose(referenceOutput(net, x), fx.forward.logits, fused ? 0 : 1e-9, `${name} logits`, fused ? 1e-6 : 0);
    if (!fused) {
      net.layers.forEach((l, i) => {
        const j = fromJson.layers[i];
        if ('weight' in l && 'weight' in j) {
          assertClose(l.weight, j.weight, 1e-15, `${name} layer ${i} weight`);
          assertClose(l.bias, j.bias, 1e-15, `${name} layer ${i} bias`);
        }
      });
    }
    const hasSoftmax = fx.model_files.onnx.ops.includes('Softmax');
    assert.equal(net.notes.some((n) => /Softmax .* at the output removed: DTD Lens explains the logit before it/.test(n)), hasSoftmax, net.notes.join('\n'));
    assert.equal(net.notes.some((n) => n.startsWith('BatchNormalization')), fx.model_files.onnx.ops.includes('BatchNormalization'));
    // Every intermediate layer too, against the JSON network (same weights up to BN fusion rounding).
    const a = referenceForward(net, x);
    const b = referenceForward(fromJson, x);
    a.forEach((v, i) => assertClose(v, b[i], fused ? 0 : 1e-12, `${name} layer ${i}`, fused ? 1e-6 : 0));
  });
}

// ---------- hand-built graphs ----------

const DT = onnx.TensorProto.DataType;
const AT = onnx.AttributeProto.AttributeType;
const ints = (name: string, v: number[]): onnx.IAttributeProto => ({ name, type: AT.INTS, ints: v });
const int = (name: string, v: number): onnx.IAttributeProto => ({ name, type: AT.INT, i: v });
const tensor = (name: string, dims: number[], values: number[]): onnx.ITensorProto => ({ name, dims, dataType: DT.FLOAT, floatData: values });
const node = (name: string, opType: string, input: string[], output: string[], attribute: onnx.IAttributeProto[] = []): onnx.INodeProto => ({ name, opType, input, output, attribute });

function model(nodes: onnx.INodeProto[], inits: onnx.ITensorProto[], inDims: (number | string)[], output = 'y'): Uint8Array {
  const dim = inDims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d }));
  return onnx.ModelProto.encode({
    irVersion: 8, opsetImport: [{ domain: '', version: 13 }],
    graph: {
      name: 'g', node: nodes, initializer: inits,
      input: [{ name: 'x', type: { tensorType: { elemType: DT.FLOAT, shape: { dim } } } }],
      output: [{ name: output, type: { tensorType: { elemType: DT.FLOAT } } }],
    },
  }).finish();
}

function seq(n: number, scale = 0.1, offset = 0): number[] {
  return Array.from({ length: n }, (_, i) => Math.round(((((i * 7919 + 13) % 23) - 11) * scale + offset) * 1e6) / 1e6);
}

test('ONNX: Conv with auto_pad SAME_UPPER, stride 2, dilation and a Pad merged into the next Conv', () => {
  const bytes = model(
    [
      node('c1', 'Conv', ['x', 'K1', 'b1'], ['c1o'], [ints('strides', [2, 2]), { name: 'auto_pad', type: AT.STRING, s: new TextEncoder().encode('SAME_UPPER') }]),
      node('r1', 'Relu', ['c1o'], ['r1o']),
      node('pad', 'Pad', ['r1o', 'pads'], ['po']),
      node('c2', 'Conv', ['po', 'K2'], ['c2o'], [ints('dilations', [2, 2])]),
      node('mp', 'MaxPool', ['c2o'], ['mpo'], [ints('kernel_shape', [2, 2]), ints('strides', [1, 1]), ints('pads', [1, 0, 0, 1])]),
      node('fl', 'Reshape', ['mpo', 'shape'], ['flo']),
      node('g', 'Gemm', ['flo', 'W', 'B'], ['y'], [int('transB', 1)]),
    ],
    [
      tensor('K1', [3, 2, 3, 3], seq(54)), tensor('b1', [3], [0.1, -0.2, 0.3]),
      { name: 'pads', dims: [8], dataType: DT.INT64, int64Data: [0, 0, 1, 2, 0, 0, 1, 0] },
      tensor('K2', [2, 3, 2, 2], seq(24, 0.2)),
      { name: 'shape', dims: [2], dataType: DT.INT64, int64Data: [0, -1] },
      tensor('W', [2, 32], seq(64, 0.05)), tensor('B', [2], [0.5, -0.5]),
    ],
    [1, 2, 7, 7],
  );
  const net = loadModel(bytes, 'hand.onnx');
  assert.deepEqual(net.inputShape, [2, 7, 7]);
  const [c1, c2, mp, g] = net.layers;
  assert.ok(c1.kind === 'conv2d' && c2.kind === 'conv2d' && mp.kind === 'maxpool2d' && g.kind === 'dense');
  // SAME_UPPER, 7 → ceil(7/2) = 4: total pad (4−1)·2 + 3 − 7 = 2, split 1/1.
  assert.deepEqual(c1.outShape, [3, 4, 4]);
  assert.deepEqual(c1.padding, [1, 1, 1, 1]);
  assert.equal(c1.activation, 'relu');
  // Pad [top 1, left 2, bottom 1, right 0] merged; dilation 2: (4 + 2 − 3) + 1 = 4 rows, (4 + 2 − 3) + 1 = 4 cols.
  assert.deepEqual(c2.padding, [1, 2, 1, 0]);
  assert.deepEqual(c2.dilation, [2, 2]);
  assert.deepEqual(c2.outShape, [2, 4, 4]);
  assert.deepEqual(mp.outShape, [2, 4, 4]);
  assert.equal(g.inFeatures, 32);
  // The reference forward of a padded/dilated conv, checked by hand at one output.
  const x = seq(98, 0.3, 0.2);
  const out = referenceForward(net, x)[0];
  assert.equal(c1.bias[0], Math.fround(0.1));
  let v = c1.bias[0]; // c1 output (o=0, i=0, j=0): rows −1..1, cols −1..1 → only 0..1 inside
  for (let c = 0; c < 2; c++) for (let u = 0; u < 3; u++) for (let w = 0; w < 3; w++) {
    const y = u - 1;
    const xx = w - 1;
    if (y >= 0 && xx >= 0) v += c1.weight[((0 * 2 + c) * 3 + u) * 3 + w] * x[c * 49 + y * 7 + xx];
  }
  assert.ok(v > 0.05, `the checked unit should be active (${v})`);
  assert.ok(Math.abs(out[0] - v) < 1e-15, `${out[0]} vs ${v}`);
});

test('ONNX: AveragePool with ceil_mode that changes the output and Softmax not last are refused; a padded AveragePool keeps count_include_pad; a BatchNormalization after a ReLU is kept as an affine layer', () => {
  const pooled = (attrs: onnx.IAttributeProto[]) => model(
    [
      node('c1', 'Conv', ['x', 'K1'], ['c1o']),
      node('ap', 'AveragePool', ['c1o'], ['apo'], [ints('kernel_shape', [2, 2]), ints('strides', [2, 2]), ...attrs]),
      node('fl', 'Flatten', ['apo'], ['y']),
    ],
    [tensor('K1', [1, 1, 1, 1], [1])],
    [1, 1, 5, 5],
  );
  assert.throws(() => loadModel(pooled([int('ceil_mode', 1)]), 'bad.onnx'), (e: unknown) => isDtdError(e) && e.code === 'unsupported' &&
    e.message === "bad.onnx: node 'ap' (AveragePool) uses ceil_mode where it changes the output size (frameworks disagree on the divisor of the partial windows; only floor mode is supported).");
  for (const include of [0, 1]) {
    const net = loadModel(pooled([ints('pads', [1, 1, 1, 1]), int('count_include_pad', include)]), 'pad.onnx');
    const ap = net.layers[1];
    assert.ok(ap.kind === 'avgpool2d');
    assert.deepEqual([ap.outShape, ap.padding, ap.countIncludePad], [[1, 3, 3], [1, 1, 1, 1], include === 1]);
  }
  const bnAfterRelu = model(
    [
      node('c1', 'Conv', ['x', 'K1'], ['c1o']),
      node('r1', 'Relu', ['c1o'], ['r1o']),
      node('bn', 'BatchNormalization', ['r1o', 'g', 'b', 'm', 'v'], ['bno']),
      node('fl', 'Flatten', ['bno'], ['y']),
    ],
    [tensor('K1', [1, 1, 1, 1], [1]), tensor('g', [1], [1]), tensor('b', [1], [0]), tensor('m', [1], [0]), tensor('v', [1], [1])],
    [1, 1, 4, 4],
  );
  const bnNet = loadModel(bnAfterRelu, 'bn.onnx');
  assert.deepEqual(bnNet.layers.map((l) => `${l.kind}:${l.activation}`), ['conv2d:relu', 'affine:linear']);
  assert.ok(bnNet.notes.some((n) => n.includes("BatchNormalization 'bn' follows no convolution or dense layer it could fold into: kept as a per-channel affine layer")), bnNet.notes.join('\n'));
  const softmaxMid = model(
    [node('fl', 'Flatten', ['x'], ['f']), node('g', 'Gemm', ['f', 'W'], ['l'], [int('transB', 1)]), node('sm', 'Softmax', ['l'], ['s']), node('g2', 'Gemm', ['s', 'W2'], ['y'], [int('transB', 1)])],
    [tensor('W', [2, 4], seq(8)), tensor('W2', [1, 2], [1, 1])],
    [1, 1, 2, 2],
  );
  assert.throws(() => loadModel(softmaxMid, 'sm.onnx'), (e: unknown) => isDtdError(e) && e.code === 'unsupported' && /sm\.onnx: node 'sm' \(Softmax\) is not the last node/.test(e.message));
});

test('ONNX: a Conv on an input of unknown image size is refused with the declared shape', () => {
  const bytes = model([node('c1', 'Conv', ['x', 'K1'], ['y'])], [tensor('K1', [1, 1, 1, 1], [1])], ['N', 1, 'H', 'W']);
  assert.throws(() => loadModel(bytes, 'dyn.onnx'), (e: unknown) => isDtdError(e) && e.code === 'unsupported' && e.message.includes("declares it as [N, 1, H, W]; DTD Lens needs a known [batch, C, H, W] or [batch, features] input"));
});

test('ONNX: LogSoftmax at the end is dropped with a note; a dense net on a 4-D input gets an inputShape', () => {
  const bytes = model(
    [node('fl', 'Flatten', ['x'], ['f']), node('g', 'Gemm', ['f', 'W', 'B'], ['l'], [int('transB', 1)]), node('ls', 'LogSoftmax', ['l'], ['y'], [int('axis', 1)])],
    [tensor('W', [3, 4], seq(12)), tensor('B', [3], [0, 1, 2])],
    [1, 1, 2, 2],
  );
  const net = loadModel(bytes, 'ls.onnx');
  assert.deepEqual(net.inputShape, [1, 2, 2]);
  assert.equal(net.layers.length, 1);
  assert.deepEqual(net.notes, ["LogSoftmax 'ls' at the output removed: DTD Lens explains the logit before it, not the log-probability."]);
});
