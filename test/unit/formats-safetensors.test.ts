// safetensors conv state dicts + sidecar (test/models/conv/*.dtd.json, made by
// test/models/make-conv-sidecars.ts from the fixture JSON): the same IR and
// forward pass as the fixture's .onnx and .json; sidecar mistakes are named.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { CONV_FIXTURES_DIR } from '../helpers/fixtures';
import { loadModel } from '../../extension/engine/loaders/index';
import { isDtdError } from '../../extension/engine/errors';
import { assertClose, flat, referenceForward, referenceOutput } from './formats-helpers';
import { sidecarFromFixture } from '../models/make-conv-sidecars';

const SIDECARS = path.resolve(__dirname, '..', 'models', 'conv');
const CASES = fs.readdirSync(CONV_FIXTURES_DIR).filter((f) => f.endsWith('.safetensors')).map((f) => f.slice(0, -12)).sort();
const read = (f: string) => new Uint8Array(fs.readFileSync(f));

for (const name of CASES) {
  test(`safetensors + sidecar ${name}: same IR as .json, same forward as .onnx and forward.logits`, () => {
    const fx = JSON.parse(fs.readFileSync(path.join(CONV_FIXTURES_DIR, `${name}.json`), 'utf8'));
    const sidecar = JSON.parse(fs.readFileSync(path.join(SIDECARS, `${name}.dtd.json`), 'utf8'));
    // The committed sidecar is what the generator makes now.
    assert.deepEqual(sidecar, JSON.parse(JSON.stringify(sidecarFromFixture(fx))));
    const file = path.join(CONV_FIXTURES_DIR, `${name}.safetensors`);
    const net = loadModel(read(file), file, { sidecar });
    const fromJson = loadModel(read(path.join(CONV_FIXTURES_DIR, `${name}.json`)), `${name}.json`);
    const fromOnnx = loadModel(read(path.join(CONV_FIXTURES_DIR, `${name}.onnx`)), `${name}.onnx`);
    assert.equal(net.source.format, 'safetensors');
    assert.deepEqual(net.inputShape, fx.input.shape.slice(1));
    assert.equal(net.layers.length, fromJson.layers.length);
    net.layers.forEach((l, i) => {
      const j = fromJson.layers[i];
      const { weight: _w, bias: _b, name: _n, ...shape } = l as unknown as Record<string, unknown>;
      const { weight: _w2, bias: _b2, name: _n2, ...shapeJ } = j as unknown as Record<string, unknown>;
      assert.deepEqual(shape, shapeJ, `${name} layer ${i}`);
      // Same float32 values, same float64 BN folding: identical.
      if ('weight' in l && 'weight' in j) {
        assert.deepEqual(l.weight, j.weight);
        assert.deepEqual(l.bias, j.bias);
      }
    });
    const x = flat(fx.input.x);
    assertClose(referenceOutput(net, x), fx.forward.logits, 1e-9, `${name} logits`);
    const fused = fx.model_files.onnx.batchnorm_fused_into_conv_by_exporter;
    const a = referenceForward(net, x);
    const b = referenceForward(fromOnnx, x);
    a.forEach((v, i) => assertClose(v, b[i], fused ? 0 : 1e-12, `${name} layer ${i} vs onnx`, fused ? 1e-6 : 0));
    if (fx.network.layers.some((l: { type: string }) => l.type === 'Softmax')) assert.ok(net.notes.some((n) => n.includes('Softmax')));
  });
}

const base = CASES.find((c) => c.includes('bn_stride2'))!;
const stBytes = () => read(path.join(CONV_FIXTURES_DIR, `${base}.safetensors`));
const sidecarOf = () => JSON.parse(fs.readFileSync(path.join(SIDECARS, `${base}.dtd.json`), 'utf8'));

test('safetensors conv without a sidecar: unsupported, listing the conv/BN keys and pointing to the sidecar', () => {
  assert.throws(() => loadModel(stBytes(), `/m/${base}.safetensors`), (e: unknown) => isDtdError(e) && e.code === 'unsupported' &&
    e.message.includes("'0.weight' (F32 [6, 1, 3, 3], looks like a convolution)") && e.message.includes("'1.running_mean'") &&
    e.message.includes(`describe the layers in a sidecar ${base}.dtd.json ("inputShape" and "layers"; see docs/formats.md)`));
});

test('sidecar mistakes: unknown layer types all listed; missing tensor; conv without inputShape; a BN after ReLU becomes an affine layer', () => {
  const s1 = sidecarOf();
  s1.layers[2].type = 'gelu';
  s1.layers[8].type = 'lstm';
  assert.throws(() => loadModel(stBytes(), 'm.safetensors', { sidecar: s1 }), (e: unknown) => isDtdError(e) && e.code === 'unsupported' &&
    e.message.startsWith('m.safetensors: sidecar layer 2 has type "gelu" and sidecar layer 8 has type "lstm", which DTD Lens does not support yet (supported: conv2d, batchnorm, relu, leakyrelu, prelu, relu6, hardtanh, sigmoid, tanh, elu, maxpool2d, avgpool2d, globalavgpool2d, flatten, linear'));
  const s2 = sidecarOf();
  s2.layers[0].module = 'features.0';
  assert.throws(() => loadModel(stBytes(), 'm.safetensors', { sidecar: s2 }), (e: unknown) => isDtdError(e) && e.code === 'bad-model' &&
    e.message === "m.safetensors: sidecar layer 0 ('features.0', conv2d): the tensor 'features.0.weight' is not in the weights file.");
  const s3 = sidecarOf();
  delete s3.inputShape;
  assert.throws(() => loadModel(stBytes(), 'm.safetensors', { sidecar: s3 }), (e: unknown) => isDtdError(e) && e.code === 'bad-model' && e.message.includes('give "inputShape": [C, H, W]'));
  const s4 = sidecarOf();
  [s4.layers[1], s4.layers[2]] = [s4.layers[2], s4.layers[1]]; // conv, relu, bn
  const bnAfterRelu = loadModel(stBytes(), 'm.safetensors', { sidecar: s4 });
  assert.equal(bnAfterRelu.layers[1].kind, 'affine', 'a BatchNorm after a ReLU is kept as an affine layer');
  assert.ok(bnAfterRelu.notes.some((n) => n.startsWith("BatchNormalization '1' follows no convolution or dense layer it could fold into")), bnAfterRelu.notes.join('\n'));
  const s5 = sidecarOf();
  s5.inputShape = [1, 8];
  assert.throws(() => loadModel(stBytes(), 'm.safetensors', { sidecar: s5 }), (e: unknown) => isDtdError(e) && e.code === 'bad-model' && e.message.includes('"inputShape" must be [C, H, W]'));
  const s6 = sidecarOf();
  s6.inputShape = [2, 8, 8];
  assert.throws(() => loadModel(stBytes(), 'm.safetensors', { sidecar: s6 }), (e: unknown) => isDtdError(e) && e.code === 'bad-model' && e.message.includes('does the input have 2 channels?'));
});

test('sidecar: unused tensors are noted', () => {
  const s = sidecarOf();
  s.layers = s.layers.slice(0, 3); // conv, bn, relu only
  const net = loadModel(stBytes(), 'm.safetensors', { sidecar: s });
  assert.equal(net.layers.length, 1);
  assert.ok(net.notes.includes("tensors not used by the sidecar layers: '3.bias', '3.weight', '7.bias', '7.weight', '9.bias', '9.weight'."), net.notes.join('\n'));
});
