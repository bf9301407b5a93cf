// PyTorch .pt/.pth: torch.save zip archives written byte by byte
// (test/models/make-pytorch.ts, pickle protocol 2 as torch writes it), read by
// the restricted unpickler: state dicts load (Linear stacks from key names, conv
// nets from the sidecar), hostile pickles (os.system, builtins.eval) and full
// pickled modules are refused with the reason, corrupt archives are bad-model.
// Also the shared zip reader's zip-bomb bounds.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { zipSync, deflateSync } from 'fflate';
import { CONV_FIXTURES_DIR } from '../helpers/fixtures';
import { loadModel } from '../../extension/engine/loaders/index';
import { readZip } from '../../extension/engine/loaders/zip';
import { LIMITS } from '../../extension/protocol';
import { isDtdError } from '../../extension/engine/errors';
import { PickleWriter, fixtureStateDict, hostilePickle, writePt } from '../models/make-pytorch';
import { assertClose, flat, referenceOutput } from './formats-helpers';
import { expectDtdError } from '../helpers/errors';
import { RELU_ASSUMED_NOTE } from '../../extension/engine/loaders/safetensors';

const MODELS = path.resolve(__dirname, '..', 'models', 'pytorch');
const read = (f: string) => new Uint8Array(fs.readFileSync(f));

const expectError = expectDtdError;

test('the committed .pt files are what the generator writes', () => {
  const name = 'cnn1x8_bn_stride2_seed1';
  const fx = JSON.parse(fs.readFileSync(path.join(CONV_FIXTURES_DIR, `${name}.json`), 'utf8'));
  assert.deepEqual(read(path.join(MODELS, `${name}.pt`)), writePt(fixtureStateDict(fx)));
  assert.deepEqual(read(path.join(MODELS, 'hostile_os_system.pt')), writePt({}, { pickle: hostilePickle() }));
});

test('PyTorch conv state dict + sidecar: same IR as safetensors + sidecar, forward.logits', () => {
  const name = 'cnn1x8_bn_stride2_seed1';
  const fx = JSON.parse(fs.readFileSync(path.join(CONV_FIXTURES_DIR, `${name}.json`), 'utf8'));
  const sidecar = JSON.parse(fs.readFileSync(path.join(MODELS, `${name}.dtd.json`), 'utf8'));
  const net = loadModel(read(path.join(MODELS, `${name}.pt`)), `${name}.pt`, { sidecar });
  const st = loadModel(read(path.join(CONV_FIXTURES_DIR, `${name}.safetensors`)), `${name}.safetensors`, { sidecar });
  assert.equal(net.source.format, 'pytorch');
  assert.deepEqual(net.inputShape, [1, 8, 8]);
  assert.deepEqual(net.layers, st.layers);
  assertClose(referenceOutput(net, flat(fx.input.x)), fx.forward.logits, 1e-9, 'logits');
});

test('PyTorch Linear stack from key names (no sidecar), .pth too, and a checkpoint dict', () => {
  const net = loadModel(read(path.join(MODELS, 'mlp_3_4_2.pt')), 'mlp_3_4_2.pt');
  assert.equal(net.layers.length, 2);
  const [l1, l2] = net.layers;
  assert.ok(l1.kind === 'dense' && l2.kind === 'dense');
  assert.deepEqual(Array.from(l1.weight), [0.5, -0.25, 1, 0.75, 0.5, -1, -0.5, 0.25, 0.125, 1, 1, 1]);
  assert.deepEqual(Array.from(l1.bias), [0.1, -0.2, 0.3, 0].map(Math.fround));
  assert.equal(l1.activation, 'relu');
  assert.equal(l2.activation, 'linear');
  assert.ok(net.notes.includes(RELU_ASSUMED_NOTE), net.notes.join('\n'));
  assert.ok(net.notes.some((n) => n.startsWith('the last layer is read without an activation (a PyTorch state dict stores none')));
  const pth = loadModel(read(path.join(MODELS, 'mlp_3_4_2.pt')), 'model.pth');
  assert.deepEqual(pth.layers, net.layers);
  const ckpt = writePt({ 'fc1.weight': { shape: [1, 2], values: [2, 3], storage: 'DoubleStorage' }, 'fc1.bias': { shape: [1], values: [0.5], storage: 'DoubleStorage' } }, { wrapKey: 'state_dict' });
  const c = loadModel(ckpt, 'ckpt.pt');
  assert.deepEqual(Array.from((c.layers[0] as { weight: Float64Array }).weight), [2, 3]);
  assert.ok(c.notes.includes('read the state dict under the checkpoint key "state_dict".'));
});

test('PyTorch: a transposed (non-contiguous) tensor is read through its strides', () => {
  // A 2×3 weight stored as the transpose of a 3×2 storage: stride (1, 2).
  const w = new PickleWriter().proto().global('collections', 'OrderedDict').emptyTuple().reduce().mark();
  w.str('0.weight').global('torch._utils', '_rebuild_tensor_v2').mark();
  w.mark().str('storage').global('torch', 'FloatStorage').str('0').str('cpu').int(6).tuple().binpersid();
  w.int(0).intTuple([2, 3]).intTuple([1, 2]).falsy().global('collections', 'OrderedDict').emptyTuple().reduce().tuple().reduce();
  w.setitems().stop();
  const bytes = zipSync({ 'archive/data.pkl': w.bytes(), 'archive/data/0': new Uint8Array(Float32Array.from([1, 2, 3, 4, 5, 6]).buffer) }, { level: 0 });
  const net = loadModel(bytes, 't.pt');
  // storage [1..6] as 3×2 rows [[1,2],[3,4],[5,6]], transposed: [[1,3,5],[2,4,6]].
  assert.deepEqual(Array.from((net.layers[0] as { weight: Float64Array }).weight), [1, 3, 5, 2, 4, 6]);
});

test('PyTorch: a pickle with GLOBAL os.system is refused, never run', () => {
  const message = expectError(() => loadModel(read(path.join(MODELS, 'hostile_os_system.pt')), 'hostile_os_system.pt'), 'bad-model');
  assert.equal(message, "hostile_os_system.pt: refused: the pickle asks to call 'os.system'; DTD Lens only reads tensor state dicts, a full pickled module could run arbitrary code.");
  // builtins.eval through STACK_GLOBAL (protocol 4), and two calls listed together.
  const p = new PickleWriter().proto().str('builtins').str('eval').op(0x93).mark().str('1+1').tuple().reduce();
  p.global('subprocess', 'check_output').mark().str('id').tuple().reduce().op(0x86).stop();
  expectError(() => loadModel(writePt({}, { pickle: p.bytes() }), 'evil.pth'), 'bad-model', "evil.pth: refused: the pickle asks to call 'builtins.eval', 'subprocess.check_output'; DTD Lens only reads tensor state dicts");
});

test('PyTorch: a full pickled nn.Module is refused, explaining why', () => {
  const p = new PickleWriter().proto().global('__main__', 'Net').emptyTuple().op(0x81).emptyDict();
  p.str('fc').global('torch.nn.modules.linear', 'Linear').emptyTuple().op(0x81).setitem().build().stop();
  const message = expectError(() => loadModel(writePt({}, { pickle: p.bytes() }), 'model.pt'), 'unsupported');
  assert.equal(message, "model.pt: refused: the pickle holds a full pickled module or object ('__main__.Net', 'torch.nn.modules.linear.Linear'); unpickling it would run code from the file, so DTD Lens only reads tensor state dicts: save one with torch.save(model.state_dict(), path).");
});

test('PyTorch: corrupt, truncated, random, legacy and TorchScript files', () => {
  const good = read(path.join(MODELS, 'mlp_3_4_2.pt'));
  expectError(() => loadModel(good.slice(0, good.length - 200), 'cut.pt'), 'bad-model', 'cut.pt');
  expectError(() => loadModel(good.slice(0, 300), 'cut2.pt'), 'bad-model', 'cut2.pt');
  let seed = 7;
  for (let trial = 0; trial < 30; trial++) {
    const bytes = Uint8Array.from({ length: 50 + trial * 13 }, () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 24));
    bytes.set([0x50, 0x4b, 0x03, 0x04]); // looks like a zip
    expectError(() => loadModel(bytes, 'random.pt'), 'bad-model', 'random.pt');
  }
  // Random pickle bodies inside a valid archive: always a DtdError, never a crash.
  for (let trial = 0; trial < 300; trial++) {
    const body = Uint8Array.from({ length: 1 + (trial % 40) }, () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 24));
    let caught: unknown;
    try {
      loadModel(writePt({}, { pickle: Uint8Array.from([0x80, 2, ...body]) }), 'fuzz.pt');
    } catch (e) {
      caught = e;
    }
    assert.ok(isDtdError(caught) && caught.message.startsWith('fuzz.pt: '), `trial ${trial}: ${String(caught)}`);
  }
  expectError(() => loadModel(new Uint8Array([0x80, 0x02, 0x8a, 0x0a]), 'old.pt'), 'bad-model', 'old.pt: the magic number (the pickle at byte 0): a string claims 10 bytes but only 0 remain (truncated or corrupt).');
  expectError(() => loadModel(new TextEncoder().encode('hello'), 'text.pt'), 'bad-model', 'is not a PyTorch file');
  const ts = zipSync({ 'm/data.pkl': hostilePickle(), 'm/code/__torch__/m.py': new TextEncoder().encode('def forward(self, x): ...'), 'm/constants.pkl': new Uint8Array(2) }, { level: 0 });
  expectError(() => loadModel(ts, 'scripted.pt'), 'unsupported', 'is a TorchScript archive (it contains code)');
  // A pickle opcode a state dict never uses (INST).
  const inst = new PickleWriter().proto().mark().op(0x69, ...new TextEncoder().encode('os\nsystem\n')).stop();
  expectError(() => loadModel(writePt({}, { pickle: inst.bytes() }), 'inst.pt'), 'bad-model', 'pickle opcode INST at byte 3 is not one a tensor state dict uses; refused');
  // A tensor reaching past its storage.
  const w = new PickleWriter().proto().global('collections', 'OrderedDict').emptyTuple().reduce().mark();
  w.str('0.weight').global('torch._utils', '_rebuild_tensor_v2').mark();
  w.mark().str('storage').global('torch', 'FloatStorage').str('0').str('cpu').int(2).tuple().binpersid();
  w.int(1).intTuple([2, 2]).intTuple([2, 1]).falsy().global('collections', 'OrderedDict').emptyTuple().reduce().tuple().reduce().setitems().stop();
  expectError(() => loadModel(zipSync({ 'archive/data.pkl': w.bytes(), 'archive/data/0': new Uint8Array(8) }, { level: 0 }), 'oob.pt'), 'bad-model', "tensor '0.weight' (shape [2, 2], offset 1) reaches outside its storage of 2 values");
});

test('zip bomb: bounded by maxUncompressedBytes, whether the header tells the truth or lies', () => {
  const zeros = new Uint8Array(50 * 1024 * 1024);
  const bomb = zipSync({ 'archive/data.pkl': zeros }, { level: 9 });
  assert.ok(bomb.length < 200_000, `the bomb is small (${bomb.length} bytes)`);
  expectError(() => loadModel(bomb, 'bomb.pt', { maxUncompressedBytes: 10 * 1024 * 1024 }), 'bad-model',
    "bomb.pt: refused: entry 'archive/data.pkl' declares 50.0 MB uncompressed, more than the 10.0 MB DTD Lens unpacks from one archive; a zip bomb or a model too large to explain.");
  // The same with the sizes in the headers rewritten to 1000 bytes: caught while inflating.
  const liar = bomb.slice();
  const dv = new DataView(liar.buffer);
  for (let i = 0; i + 4 <= liar.length; i++) {
    if (dv.getUint32(i, true) === 0x04034b50) dv.setUint32(i + 22, 1000, true);
    if (dv.getUint32(i, true) === 0x02014b50) dv.setUint32(i + 24, 1000, true);
  }
  expectError(() => loadModel(liar, 'liar.pt', { maxUncompressedBytes: 10 * 1024 * 1024 }), 'bad-model', "liar.pt: refused: entry 'archive/data.pkl' inflates to more than the 1 000 bytes its header declares");
  // The default bound (LIMITS.uncompressedBytes): a header declaring 3 GB is refused before anything is inflated.
  const claims = bomb.slice();
  const dv2 = new DataView(claims.buffer);
  for (let i = 0; i + 4 <= claims.length; i++) if (dv2.getUint32(i, true) === 0x04034b50) dv2.setUint32(i + 22, 3_000_000_000, true);
  expectError(() => readZip(claims, 'huge.keras', () => true), 'bad-model', `huge.keras: refused: entry 'archive/data.pkl' declares 2861.0 MB uncompressed, more than the ${(LIMITS.uncompressedBytes / 1024 / 1024).toFixed(1)} MB`);
  // Unwanted entries are never inflated.
  const { files, names } = readZip(zipSync({ 'a.txt': new Uint8Array([1]), 'big.bin': deflateSync(new Uint8Array(10)) }), 'x.zip', (n) => n === 'a.txt', 4);
  assert.deepEqual(names, ['a.txt', 'big.bin']);
  assert.deepEqual([...files.keys()], ['a.txt']);
});
