// The conv fixture JSON (CONV.md §2) loads through loadModel(bytes, 'x.json'):
// shapes per layer as the fixture records them, BatchNorm folded exactly as
// CONV.md §3 (compared with the fixture's float64 `bn_folding`), the final
// Softmax dropped with a note, and the IR's forward pass reproduces
// `forward.logits` and every module's activation (rel 1e-12).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { CONV_FIXTURES_DIR } from '../helpers/fixtures';
import { loadModel } from '../../extension/engine/loaders/index';
import { isDtdError } from '../../extension/engine/errors';
import { outShapeOf } from '../../extension/engine/network';
import { assertClose, flat, referenceForward } from './formats-helpers';

const CASES = fs.readdirSync(CONV_FIXTURES_DIR).filter((f) => f.endsWith('.json')).map((f) => f.slice(0, -5)).sort();

test('there are six conv fixture cases', () => {
  assert.equal(CASES.length, 6);
});

for (const name of CASES) {
  const file = path.join(CONV_FIXTURES_DIR, `${name}.json`);
  const fx = JSON.parse(fs.readFileSync(file, 'utf8'));
  test(`conv fixture JSON ${name}: IR shapes, BN folding and forward pass`, () => {
    const net = loadModel(new Uint8Array(fs.readFileSync(file)), file);
    const [, C, H, W] = fx.input.shape;
    assert.deepEqual(net.inputShape, [C, H, W]);
    assert.equal(net.inputSize, C * H * W);
    assert.equal(net.source.format, 'json');
    // One IR layer per Conv2d/Linear/pooling module, with the fixture's output shapes.
    const weighted = fx.network.layers.filter((l: { type: string }) => /^(Conv2d|Linear|MaxPool2d|AvgPool2d|AdaptiveAvgPool2d)$/.test(l.type));
    assert.equal(net.layers.length, weighted.length);
    weighted.forEach((l: { type: string; output_shape: number[] }, i: number) => {
      const layer = net.layers[i];
      if (layer.kind === 'dense') assert.equal(layer.outFeatures, l.output_shape[1]);
      else assert.deepEqual(outShapeOf(layer), l.output_shape.slice(1), `layer ${i} (${l.type}) output shape`);
    });
    // BN folded exactly as the fixture's float64 bn_folding.
    for (const fold of fx.network.bn_folding ?? []) {
      const idx = weighted.findIndex((l: { name: string }) => l.name === fold.linear_module);
      const layer = net.layers[idx];
      assert.ok(layer.kind === 'conv2d');
      assertClose(layer.weight, flat(fold.folded_weight), 1e-15, `${name} folded weight`);
      assertClose(layer.bias, flat(fold.folded_bias), 1e-15, `${name} folded bias`);
      assert.ok(net.notes.some((n) => n.includes(`BatchNormalization '${fold.batch_norm_module}' folded into '${fold.linear_module}'`)), net.notes.join('\n'));
    }
    // Forward: logits and every conv/linear/pool module output.
    const x = flat(fx.input.x);
    const acts = referenceForward(net, x);
    assertClose(acts[acts.length - 1], fx.forward.logits, 1e-12, `${name} logits`);
    const byModule = new Map<number, number[]>(fx.forward.activations.map((a: { module_index: number; values: unknown }) => [a.module_index, flat(a.values)]));
    weighted.forEach((l: { index: number }, i: number) => {
      // The IR layer includes the ReLU that follows; compare with that module's output when there is one.
      const next = fx.network.layers[l.index + 1];
      const bnThenRelu = next?.type === 'BatchNorm2d' ? fx.network.layers[l.index + 2] : undefined;
      const moduleIdx = next?.type === 'ReLU' ? l.index + 1 : bnThenRelu?.type === 'ReLU' ? l.index + 2 : l.index;
      assertClose(acts[i], byModule.get(moduleIdx)!, 1e-12, `${name} activation after module ${moduleIdx}`);
    });
    if (fx.network.layers.some((l: { type: string }) => l.type === 'Softmax')) {
      assert.ok(net.notes.some((n) => /Softmax '9' at the output removed: DTD Lens explains the logit/.test(n)), net.notes.join('\n'));
    }
  });
}

test('conv fixture JSON: an unknown module type is refused, naming every one and the supported list', () => {
  const file = path.join(CONV_FIXTURES_DIR, `${CASES[0]}.json`);
  const fx = JSON.parse(fs.readFileSync(file, 'utf8'));
  fx.network.layers[1].type = 'GELU';
  fx.network.layers[8].type = 'LSTM';
  let err: unknown;
  try {
    loadModel(new TextEncoder().encode(JSON.stringify(fx)), 'broken.json');
  } catch (e) {
    err = e;
  }
  assert.ok(isDtdError(err));
  assert.equal(err.code, 'unsupported');
  assert.match(err.message, /^broken\.json: network\.layers layer 1 has type "GELU" and network\.layers layer 8 has type "LSTM", which DTD Lens does not support yet \(supported: conv2d, batchnorm, relu/);
});

test('conv fixture JSON: a missing parameter is a bad-model error naming the key', () => {
  const file = path.join(CONV_FIXTURES_DIR, `${CASES[0]}.json`);
  const fx = JSON.parse(fs.readFileSync(file, 'utf8'));
  delete fx.network.parameters['3.weight'];
  assert.throws(() => loadModel(new TextEncoder().encode(JSON.stringify(fx)), 'm.json'), (e: unknown) => isDtdError(e) && e.code === 'bad-model' && /m\.json: network\.layers layer 3 \('3', conv2d\): the tensor '3\.weight' is not in the weights file/.test(e.message));
});
