// PyTorch files written by torch 1.13 itself (tools/real-models/make_torch.py): state dicts
// saved in the legacy (pre-1.6, _use_new_zipfile_serialization=False) and the zip format load
// to the same network, and its forward pass matches torch's own output for a fixed input
// (NAME.expected.json). Also what the loader assumes (ReLU between Linear layers) and says,
// the sidecar's activations, and hostile legacy streams (truncated, huge or lying counts).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { REPO } from '../helpers/fixtures';
import { loadModel } from '../../extension/engine/loaders/index';
import { RELU_ASSUMED_NOTE } from '../../extension/engine/loaders/safetensors';
import { outputs } from '../../extension/engine/forward';
import { isDtdError } from '../../extension/engine/errors';
import type { Network } from '../../extension/engine/network';
import { expectDtdError } from '../helpers/errors';
import { PickleWriter, hostilePickle, stateDictPickle, writeLegacyPt, type PtTensor } from '../models/make-pytorch';

const DIR = path.join(REPO, 'test', 'fixtures', 'real', 'torch');
const read = (f: string) => new Uint8Array(fs.readFileSync(path.join(DIR, f)));
const json = (f: string) => JSON.parse(fs.readFileSync(path.join(DIR, f), 'utf8'));
const sidecarOf = (f: string) => (fs.existsSync(path.join(DIR, f.replace(/\.pt$/, '.dtd.json'))) ? json(f.replace(/\.pt$/, '.dtd.json')) : undefined);
const load = (f: string, sidecar = sidecarOf(f)) => loadModel(read(f), f, { sidecar });

function maxDiff(net: Network, expected: { input: number[]; output: number[] }): number {
  const y = outputs(net, expected.input);
  assert.equal(y.length, expected.output.length, 'output size');
  return Math.max(...Array.from(y, (v, i) => Math.abs(v - expected.output[i])));
}

for (const name of ['mlp', 'mlp_leaky', 'cnn']) {
  test(`torch 1.13 ${name}: the legacy and the zip file load to the same network, and its forward matches torch's within 1e-5`, () => {
    const expected = json(`${name}.expected.json`);
    const legacy = load(`${name}_legacy.pt`);
    const zip = load(`${name}_zip.pt`);
    assert.deepEqual(legacy.layers, zip.layers, 'same layers from both formats');
    assert.deepEqual(legacy.inputShape, zip.inputShape);
    for (const [kind, net] of [['legacy', legacy], ['zip', zip]] as const) {
      const d = maxDiff(net, expected);
      assert.ok(d <= 1e-5, `${kind}: |f − torch| = ${d}`);
    }
    assert.ok(legacy.notes.includes('read a legacy (pre-1.6 format) torch.save file.'), legacy.notes.join('\n'));
    assert.ok(!zip.notes.some((n) => n.includes('legacy')), zip.notes.join('\n'));
  });
}

test('a state dict without a sidecar: ReLU between Linear layers is assumed and said (a LeakyReLU net then computes another f)', () => {
  const mlp = load('mlp_legacy.pt');
  assert.ok(mlp.notes.includes(RELU_ASSUMED_NOTE), mlp.notes.join('\n'));
  assert.ok(mlp.notes.some((n) => n.startsWith('the last layer is read without an activation')), mlp.notes.join('\n'));
  // The LeakyReLU network read without its sidecar: the note is there, and f differs from torch's.
  const wrong = load('mlp_leaky_zip.pt', null);
  assert.ok(wrong.notes.includes(RELU_ASSUMED_NOTE), wrong.notes.join('\n'));
  assert.ok(maxDiff(wrong, json('mlp_leaky.expected.json')) > 1e-3, 'ReLU instead of LeakyReLU changes the output');
  // With the sidecar's shorthand the activation is read, and said, instead.
  const right = load('mlp_leaky_zip.pt');
  assert.ok(!right.notes.includes(RELU_ASSUMED_NOTE), right.notes.join('\n'));
  assert.ok(right.notes.includes('activation after every hidden layer from the sidecar\'s "activation": LeakyReLU(0.2).'), right.notes.join('\n'));
  assert.deepEqual(right.layers.map((l) => [l.activation, l.activationParams?.alpha]), [['leakyrelu', 0.2], ['leakyrelu', 0.2], ['linear', undefined]]);
});

test('sidecar layer activations: prelu (weight tensor), relu6, elu, tanh from the file; leakyrelu, hardtanh, sigmoid on an MLP', () => {
  const cnn = load('cnn_zip.pt');
  const acts = cnn.layers.map((l) => `${l.name}:${l.activation}`);
  assert.deepEqual(acts, ['0:leakyrelu', 'layer3:linear', '4:clip', '7:elu', '9:tanh', '11:linear']);
  assert.deepEqual(Array.from(cnn.layers[0].activationParams!.slopes!), [0.25, -0.1, 0.5, 0.05].map(Math.fround));
  assert.deepEqual([cnn.layers[2].activationParams?.min, cnn.layers[2].activationParams?.max], [0, 6]);
  assert.equal(cnn.layers[3].activationParams?.alpha, 0.7);
  const mlp = load('mlp_zip.pt', {
    layers: [
      { type: 'linear', module: '0' }, { type: 'LeakyReLU', negative_slope: 0.3 },
      { type: 'linear', module: '2' }, { type: 'Hardtanh', min_val: -0.5, max_val: 0.25 },
      { type: 'linear', module: '4' }, { type: 'Sigmoid' },
    ],
  });
  assert.deepEqual(mlp.layers.map((l) => [l.activation, l.activationParams]), [
    ['leakyrelu', { alpha: 0.3 }], ['clip', { min: -0.5, max: 0.25 }], ['sigmoid', undefined],
  ]);
  // By hand: the sidecar's function, from the loaded weights.
  const x = json('mlp.expected.json').input as number[];
  const dense = (l: Network['layers'][number], a: number[]) => {
    assert.ok(l.kind === 'dense');
    return Array.from({ length: l.outFeatures }, (_, o) => a.reduce((s, v, i) => s + v * l.weight[o * l.inFeatures + i], l.bias[o]));
  };
  const h1 = dense(mlp.layers[0], x).map((z) => (z > 0 ? z : 0.3 * z));
  const h2 = dense(mlp.layers[1], h1).map((z) => Math.min(Math.max(z, -0.5), 0.25));
  const y = dense(mlp.layers[2], h2).map((z) => 1 / (1 + Math.exp(-z)));
  const got = outputs(mlp, x);
  y.forEach((v, i) => assert.ok(Math.abs(got[i] - v) < 1e-12, `output ${i}: ${got[i]} vs ${v}`));
});

test('sidecar mistakes about activations: PReLU slopes of the wrong count, add/concat (chains only), "activation" with "layers", an unknown shorthand', () => {
  expectDtdError(() => load('cnn_zip.pt', { ...sidecarOf('cnn_zip.pt'), layers: [{ type: 'conv2d', module: '0', padding: 1 }, { type: 'prelu', module: '9' }] }),
    'bad-model', "sidecar layer 1 ('9', prelu): weight has 40 slopes; nn.PReLU needs 1 or one per channel (4).");
  expectDtdError(() => load('mlp_zip.pt', { layers: [{ type: 'linear', module: '0' }, { type: 'add' }, { type: 'concat' }] }),
    'unsupported', 'has type "add" (a layer list is a chain: residual adds and concatenations need an ONNX, Keras or TF.js file) and "concat"');
  expectDtdError(() => load('mlp_zip.pt', { activation: 'leakyrelu', layers: [{ type: 'linear', module: '0' }] }), 'bad-model', 'give either "layers"');
  expectDtdError(() => load('mlp_zip.pt', { activation: 'gelu' }), 'bad-model', '"activation" must be one of relu, leakyrelu, relu6, sigmoid, tanh, elu (got "gelu")');
  expectDtdError(() => load('mlp_zip.pt', { activation: 'leakyrelu', negativeSlope: 'small' }), 'bad-model', '"negativeSlope" must be a number');
});

const DICT: Record<string, PtTensor> = {
  '0.weight': { shape: [2, 3], values: [1, 2, 3, 4, 5, 6] },
  '0.bias': { shape: [2], values: [0.5, -0.5] },
};

test('legacy writer check: the test writer makes files the loader reads like torch\'s', () => {
  const net = loadModel(writeLegacyPt(DICT), 'w.pt');
  assert.deepEqual(Array.from((net.layers[0] as { weight: Float64Array }).weight), [1, 2, 3, 4, 5, 6]);
  assert.deepEqual(outputs(net, [1, 1, 1]), Float64Array.from([6.5, 14.5]));
});

test('legacy hostile: every truncation of a real torch file is a bad-model error naming it, never a crash', () => {
  const good = read('cnn_legacy.pt');
  let errors = 0;
  for (let cut = 0; cut < good.length; cut += 7) {
    let caught: unknown;
    try {
      loadModel(good.slice(0, cut), 'cut.pt', { sidecar: sidecarOf('cnn_legacy.pt') });
    } catch (e) {
      caught = e;
    }
    assert.ok(isDtdError(caught) && caught.code === 'bad-model' && caught.message.startsWith('cut.pt: '), `cut at ${cut}: ${String(caught)}`);
    errors++;
  }
  assert.ok(errors > 500);
  // The last storage cut short says how many bytes it claims and how many are left.
  expectDtdError(() => loadModel(good.slice(0, good.length - 3), 'cut.pt'), 'bad-model', /storage '\d+' claims 3 values of 4 bytes, but only 9 bytes are left in the file \(truncated or corrupt\)\./);
});

test('legacy hostile: huge and lying counts, unknown or repeated keys, wrong magic or protocol, a hostile object pickle', () => {
  const f = (opts: Parameters<typeof writeLegacyPt>[1], dict = DICT) => () => loadModel(writeLegacyPt(dict, opts), 'h.pt');
  expectDtdError(f({ count: () => 2n ** 62n }), 'bad-model', "h.pt: storage '0' claims 4611686018427387904 values of 4 bytes, but only");
  expectDtdError(f({ count: () => 2n ** 64n - 1n }), 'bad-model', "storage '0' claims 18446744073709551615 values of 4 bytes");
  expectDtdError(f({ count: (i, n) => BigInt(i === 0 ? n - 1 : n) }), 'bad-model', "storage '0' holds 5 values but its tensors declared 6 (corrupt).");
  // A tensor declaring a huge storage with a count to match: refused by the bytes left, before any allocation.
  const huge = new PickleWriter().proto().global('collections', 'OrderedDict').emptyTuple().reduce().mark();
  huge.str('0.weight').global('torch._utils', '_rebuild_tensor_v2').mark();
  huge.mark().str('storage').global('torch', 'FloatStorage').str('0').str('cpu').int(2 ** 31 - 1).op(0x4e).tuple().binpersid();
  huge.int(0).intTuple([46340, 46340]).intTuple([46340, 1]).falsy().global('collections', 'OrderedDict').emptyTuple().reduce().tuple().reduce().setitems().stop();
  expectDtdError(f({ object: huge.bytes(), keys: ['0'], count: () => BigInt(2 ** 31 - 1) }), 'bad-model', "storage '0' claims 2147483647 values of 4 bytes, but only");
  expectDtdError(f({ keys: ['0', '1', 'x'] }), 'bad-model', "lists storage 'x', which no tensor uses (corrupt).");
  expectDtdError(f({ keys: ['0', '0'] }), 'bad-model', "lists storage '0' twice (corrupt).");
  expectDtdError(f({ keys: ['0'] }), 'bad-model', "tensor '0.bias' points at storage '1', which is not in the file.");
  expectDtdError(f({ magic: [1, 2, 3] }), 'bad-model', 'h.pt: is a pickle but not a torch.save file');
  expectDtdError(f({ protocol: 1000 }), 'unsupported', 'is a legacy torch.save file of protocol version 1000');
  expectDtdError(f({ object: hostilePickle() }), 'bad-model', "refused: the pickle asks to call 'os.system'");
  expectDtdError(() => loadModel(stateDictPickle(DICT), 'plain.pt'), 'bad-model', 'plain.pt: is a pickle but not a torch.save file');
  // A storage view (legacy view_metadata) is refused, not misread.
  const view = new PickleWriter().proto().global('collections', 'OrderedDict').emptyTuple().reduce().mark();
  view.str('0.weight').global('torch._utils', '_rebuild_tensor_v2').mark();
  view.mark().str('storage').global('torch', 'FloatStorage').str('0').str('cpu').int(6).mark().str('9').int(0).int(24).tuple().tuple().binpersid();
  view.int(0).intTuple([2, 3]).intTuple([3, 1]).falsy().global('collections', 'OrderedDict').emptyTuple().reduce().tuple().reduce().setitems().stop();
  expectDtdError(f({ object: view.bytes(), keys: ['0'] }, { '0.weight': DICT['0.weight'] }), 'unsupported', "storage '0' is a view into another storage");
});
