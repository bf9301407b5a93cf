// Hostile files against the budgets before allocation (issue 12, "What to build" 4,
// and the HDF5 B-tree revisits of 5): each file is generated here from bytes, small,
// and must give a DtdError naming the file, quickly, instead of a V8 abort, a hang,
// an "internal error" or a stack overflow. One test per family of "Why".

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { deflateSync, zipSync, zlibSync } from 'fflate';
import { onnx } from 'onnx-proto';
import { PNG } from 'pngjs';
import { loadModel } from '../../extension/engine/loaders/index';
import { parseInput } from '../../extension/engine/input';
import { decodeImage } from '../../extension/engine/image';
import { checkJsonShape, resourceError } from '../../extension/engine/budget';
import { Hdf5Refusal, inflateBounded, installHdf5Guards, walkBTreeV1 } from '../../extension/engine/loaders/hdf5Guard';
import { isDtdError } from '../../extension/engine/errors';
import { LIMITS } from '../../extension/protocol';
import { PickleWriter } from '../models/make-pytorch';
import { expectDtdError } from '../helpers/errors';

const DT = onnx.TensorProto.DataType;
const AT = onnx.AttributeProto.AttributeType;

/** Runs fn, expects a DtdError naming `file`, within `ms`; returns the message. */
function refused(fn: () => unknown, code: 'bad-model' | 'bad-input' | 'unsupported', file: string, ...fragments: (string | RegExp)[]): string {
  const t0 = Date.now();
  const msg = expectDtdError(fn, code, `${file}:`, ...fragments);
  assert.ok(Date.now() - t0 < 2000, `${file}: took ${Date.now() - t0} ms`);
  assert.ok(!/undefined|\[object Object\]|Maximum call stack|Cannot read properties/.test(msg), msg);
  assert.ok(!msg.includes('\n'), 'one line');
  return msg;
}

const utf8 = (s: string) => new TextEncoder().encode(s);

// ── #4 fatal V8 crashes: pickle stack, HDF5, TF.js shards ───────────────────

/** A .pt whose data.pkl is `body` (deflated, as a 195 KB file of 2×10⁸ NONE was). */
function ptWith(pickle: Uint8Array): Uint8Array {
  return zipSync({ 'archive/data.pkl': pickle, 'archive/byteorder': utf8('little') }, { level: 1 });
}

test('#4 pickle: more NONE opcodes than LIMITS.pickleStack, nested MARKs, memo floods are refused', () => {
  const nones = new Uint8Array(LIMITS.pickleStack + 4).fill(0x4e);
  nones[0] = 0x80; nones[1] = 2; nones[nones.length - 1] = 0x2e;
  refused(() => loadModel(ptWith(nones), 'nones.pt'), 'bad-model', 'nones.pt', 'more than 1 000 000 values on its stack');
  const marks = new Uint8Array(LIMITS.pickleMarks + 10).fill(0x28);
  refused(() => loadModel(ptWith(marks), 'marks.pt'), 'bad-model', 'marks.pt', 'MARKs');
  const memo = new Uint8Array(LIMITS.pickleMemo + 10).fill(0x94);
  memo[0] = 0x4e; // NONE, then MEMOIZE … MEMOIZE
  refused(() => loadModel(ptWith(memo), 'memo.pt'), 'bad-model', 'memo.pt', 'memoizes more than');
});

test('#7 pickle: APPENDS of 500 000 items reads without a stack overflow; [object Object] is never a message', () => {
  const n = 500_000;
  const b = new Uint8Array(n + 6);
  b.set([0x80, 2, 0x5d, 0x28]); // PROTO 2, EMPTY_LIST, MARK
  b.fill(0x4e, 4, 4 + n); // NONE × n
  b[4 + n] = 0x65; // APPENDS
  b[5 + n] = 0x2e; // STOP
  refused(() => loadModel(ptWith(b), 'appends.pt'), 'unsupported', 'appends.pt', 'does not hold a state dict');
  // Calling a storage (an object) names it in words.
  const w = new PickleWriter().proto().mark().str('storage').global('torch', 'FloatStorage').str('0').str('cpu').int(1).tuple().binpersid().emptyTuple().reduce().stop();
  refused(() => loadModel(ptWith(w.bytes()), 'callobj.pt'), 'bad-model', 'callobj.pt', 'a storage');
});

/** A one-tensor state dict with the given size, stride and storage numel (values: `data` floats). */
function ptTensor(size: number[], stride: number[], numel: number, data: number): Uint8Array {
  const w = new PickleWriter().proto();
  w.global('collections', 'OrderedDict').emptyTuple().reduce().mark();
  w.str('0.weight').global('torch._utils', '_rebuild_tensor_v2').mark();
  w.mark().str('storage').global('torch', 'FloatStorage').str('0').str('cpu').int(numel).tuple().binpersid();
  w.int(0).intTuple(size).intTuple(stride).falsy().global('collections', 'OrderedDict').emptyTuple().reduce();
  w.tuple().reduce().setitems().stop();
  return zipSync({ 'archive/data.pkl': w.bytes(), 'archive/byteorder': utf8('little'), 'archive/data/0': new Uint8Array(4 * data) }, { level: 0 });
}

test('#5/#6 PyTorch: [1e8, 0], negative sizes and stride-0 views are refused before allocating', () => {
  refused(() => loadModel(ptTensor([100_000_000, 0], [0, 1], 0, 0), 'wide.pt'), 'bad-model', 'wide.pt', 'dimension of 100 000 000');
  refused(() => loadModel(ptTensor([-3, 4], [4, 1], 12, 12), 'negative.pt'), 'bad-model', 'negative.pt', 'invalid shape');
  refused(() => loadModel(ptTensor([10_000, 10_000], [0, 0], 1, 1), 'stride0.pt'), 'bad-model', 'stride0.pt', 'more values than its storage');
});

test('#4 TF.js: one shard listed 1200 times is refused before reading it twice', () => {
  let reads = 0;
  const doc = {
    format: 'layers-model',
    modelTopology: { class_name: 'Sequential', config: { layers: [{ class_name: 'Dense', config: { name: 'd', units: 1, batch_input_shape: [null, 1] } }] } },
    weightsManifest: [{ paths: new Array(1200).fill('shard.bin'), weights: [] }],
  };
  refused(() => loadModel(utf8(JSON.stringify(doc)), 'model.json', { readSibling: () => (reads++, new Uint8Array(4)) }), 'bad-model', 'model.json', "lists the weight file 'shard.bin' more than once");
  assert.ok(reads <= 1);
});

// ── HDF5: shared B-tree nodes, gzip bombs, sparse datasets ──────────────────

/** A version 1 B-tree node (type 0) at `at`: level, children addresses. */
function treeNode(view: DataView, at: number, level: number, children: number[]): void {
  [0x54, 0x52, 0x45, 0x45].forEach((c, i) => view.setUint8(at + i, c)); // TREE
  view.setUint8(at + 4, 0);
  view.setUint8(at + 5, level);
  view.setUint16(at + 6, children.length, true);
  children.forEach((c, i) => view.setBigUint64(at + 24 + i * 16 + 8, BigInt(c), true));
}

test('#5 HDF5: a B-tree whose nodes are shared is refused at the first revisit', () => {
  // Level 2 → 32 × the same level-1 node → 32 × the same leaf: 32² reads for jsfive, refused here.
  const buf = new ArrayBuffer(3 * 1024);
  const view = new DataView(buf);
  treeNode(view, 0, 2, new Array(32).fill(1024));
  treeNode(view, 1024, 1, new Array(32).fill(2048));
  treeNode(view, 2048, 0, []);
  assert.throws(() => walkBTreeV1(buf, 0, 0), (e: unknown) => e instanceof Hdf5Refusal && /reaches the node at byte 1024 twice/.test(e.message));
  // A cycle (a node its own child) too.
  treeNode(view, 0, 1, [0]);
  assert.throws(() => walkBTreeV1(buf, 0, 0), Hdf5Refusal);
});

test('#5 HDF5 end to end: a Keras .h5 whose root group B-tree shares its nodes gives a bad-model line, fast', () => {
  // The fixture (written by h5wasm) is all new-style (superblock v2, no B-trees); its root object
  // header's first attribute message becomes a symbol table message (an old-style group) naming a
  // B-tree appended to the file: 40 levels, each naming the next node 8 times (8⁴⁰ node reads for
  // jsfive alone).
  const orig = new Uint8Array(fs.readFileSync(path.join(__dirname, '..', 'models', 'keras', 'cnn3x10_bn_gap_seed2.h5')));
  const levels = 40, fanout = 8, nodeBytes = 24 + fanout * 16 + 8;
  const base = Math.ceil(orig.length / 8) * 8;
  const out = new Uint8Array(base + levels * nodeBytes);
  out.set(orig);
  const v = new DataView(out.buffer);
  assert.equal(out[8], 2, 'superblock v2');
  const root = Number(v.getBigUint64(36, true));
  assert.equal(new TextDecoder().decode(out.subarray(root, root + 4)), 'OHDR');
  const flags = out[root + 5];
  assert.equal(flags & 0x04, 0, 'no creation order in message headers');
  let at = root + 6 + (flags & 0x20 ? 16 : 0) + (flags & 0x10 ? 4 : 0);
  const sizeBytes = 1 << (flags & 3);
  at += sizeBytes;
  while (out[at] !== 12) at += 4 + v.getUint16(at + 1, true); // first attribute message
  const size = v.getUint16(at + 1, true);
  assert.ok(size >= 20);
  out[at] = 17; // symbol table message: B-tree address, local heap address
  v.setUint16(at + 1, 16, true);
  v.setBigUint64(at + 4, BigInt(base), true);
  v.setBigUint64(at + 12, 0n, true);
  out[at + 20] = 0; // NIL message over the rest of the old message
  v.setUint16(at + 21, size - 20, true);
  out[at + 23] = 0;
  for (let l = 0; l < levels; l++) treeNode(v, base + l * nodeBytes, levels - 1 - l, l + 1 < levels ? new Array(fanout).fill(base + (l + 1) * nodeBytes) : []);
  refused(() => loadModel(out, 'shared.h5'), 'bad-model', 'shared.h5', 'reaches the node at byte', 'twice');
});

test('#4 HDF5: the gzip filter inflates in slices and refuses a chunk past its size', async () => {
  installHdf5Guards();
  const { Filters } = await import('jsfive');
  const zeros = zlibSync(new Uint8Array(8 * 1024 * 1024), { level: 9 }); // 8 MB from ~8 KB
  const inflated = Filters.get(1)!(zeros.buffer.slice(zeros.byteOffset, zeros.byteOffset + zeros.byteLength) as ArrayBuffer, 4);
  assert.equal(inflated.byteLength, 8 * 1024 * 1024); // within the default bound: the same bytes as pako
  // Around a chunked read the bound is the chunk's size (elements × item size): a bomb stops at it.
  const before = process.memoryUsage().arrayBuffers;
  assert.throws(() => inflateBounded(zeros.slice().buffer, 64 * 1024), (e: unknown) => e instanceof Hdf5Refusal && /compression bomb/.test(e.message));
  assert.ok(process.memoryUsage().arrayBuffers - before < 12 * 1024 * 1024);
});

// ── #6 allocation before validation ─────────────────────────────────────────

test('#6 JSON network: 1e7×1e7 weights with "weight": [] is refused before allocating', () => {
  const doc = { input_size: 10_000_000, layers: [{ name: 'big', in_features: 10_000_000, out_features: 10_000_000, weight: [], bias: [] }] };
  refused(() => loadModel(utf8(JSON.stringify(doc)), 'big.json'), 'bad-model', 'big.json', 'refused before allocating');
  const lying = { input_size: 4000, layers: [{ name: 'l', in_features: 4000, out_features: 4000, weight: [1, 2, 3] }] };
  refused(() => loadModel(utf8(JSON.stringify(lying)), 'lying.json'), 'bad-model', 'lying.json', 'has 3 weights but 4000×4000');
});

test('#6 safetensors and ONNX: shapes [1e9, 0] are refused before a layer is sized from them', () => {
  const header = utf8(JSON.stringify({ '0.weight': { dtype: 'F32', shape: [1_000_000_000, 0], data_offsets: [0, 0] }, '0.bias': { dtype: 'F32', shape: [0], data_offsets: [0, 0] } }));
  const st = new Uint8Array(8 + header.length);
  new DataView(st.buffer).setBigUint64(0, BigInt(header.length), true);
  st.set(header, 8);
  refused(() => loadModel(st, 'wide.safetensors'), 'bad-model', 'wide.safetensors', 'dimension of 1 000 000 000');
  const m = onnx.ModelProto.encode({
    irVersion: 8, opsetImport: [{ domain: '', version: 13 }],
    graph: {
      name: 'g', node: [{ name: 'fc', opType: 'Gemm', input: ['x', 'W'], output: ['y'], attribute: [{ name: 'transB', type: AT.INT, i: 1 }] }],
      initializer: [{ name: 'W', dims: [1_000_000_000, 0], dataType: DT.FLOAT, floatData: [] }],
      input: [{ name: 'x', type: { tensorType: { elemType: DT.FLOAT, shape: { dim: [{ dimValue: 1 }, { dimValue: 0 }] } } } }],
      output: [{ name: 'y', type: { tensorType: { elemType: DT.FLOAT } } }],
    },
  }).finish();
  refused(() => loadModel(m, 'wide.onnx'), 'bad-model', 'wide.onnx', 'dimension of 1 000 000 000');
});

test('#5/#6 Keras batch_shape 100000×100000 and ONNX conv pads=[1000]*4 are refused before computing', () => {
  const doc = {
    format: 'layers-model',
    modelTopology: { class_name: 'Sequential', config: { layers: [{ class_name: 'Conv2D', config: { name: 'c', filters: 1, kernel_size: [1, 1], batch_input_shape: [null, 100_000, 100_000, 3] } }] } },
    weightsManifest: [],
  };
  refused(() => loadModel(utf8(JSON.stringify(doc)), 'model.json'), 'bad-model', 'model.json', 'the input has 30 000 000 000 units');
  const m = onnx.ModelProto.encode({
    irVersion: 8, opsetImport: [{ domain: '', version: 13 }],
    graph: {
      name: 'g', node: [{ name: 'conv', opType: 'Conv', input: ['x', 'W'], output: ['y'], attribute: [{ name: 'pads', type: AT.INTS, ints: [1000, 1000, 1000, 1000] }] }],
      initializer: [{ name: 'W', dims: [1, 1, 3, 3], dataType: DT.FLOAT, floatData: new Array(9).fill(0.1) }],
      input: [{ name: 'x', type: { tensorType: { elemType: DT.FLOAT, shape: { dim: [1, 1, 28, 28].map((d) => ({ dimValue: d })) } } } }],
      output: [{ name: 'y', type: { tensorType: { elemType: DT.FLOAT } } }],
    },
  }).finish();
  refused(() => loadModel(m, 'pads.onnx'), 'bad-model', 'pads.onnx', "convolution 'conv' pads 1000");
});

// ── #7 deep nesting ─────────────────────────────────────────────────────────

test('#7 JSON nested 100 000 deep: inputs, models and TF.js inbound_nodes give one line', () => {
  const deep = '['.repeat(100_000) + ']'.repeat(100_000);
  refused(() => parseInput(utf8(deep), 'deep.json', 4), 'bad-input', 'deep.json', 'nested more than 100 levels');
  refused(() => loadModel(utf8(`{"network": ${deep}}`), 'deep-model.json'), 'bad-model', 'deep-model.json', 'nested more than 100 levels');
  const inbound = `{"format":"layers-model","weightsManifest":[],"modelTopology":{"class_name":"Model","config":{"layers":[{"class_name":"Dense","config":{"name":"d"},"inbound_nodes":${'['.repeat(5000)}${']'.repeat(5000)}}]}}}`;
  refused(() => loadModel(utf8(inbound), 'model.json'), 'bad-model', 'model.json', 'nested more than');
  // Strings do not count: brackets inside them are text.
  assert.doesNotThrow(() => checkJsonShape(JSON.stringify({ s: '['.repeat(1000) }), (p) => new Error(p)));
});

test('#7 ONNX protobuf nested 60 000 deep is refused by the decoder depth limit', () => {
  // Graph(1: node) → Node(5: attribute) → Attribute(6: g) → Graph …, written outside-in.
  const fields = [1, 5, 6];
  const levels = 60_000;
  const varintLen = (n: number) => (n < 0x80 ? 1 : n < 0x4000 ? 2 : n < 0x200000 ? 3 : 4);
  const sizes = new Array<number>(levels + 1).fill(0); // sizes[k]: bytes of the message at depth k
  for (let k = levels - 1; k >= 0; k--) sizes[k] = 1 + varintLen(sizes[k + 1]) + sizes[k + 1];
  const out: number[] = [];
  out.push(0x08, 8, (7 << 3) | 2); // ModelProto.ir_version = 8; graph (7), length-delimited
  const put = (n: number) => { while (n >= 0x80) { out.push((n & 0x7f) | 0x80); n >>>= 7; } out.push(n); };
  put(sizes[0]);
  for (let k = 0; k < levels; k++) {
    out.push((fields[k % 3] << 3) | 2);
    put(sizes[k + 1]);
  }
  refused(() => loadModel(Uint8Array.from(out), 'deep.onnx'), 'bad-model', 'deep.onnx', `nested more than ${LIMITS.protobufDepth} levels`);
});

test('#7 zip: an archive of 20 000 entries is refused with one line', () => {
  const files: Record<string, Uint8Array> = {};
  for (let i = 0; i < 20_000; i++) files[`e${i}`] = new Uint8Array(0);
  files['config.json'] = utf8('{}');
  refused(() => loadModel(zipSync(files, { level: 0 }), 'many.keras'), 'bad-model', 'many.keras', 'more than 10 000 entries');
});

// ── #9 limits on bytes, not memory ──────────────────────────────────────────

function pngChunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const v = new DataView(out.buffer);
  v.setUint32(0, data.length);
  out.set(utf8(type), 4);
  out.set(data, 8);
  return out; // CRC left 0: refused before pngjs would check it
}

test('#9/#10 PNG: a second IHDR and a first chunk that is not IHDR are refused before decoding; JPEG garbage gives no decoder internals', () => {
  const png = PNG.sync.write(Object.assign(new PNG({ width: 2, height: 2 }), { data: Buffer.alloc(16, 200) }));
  const ihdr = new Uint8Array(13);
  new DataView(ihdr.buffer).setUint32(0, 30_000);
  new DataView(ihdr.buffer).setUint32(4, 30_000);
  const big = pngChunk('IHDR', ihdr);
  const twice = new Uint8Array(png.length + big.length);
  twice.set(png.subarray(0, 33));
  twice.set(big, 33);
  twice.set(png.subarray(33), 33 + big.length);
  refused(() => decodeImage(twice, 'twice.png'), 'bad-input', 'twice.png', /30000×30000|more than one IHDR/);
  const text = new Uint8Array(png);
  text.set(utf8('tEXt'), 12); // the "size" at bytes 16..23 would come from text
  refused(() => decodeImage(text, 'text.png'), 'bad-input', 'text.png', 'first chunk is not a 13-byte IHDR');
  const jpeg = Uint8Array.from([0xff, 0xd8, 0xff, 0xc0, 0, 17, 8, 0, 4, 0, 4, 3, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1, 0xff, 0xda, 0, 12, 3, 1, 0, 2, 0x11, 3, 0x11, 0, 0x3f, 0]);
  refused(() => decodeImage(jpeg, 'bad.jpg'), 'bad-input', 'bad.jpg', 'is not a readable JPEG image');
});

test('#9 zip: a small .keras bomb is refused while inflating, in slices (no multi-GB peak)', () => {
  // An entry whose header declares 1 KB but inflates to 24 MB, under a 2 MB bound.
  const raw = deflateSync(new Uint8Array(24 * 1024 * 1024), { level: 6 });
  const bomb = zipSync({ 'config.json': utf8('{}'), 'model.weights.h5': [raw, { level: 0 }] });
  // Rewrite the stored entry as deflated with a lying uncompressed size (local header: method at 8, size at 22).
  const name = Buffer.from(bomb).indexOf('model.weights.h5') - 30;
  const bv = new DataView(bomb.buffer, bomb.byteOffset);
  bv.setUint16(name + 8, 8, true);
  bv.setUint32(name + 22, 1024, true);
  assert.ok(bomb.length < 200 * 1024);
  const before = process.memoryUsage().arrayBuffers;
  refused(() => loadModel(bomb, 'bomb.keras', { maxUncompressedBytes: 2 * 1024 * 1024 }), 'bad-model', 'bomb.keras', 'inflates to more than the 1 024 bytes its header declares');
  assert.ok(process.memoryUsage().arrayBuffers - before < 20 * 1024 * 1024, 'inflated far past the bound');
});

// ── what slips through becomes one line ─────────────────────────────────────

test('RangeError from an allocation or a stack overflow becomes a DtdError naming the file', () => {
  const oom = resourceError(new RangeError('Array buffer allocation failed'), '/m/model.onnx');
  assert.ok(isDtdError(oom));
  assert.equal(oom.message, `model.onnx: the model needs more memory than the limit (${LIMITS.engineHeapMB / 1024} GB); refused.`);
  const deep = resourceError(new RangeError('Maximum call stack size exceeded'), 'x.json', 'bad-input');
  assert.ok(isDtdError(deep) && deep.code === 'bad-input' && deep.message.startsWith('x.json: '));
  const other = new TypeError('a bug');
  assert.equal(resourceError(other, 'x.json'), other);
});
