// Refusal messages stay short: groupProblems (loaders/builder.ts) groups offenders that
// differ only in their name, and unsupportedList and NetworkBuilder.build() use it, so a
// model with 30 Tanh nodes and a few other offenders is refused in at most REFUSAL_CHARS
// characters that still name every distinct kind.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { REPO } from '../helpers/fixtures';
import { REFUSAL_CHARS, groupProblems, supportedText, unsupportedList } from '../../extension/engine/loaders/builder';
import { SUPPORTED_ONNX_OPS } from '../../extension/engine/loaders/onnx';
import { loadModel } from '../../extension/engine/loaders/index';
import { expectDtdError } from '../helpers/errors';

const OTHERS = ["node 'lstm_1' uses operator LSTM", 'node #41 (unnamed) uses operator Erf', "node 'bn' (BatchNormalization) runs in training mode", "node 'up' uses operator Resize"];
const TANH = Array.from({ length: 30 }, (_, i) => `node 'block${i}/act' uses operator Tanh`);

test('unsupportedList: 30 repeated offenders and 4 different ones in at most 400 characters, every kind named', () => {
  assert.equal(REFUSAL_CHARS, 400);
  for (const order of [[...TANH, ...OTHERS], [...OTHERS, ...TANH], [...TANH.slice(0, 15), ...OTHERS, ...TANH.slice(15)]]) {
    const m = unsupportedList('model.onnx', order, SUPPORTED_ONNX_OPS).message;
    assert.ok(m.length <= 400, `${m.length} characters: ${m}`);
    for (const kind of ['Tanh', 'LSTM', 'Erf', 'BatchNormalization', 'Resize']) assert.ok(m.includes(kind), `${kind} named: ${m}`);
    assert.match(m, /and 29 more Tanh|Tanh ×30/, m);
    assert.ok(m.endsWith(`(supported: ${supportedText(SUPPORTED_ONNX_OPS)}).`), m);
  }
  // Few offenders: nothing is grouped or shortened.
  assert.equal(unsupportedList('m.onnx', OTHERS.slice(0, 2), ['Relu']).message, "m.onnx: node 'lstm_1' uses operator LSTM and node #41 (unnamed) uses operator Erf, which DTD Lens does not support yet (supported: Relu).");
});

test('groupProblems: groups by everything but the name, shrinks later groups to "Kind ×N", counts what does not fit', () => {
  assert.equal(groupProblems(TANH, 400), "node 'block0/act' uses operator Tanh and 29 more Tanh");
  const keras = [...Array.from({ length: 12 }, (_, i) => `layer 'd${i}' (Dense) with activation 'tanh'`), "layer 'r' (LSTM)"];
  assert.equal(groupProblems(keras, 400), "layer 'd0' (Dense) with activation 'tanh' and 11 more Dense with activation 'tanh' and layer 'r' (LSTM)");
  assert.equal(groupProblems([...TANH, ...OTHERS], 120), "node 'block0/act' uses operator Tanh and 29 more Tanh, LSTM, Erf, BatchNormalization runs in training mode and Resize");
  // 40 distinct kinds in a small budget: as many as fit, then how many more.
  const many = groupProblems(Array.from({ length: 40 }, (_, i) => `node 'n${i}' uses operator Op${i}`), 100);
  assert.ok(many.length <= 100, many);
  assert.match(many, /^node 'n0' uses operator Op0, Op1, .* and \d+ more$/);
  const counted = groupProblems([...TANH, ...Array.from({ length: 40 }, (_, i) => `node 'n${i}' uses operator Op${i}`), ...TANH], 100);
  assert.match(counted, /^node 'block0\/act' uses operator Tanh and 59 more Tanh, Op0, .* and \d+ more$/, counted);
});

test('loaders: a sidecar with 30 unknown layers and build()\'s 30 layers after a softmax are refused in at most 400 characters', () => {
  const pt = new Uint8Array(fs.readFileSync(path.join(REPO, 'test', 'fixtures', 'real', 'torch', 'mlp_zip.pt')));
  const layers = [{ type: 'linear', module: '0' }, ...Array.from({ length: 30 }, () => ({ type: 'gelu' })), { type: 'lstm' }, { type: 'add' }, { type: 'conv3d' }];
  const m1 = expectDtdError(() => loadModel(pt, 'mlp.pt', { sidecar: { layers } }), 'unsupported', 'sidecar layer 1 has type "gelu" and 29 more "gelu"');
  assert.ok(m1.length <= 400, `${m1.length}: ${m1}`);
  for (const kind of ['"lstm"', '"add"', '"conv3d"']) assert.ok(m1.includes(kind), `${kind} named: ${m1}`);
  const afterSoftmax = [{ type: 'linear', module: '0' }, { type: 'softmax' }, ...Array.from({ length: 30 }, (_, i) => ({ type: 'relu', name: `act${i}` })), { type: 'linear', module: '2', name: 'fc2' }];
  const m2 = expectDtdError(() => loadModel(pt, 'mlp.pt', { sidecar: { layers: afterSoftmax } }), 'unsupported', "'act0' follows the Softmax 'layer1', which is supported only as the very last layer and 30 more like it");
  assert.ok(m2.length <= 400, `${m2.length}: ${m2}`);
});
