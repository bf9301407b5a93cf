// An input's image shape [C, H, W] for networks that do not store one: the sidecar's
// "inputShape" on a stack of Linear layers (a real torch 1.13 state dict of an
// MNIST-sized MLP, tools/real-models/make_torch.py mlp784) reaches the result as
// shapes[0], so the visualizer draws the input as an image; the `dtdLens.inputShape`
// setting is read with the same check (protocol asInputShape) and declared in package.json
// (the VS Code suite checks that the host reads it and passes it to the webview).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { REPO } from '../helpers/fixtures';
import { expectDtdError } from '../helpers/errors';
import { loadModel } from '../../extension/engine/loaders/index';
import { outputs } from '../../extension/engine/forward';
import { explain } from '../../extension/engine/explain';
import { asInputShape } from '../../extension/protocol';

const DIR = path.join(REPO, 'test', 'fixtures', 'real', 'torch');
const read = (f: string) => new Uint8Array(fs.readFileSync(path.join(DIR, f)));
const json = (f: string) => JSON.parse(fs.readFileSync(path.join(DIR, f), 'utf8'));

for (const kind of ['zip', 'legacy']) {
  test(`torch mlp784 (${kind}) with sidecar inputShape [1, 28, 28]: the network and the result carry the image shape; forward matches torch`, async () => {
    const file = `mlp784_${kind}.pt`;
    const sidecar = json(`mlp784_${kind}.dtd.json`);
    assert.deepEqual(sidecar, { inputShape: [1, 28, 28] });
    const net = loadModel(read(file), file, { sidecar });
    assert.equal(net.inputSize, 784);
    assert.deepEqual(net.inputShape, [1, 28, 28]);
    const expected = json('mlp784.expected.json') as { input: number[]; output: number[] };
    const y = outputs(net, expected.input);
    const d = Math.max(...Array.from(y, (v, i) => Math.abs(v - expected.output[i])));
    assert.ok(d < 1e-5, `max |Δ| vs torch ${d}`);
    const r = await explain(net, expected.input, { rule: 'z+', method: 'train-free', explainedOutput: 0 });
    assert.deepEqual(r.shapes?.[0], [1, 28, 28]);
    assert.deepEqual(r.model.inputShape, [1, 28, 28]);
    assert.equal(r.relevance[0]?.length, 784);
  });
}

test('torch mlp784 without a sidecar: a vector input, no image shape in the result', async () => {
  const net = loadModel(read('mlp784_zip.pt'), 'mlp784_zip.pt', {});
  assert.equal(net.inputShape, undefined);
  const r = await explain(net, new Array(784).fill(0.5), { rule: 'z+', method: 'train-free', explainedOutput: 0 });
  assert.ok(!r.shapes || r.shapes[0].length === 1, `shapes[0] ${JSON.stringify(r.shapes?.[0])}`);
});

test('a sidecar inputShape that does not fit the first Linear layer, or is not [C, H, W], is refused naming the sidecar', () => {
  expectDtdError(() => loadModel(read('mlp784_zip.pt'), 'mlp784_zip.pt', { sidecar: { inputShape: [1, 28, 27] } }), 'bad-model', 'mlp784_zip.dtd.json', '[1, 28, 27] has 756 values but the first Linear layer reads 784');
  expectDtdError(() => loadModel(read('mlp784_zip.pt'), 'mlp784_zip.pt', { sidecar: { inputShape: [784] } }), 'bad-model', '"inputShape" must be [C, H, W] of positive integers');
  expectDtdError(() => loadModel(read('mlp784_zip.pt'), 'mlp784_zip.pt', { sidecar: { inputShape: [1, 28, 28.5] } }), 'bad-model', '"inputShape" must be [C, H, W]');
});

test('a sidecar "layers" list (flatten, linear, relu, linear) with inputShape gives the same shapes[0]', async () => {
  const sidecar = { inputShape: [1, 28, 28], layers: [{ type: 'flatten' }, { type: 'linear', module: '1' }, { type: 'relu' }, { type: 'linear', module: '3' }] };
  const net = loadModel(read('mlp784_zip.pt'), 'mlp784_zip.pt', { sidecar });
  const expected = json('mlp784.expected.json') as { input: number[]; output: number[] };
  const y = outputs(net, expected.input);
  assert.ok(Math.max(...Array.from(y, (v, i) => Math.abs(v - expected.output[i]))) < 1e-5);
  const r = await explain(net, expected.input, { rule: 'z+', method: 'train-free', explainedOutput: 0 });
  assert.deepEqual(r.shapes?.[0], [1, 28, 28]);
});

test('asInputShape: [C, H, W] of positive integers, else null (the empty default too)', () => {
  assert.deepEqual(asInputShape([1, 28, 28]), [1, 28, 28]);
  assert.deepEqual(asInputShape([3, 10, 12]), [3, 10, 12]);
  for (const bad of [[], [28, 28], [1, 28, 28, 1], [0, 28, 28], [1, -28, 28], [1, 2.5, 3], ['1', 28, 28], null, undefined, '1,28,28', { 0: 1, 1: 28, 2: 28, length: 3 }]) {
    assert.equal(asInputShape(bad), null, JSON.stringify(bad));
  }
  const src = [1, 28, 28];
  const out = asInputShape(src)!;
  out[0] = 9;
  assert.equal(src[0], 1, 'a copy, not the setting object');
});

test('package.json declares dtdLens.inputShape: an array of at most 3 positive integers, default empty (from the model)', () => {
  const pkg = JSON.parse(fs.readFileSync(path.join(REPO, 'package.json'), 'utf8'));
  const s = pkg.contributes.configuration.properties['dtdLens.inputShape'];
  assert.ok(s, 'dtdLens.inputShape is contributed');
  assert.equal(s.type, 'array');
  assert.deepEqual(s.default, []);
  assert.equal(s.items.type, 'integer');
  assert.equal(s.items.minimum, 1);
  assert.equal(s.maxItems, 3);
  assert.match(s.markdownDescription ?? s.description, /\[C, H, W\]/);
  // That the host reads it (config.ts, through asInputShape) and hands it to the webview: test/vscode/suite "dtdLens.inputShape: …".
});
