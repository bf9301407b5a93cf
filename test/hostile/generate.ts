// The hostile corpus (issue 12, item 8): a seeded generator that writes hostile
// model and input files for every format DTD Lens reads, one folder per case,
// into a scratch folder at test time (nothing here is committed as data).
// Families follow the "Why" list (1–11) plus `code` (things that must
// never execute), `control` (valid files that must explain: the harness works)
// and `mutation` (random byte mutations of valid files: the bulk).
//
//   node --import tsx test/hostile/generate.ts [DIR] [--seed N]   writes the corpus and prints the counts
//
// Every case: { id, family, format, dir (the model's folder), model, args }. The
// runner (run.ts) calls `node dist/cli.js explain <model> <args>` in it.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { execFileSync } from 'node:child_process';
import { onnx } from 'onnx-proto';
import { unzipSync } from 'fflate';
import jpeg from 'jpeg-js';
import { FIXTURES_DIR, CONV_FIXTURES_DIR, REPO } from '../helpers/fixtures';
import { PickleWriter, hostilePickle, stateDictPickle, writeLegacyPt, writePt, type PtTensor } from '../models/make-pytorch';
import {
  Pb, Rng, concat, crc32, f32, f64, ihdr, nested, nestedPb, npy, png, pngChunk, PNG_MAGIC, safetensors, utf8, zerosEntry, zerosZlib, zip, type ZipEntry,
} from './bytes';

// ---------- the case table ----------

export const FAMILIES = {
  'unbounded-read': "1: reads without a bound (a model, sidecar or shard that is /dev/zero, a huge nested model.json)",
  'outside-read': "2: reads outside the model's folder (symlinks, sub-folder links, path traversal, external data, FIFOs)",
  markup: '3: names from the file that carry markdown command links, control characters, bidi overrides, 100 KB names',
  'v8-crash': '4: fatal V8 crashes from small files (pickle NONE bomb, HDF5 gzip chunk and sparse datasets, a shard listed 1200 times)',
  hang: '5: hangs (shared HDF5 B-tree nodes, pads=[1000]*4, a [1e8, 0] tensor, --random-input never positive, deep narrow nets)',
  alloc: '6: allocation before validation (1e7×1e7 weights, [1e9, 0] shapes, stride-0 views, negative sizes, 100000×100000 batch_shape)',
  nesting: '7: deep nesting (JSON 100 000 deep, pickle APPENDS of 500 000, zips of 60 000 entries, protobuf 60 000 deep)',
  'non-finite': '8: non-finite results (weights 1e308, float32 with 1e20, α2β1 over 1200 layers)',
  memory: '9: limits on bytes but not on memory (PNG with a second IHDR, zip entries just under the bound, a 16 MB JSON model)',
  messages: '10: messages (jsfive (undefined), [object Object], jpeg-js internals, Infinity evaluations, 10 000-key headers, random-input naming the file)',
  ipc: '11: engine IPC (BigInt and cyclic payloads, malformed requests, hostile names through the engine child)',
  code: 'nothing in a file is executed (pickle GLOBALs, INST/OBJ/NEWOBJ/PERSID, TorchScript, Lambda layers, .npy object arrays)',
  'legacy-pickle': 'legacy (pre-1.6) torch.save pickle streams: truncated, huge and lying storage counts, unknown keys, hostile object pickles, byte mutations of real torch files',
  control: 'valid files: must explain (exit 0) — the harness itself works',
  mutation: 'random byte mutations of valid fixture files',
} as const;
export type Family = keyof typeof FAMILIES;

export type Format = 'onnx' | 'safetensors' | 'json' | 'tfjs' | 'keras' | 'h5' | 'pytorch' | 'input-json' | 'input-csv' | 'input-npy' | 'input-png' | 'input-jpeg' | 'ipc';

export interface HostileCase {
  id: string;
  family: Family;
  format: Format;
  what: string;
  /** The model's folder (the only place the CLI may read, besides its own code). */
  dir: string;
  /** Model file (inside dir); '' for IPC cases. */
  model: string;
  /** Input file given with --input, if any (inside dir). */
  input?: string;
  /** CLI arguments after the model. */
  args: string[];
  /** IPC script name (family ipc). */
  ipc?: string;
  tags: string[];
}

/** What a case folder holds: bytes, a symlink, a FIFO, or a folder symlink. */
type FileSpec = Uint8Array | { link: string } | { fifo: true };

export interface Corpus {
  root: string;
  /** Files and folders outside every case folder that hostile links point at. */
  outside: string;
  cases: HostileCase[];
}

/** A marker that sits in every outside target: it must never show in any output. */
export const SECRET = 'HOSTILE-SECRET-7f3a9c';

// ---------- valid bases ----------

const read = (f: string) => new Uint8Array(fs.readFileSync(f));
const MODELS = path.join(REPO, 'test', 'models');

const DENSE = ['tiny_3_5_1_seed0', 'mlp3_seed1_output_selection', 'deep6_w32_seed10', 'edge_dead_layer', 'mlp5_seed1_out1'];
const CONV = ['cnn1x8_maxpool_ties_seed5', 'cnn3x10_bn_gap_seed2', 'cnn1x8_bn_stride2_seed1'];

function denseBase(name: string, ext: 'onnx' | 'safetensors' | 'json') {
  return read(path.join(FIXTURES_DIR, `${name}.${ext}`));
}
function convBase(name: string, ext: 'onnx' | 'safetensors' | 'json') {
  return read(path.join(CONV_FIXTURES_DIR, `${name}.${ext}`));
}
function convSidecar(name: string): Uint8Array | undefined {
  const f = path.join(MODELS, 'conv', `${name}.dtd.json`);
  return fs.existsSync(f) ? read(f) : undefined;
}

// ---------- HDF5 through h5wasm ----------

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
let h5mod: Obj | undefined;
async function h5(build: (f: Obj) => void): Promise<Uint8Array> {
  if (!h5mod) {
    h5mod = await import('h5wasm/node');
    await h5mod.ready;
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dtd-hostile-h5-'));
  const file = path.join(dir, 'w.h5');
  const f = new h5mod.File(file, 'w');
  build(f);
  f.close();
  const bytes = read(file);
  fs.rmSync(dir, { recursive: true, force: true });
  return bytes;
}

// Keras configs for a small dense network: input N → Dense(units) → Dense(2).
function keras3Config(layers: { name: string; units: number; activation?: string }[], inputShape: (number | null)[], extra: Obj[] = []): Obj {
  return {
    module: 'keras', class_name: 'Sequential', registered_name: null,
    config: {
      name: 'sequential', trainable: true, dtype: 'float32',
      layers: [
        { module: 'keras.layers', class_name: 'InputLayer', config: { batch_shape: inputShape, dtype: 'float32', sparse: false, name: 'input_layer' }, registered_name: null },
        ...layers.map((l) => ({ module: 'keras.layers', class_name: 'Dense', config: { name: l.name, units: l.units, activation: l.activation ?? 'relu', use_bias: true, dtype: 'float32', trainable: true }, registered_name: null })),
        ...extra,
      ],
    },
  };
}
function legacyConfig(layers: { name: string; units: number; activation?: string }[], inputShape: (number | null)[]): Obj {
  return {
    class_name: 'Sequential',
    config: {
      name: 'sequential',
      layers: layers.map((l, i) => ({ class_name: 'Dense', config: { name: l.name, units: l.units, activation: l.activation ?? 'relu', use_bias: true, dtype: 'float32', trainable: true, ...(i === 0 ? { batch_input_shape: inputShape } : {}) } })),
    },
  };
}

interface DenseSpec {
  inputs: number;
  layers: { name: string; units: number; activation?: string }[];
}
const SMALL: DenseSpec = { inputs: 4, layers: [{ name: 'dense', units: 3 }, { name: 'out', units: 2, activation: 'linear' }] };
/** Marker sizes (77 × 79) so the dataset's dimensions can be found in the file and patched. */
const MARKED: DenseSpec = { inputs: 77, layers: [{ name: 'dense', units: 79 }, { name: 'out', units: 2, activation: 'linear' }] };

function weightsOf(spec: DenseSpec, rng: Rng): { kernel: Float32Array; bias: Float32Array; shape: [number, number] }[] {
  let n = spec.inputs;
  return spec.layers.map((l) => {
    const kernel = Float32Array.from({ length: n * l.units }, () => rng.next() - 0.3);
    const bias = Float32Array.from({ length: l.units }, () => rng.next() * 0.1);
    const shape: [number, number] = [n, l.units];
    n = l.units;
    return { kernel, bias, shape };
  });
}

/** The Keras 3 weights store (layers/<name>/vars/<i>); the first kernel chunked and gzipped when asked. */
async function kerasWeightsH5(spec: DenseSpec, rng: Rng, opts: { chunkFirst?: boolean; extra?: (f: Obj) => void } = {}): Promise<Uint8Array> {
  const ws = weightsOf(spec, rng);
  return h5((f) => {
    f.create_group('layers');
    spec.layers.forEach((l, i) => {
      f.get('layers').create_group(l.name);
      const g = f.get(`layers/${l.name}`);
      g.create_group('vars');
      const chunked = opts.chunkFirst && i === 0 ? { chunks: ws[i].shape, compression: 'gzip' } : {};
      g.get('vars').create_dataset({ name: '0', data: ws[i].kernel, shape: ws[i].shape, ...chunked });
      g.get('vars').create_dataset({ name: '1', data: ws[i].bias, shape: [ws[i].bias.length] });
    });
    opts.extra?.(f);
  });
}

/** A legacy Keras .h5 (model_config + model_weights); the first kernel chunked and gzipped when asked. */
async function kerasLegacyH5(spec: DenseSpec, rng: Rng, opts: { chunkFirst?: boolean; config?: string; weight?: (f: Obj, layer: string) => boolean } = {}): Promise<Uint8Array> {
  const ws = weightsOf(spec, rng);
  return h5((f) => {
    f.create_attribute('model_config', opts.config ?? JSON.stringify(legacyConfig(spec.layers, [null, spec.inputs])));
    f.create_attribute('keras_version', '2.15.0');
    f.create_attribute('backend', 'tensorflow');
    f.create_group('model_weights');
    const mw = f.get('model_weights');
    mw.create_attribute('layer_names', spec.layers.map((l) => l.name));
    spec.layers.forEach((l, i) => {
      mw.create_group(l.name);
      const g = f.get(`model_weights/${l.name}`);
      g.create_attribute('weight_names', [`${l.name}/kernel:0`, `${l.name}/bias:0`]);
      g.create_group(l.name);
      const inner = f.get(`model_weights/${l.name}/${l.name}`);
      if (opts.weight?.(inner, l.name)) return;
      const chunked = opts.chunkFirst && i === 0 ? { chunks: ws[i].shape, compression: 'gzip' } : {};
      inner.create_dataset({ name: 'kernel:0', data: ws[i].kernel, shape: ws[i].shape, ...chunked });
      inner.create_dataset({ name: 'bias:0', data: ws[i].bias, shape: [ws[i].bias.length] });
    });
  });
}

function kerasArchive(config: Obj | Uint8Array, weights: Uint8Array, more: ZipEntry[] = []): Uint8Array {
  return zip([
    { name: 'metadata.json', data: utf8(JSON.stringify({ keras_version: '3.6.0', date_saved: '2025-01-01@00:00:00' })) },
    { name: 'config.json', data: config instanceof Uint8Array ? config : utf8(JSON.stringify(config)) },
    { name: 'model.weights.h5', data: weights },
    ...more,
  ]);
}

// Patching a chunked dataset written by h5wasm (superblock v2, layout v3, chunk index = v1 B-tree).
function u64(n: number): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt(n), true);
  return b;
}
function u32s(...ns: number[]): Uint8Array {
  const b = new Uint8Array(4 * ns.length);
  ns.forEach((n, i) => new DataView(b.buffer).setUint32(4 * i, n >>> 0, true));
  return b;
}
function findAll(hay: Uint8Array, needle: Uint8Array): number[] {
  const out: number[] = [];
  const buf = Buffer.from(hay.buffer, hay.byteOffset, hay.byteLength);
  let i = -1;
  while ((i = buf.indexOf(Buffer.from(needle), i + 1)) >= 0) out.push(i);
  return out;
}
function patchAll(bytes: Uint8Array, from: Uint8Array, to: Uint8Array, what: string, most = 1, skip?: [number, number]): void {
  const at = findAll(bytes, from).filter((i) => !skip || i < skip[0] || i >= skip[1]);
  if (at.length < 1 || at.length > most) throw new Error(`hostile corpus: ${what}: expected 1..${most} matches, found ${at.length}`);
  for (const i of at) bytes.set(to, i);
}
/** The one chunk B-tree (TREE, type 1) of the file. */
function chunkTree(bytes: Uint8Array): number {
  const at = findAll(bytes, utf8('TREE')).filter((i) => bytes[i + 4] === 1);
  if (at.length !== 1) throw new Error(`hostile corpus: expected one chunk B-tree, found ${at.length}`);
  return at[0];
}
const TREE_HEADER = 24; // 'TREE', type, level, entries (u16), left sibling, right sibling
const CHUNK_KEY_2D = 8 + 3 * 8; // chunk size, filter mask, 3 offsets
/** A 2-D chunk B-tree node as HDF5 allocates it (K = 32: 64 children, 65 keys). */
const TREE_NODE_BYTES = TREE_HEADER + 64 * (CHUNK_KEY_2D + 8) + CHUNK_KEY_2D;

/** Dataspace 77×79 → d0×d1 (and the chunk to c0×c1 when given); optionally a new chunk stream appended. */
function patchMarkedDataset(h5bytes: Uint8Array, dims: [number, number], chunk?: [number, number], stream?: Uint8Array): Uint8Array {
  let bytes: Uint8Array = h5bytes.slice();
  // Not inside the chunk B-tree node (its last key holds the dataset's extent too).
  const tree = chunkTree(bytes);
  patchAll(bytes, concat(u64(77), u64(79)), concat(u64(dims[0]), u64(dims[1])), 'dataspace 77×79 (dims, maxdims)', 2, [tree, tree + TREE_NODE_BYTES]);
  if (chunk) patchAll(bytes, u32s(77, 79, 4), u32s(chunk[0], chunk[1], 4), 'chunk dims 77×79×4');
  if (stream) {
    const at = bytes.length;
    bytes = concat(bytes, stream);
    const v = new DataView(bytes.buffer);
    v.setUint32(tree + TREE_HEADER, stream.length, true); // chunk size
    v.setBigUint64(tree + TREE_HEADER + CHUNK_KEY_2D, BigInt(at), true); // chunk address
  }
  return bytes;
}

/** The chunk B-tree rewritten with shared nodes: a root of `rootEntries` → levels of `fan` entries each → the one leaf. */
function sharedBTree(h5bytes: Uint8Array, levels: number, rootEntries: number, fan: number): Uint8Array {
  const bytes = h5bytes.slice();
  const tree = chunkTree(bytes);
  const key = bytes.slice(tree + TREE_HEADER, tree + TREE_HEADER + CHUNK_KEY_2D);
  const leaf = bytes.slice(tree, tree + TREE_HEADER + CHUNK_KEY_2D + 8 + CHUNK_KEY_2D);
  const node = (level: number, entries: number, child: number): Uint8Array => {
    const out = new Uint8Array(TREE_HEADER + entries * (CHUNK_KEY_2D + 8) + CHUNK_KEY_2D);
    out.set(utf8('TREE'));
    const v = new DataView(out.buffer);
    out[4] = 1;
    out[5] = level;
    v.setUint16(6, entries, true);
    v.setBigUint64(8, 0xffffffffffffffffn, true);
    v.setBigUint64(16, 0xffffffffffffffffn, true);
    for (let e = 0; e < entries; e++) {
      const o = TREE_HEADER + e * (CHUNK_KEY_2D + 8);
      out.set(key, o);
      v.setBigUint64(o + CHUNK_KEY_2D, BigInt(child), true);
    }
    out.set(key, TREE_HEADER + entries * (CHUNK_KEY_2D + 8));
    return out;
  };
  const parts: Uint8Array[] = [bytes];
  let end = bytes.length;
  const leafAt = end;
  parts.push(leaf);
  end += leaf.length;
  let child = leafAt;
  for (let level = 1; level < levels; level++) {
    const n = node(level, fan, child);
    child = end;
    parts.push(n);
    end += n.length;
  }
  const out = concat(...parts);
  // The root stays where the dataset's layout points; 64 entries fit in a node with the default K (32).
  out.set(node(levels, rootEntries, child), tree);
  return out;
}

// ---------- ONNX ----------

function onnxModel(bytes: Uint8Array): onnx.ModelProto {
  return onnx.ModelProto.decode(bytes);
}
function onnxBytes(m: onnx.IModelProto): Uint8Array {
  return onnx.ModelProto.encode(onnx.ModelProto.fromObject(m as { [k: string]: unknown })).finish();
}
/** The first initializer of a fixture ONNX turned into external data at `location`. */
function onnxExternal(base: Uint8Array, location: string, extra: Record<string, string> = {}): Uint8Array {
  const m = onnxModel(base);
  const t = m.graph!.initializer![0];
  const bytes = t.rawData && t.rawData.length ? t.rawData : f32(t.floatData ?? []);
  t.rawData = new Uint8Array(0);
  t.floatData = [];
  t.dataLocation = onnx.TensorProto.DataLocation.EXTERNAL;
  t.externalData = [{ key: 'location', value: location }, { key: 'offset', value: '0' }, { key: 'length', value: String(bytes.length) }, ...Object.entries(extra).map(([key, value]) => ({ key, value }))];
  return onnxBytes(m);
}
function onnxRawLength(base: Uint8Array): number {
  const t = onnxModel(base).graph!.initializer![0];
  return t.rawData && t.rawData.length ? t.rawData.length : (t.floatData ?? []).length * 4;
}

// ---------- JSON networks ----------

function denseJson(widths: number[], weight: (l: number, o: number, i: number) => number, bias: (l: number, o: number) => number = () => 0, opts: { lastRelu?: boolean; name?: (l: number) => string } = {}): Uint8Array {
  const layers = widths.slice(1).map((out, l) => ({
    name: opts.name?.(l) ?? `layer${l + 1}`,
    in_features: widths[l],
    out_features: out,
    weight: Array.from({ length: out }, (_, o) => Array.from({ length: widths[l] }, (_, i) => weight(l, o, i))),
    bias: Array.from({ length: out }, (_, o) => bias(l, o)),
    activation: l === widths.length - 2 && !opts.lastRelu ? 'linear' : 'relu',
  }));
  return utf8(JSON.stringify({ input_size: widths[0], layers }));
}

// ---------- TF.js ----------

function tfjsBase(name: string): { modelJson: Obj; shard: Uint8Array; shardName: string } {
  const dir = path.join(MODELS, 'tfjs', name);
  const modelJson = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8'));
  const shardName = modelJson.weightsManifest[0].paths[0];
  return { modelJson, shard: read(path.join(dir, shardName)), shardName };
}

// ---------- markup ----------

export const MARKUP_NAMES = [
  '[Run](command:workbench.action.terminal.sendSequence?%7B%22text%22%3A%22id%5Cn%22%7D)',
  '[open settings](command:workbench.action.openSettings "t")',
  'x](command:_workbench.downloadResource) [y',
  'red\u001b[31mESC\u001b[0m\u0007bell',
  'bidi\u202egnp.exe\u202c',
  '<img src=x onerror=alert(1)>$(alert)',
  'n'.repeat(100_000),
];

// ---------- mutations ----------

function mutate(bytes: Uint8Array, rng: Rng, text: boolean): Uint8Array {
  const b = bytes.slice();
  const strategy = rng.int(0, text ? 8 : 7);
  const at = () => rng.int(0, Math.max(1, b.length));
  switch (strategy) {
    case 0: { // flip a few bytes
      const n = rng.int(1, 17);
      for (let k = 0; k < n; k++) b[at()] ^= 1 << rng.int(0, 8);
      return b;
    }
    case 1: { // random bytes over a range
      const o = at();
      const n = Math.min(rng.int(1, 64), b.length - o);
      b.set(rng.bytes(n), o);
      return b;
    }
    case 2: // truncate
      return b.slice(0, rng.int(0, b.length));
    case 3: { // extreme 32-bit integers at aligned offsets
      const v = new DataView(b.buffer);
      const n = rng.int(1, 5);
      for (let k = 0; k < n && b.length >= 8; k++) v.setUint32(rng.int(0, (b.length >> 2) - 1) * 4, rng.pick([0xffffffff, 0x7fffffff, 0x80000000, 0x40000000, 0, 1e9 >>> 0]), true);
      return b;
    }
    case 4: { // duplicate a range
      const o = at();
      const n = Math.min(rng.int(1, 4096), b.length - o);
      const p = at();
      return concat(b.slice(0, p), b.slice(o, o + n), b.slice(p));
    }
    case 5: { // delete a range
      const o = at();
      return concat(b.slice(0, o), b.slice(Math.min(b.length, o + rng.int(1, 256))));
    }
    case 6: { // extreme 64-bit integers / doubles
      const v = new DataView(b.buffer);
      const n = rng.int(1, 4);
      for (let k = 0; k < n && b.length >= 16; k++) {
        const o = rng.int(0, (b.length >> 3) - 1) * 8;
        if (rng.next() < 0.5) v.setBigUint64(o, rng.pick([0xffffffffffffffffn, 0x7fffffffffffffffn, 1n << 40n, 1n << 32n]), true);
        else v.setFloat64(o, rng.pick([1e308, -1e308, Number.NaN, Number.POSITIVE_INFINITY, 5e-324]), true);
      }
      return b;
    }
    default: { // text: replace numbers with extreme ones
      let s = new TextDecoder().decode(b);
      const repl = ['1e308', '-1e308', '1e999', '1e9', '-1', '0', '"NaN"', '"Infinity"', '9007199254740993', '[]', '{}', 'null', '"x"', '1.5'];
      const n = rng.int(1, 6);
      const nums = [...s.matchAll(/-?\d+(\.\d+)?(e-?\d+)?/g)];
      for (let k = 0; k < n && nums.length; k++) {
        const m = rng.pick(nums);
        s = s.slice(0, m.index) + rng.pick(repl) + s.slice(m.index! + m[0].length);
      }
      return utf8(s);
    }
  }
}

// ---------- the generator ----------

export interface GenerateOptions {
  seed?: number;
  /** Keep only cases whose family, format or a tag equals one of these (HOSTILE_FAMILY). */
  only?: string[];
}

export async function generateCorpus(root: string, opts: GenerateOptions = {}): Promise<Corpus> {
  const seed = opts.seed ?? 12;
  const rng = new Rng(seed);
  const casesDir = path.join(root, 'cases');
  const outside = path.join(root, 'outside');
  fs.mkdirSync(casesDir, { recursive: true });
  fs.mkdirSync(path.join(outside, 'sub'), { recursive: true });
  const cases: HostileCase[] = [];
  const ids = new Set<string>();
  const wanted = (family: Family, format: Format, tags: string[]) => !opts.only?.length || opts.only.some((o) => o === family || o === format || tags.includes(o));

  // Outside targets: a secret, a copy of a valid TF.js shard (the right size to be used as weights),
  // a valid ONNX initializer's bytes, and a folder with the same.
  const tfjs = tfjsBase('cnn3x10_stride2_softmax_seed3');
  const secret = utf8(`${SECRET} root:x:0:0:root:/root:/bin/bash\n`.repeat(64));
  fs.writeFileSync(path.join(outside, 'secret.txt'), secret);
  fs.writeFileSync(path.join(outside, 'shard.bin'), tfjs.shard);
  fs.writeFileSync(path.join(outside, 'sub', tfjs.shardName), tfjs.shard);
  const tinyOnnx = denseBase('tiny_3_5_1_seed0', 'onnx');
  const extLen = onnxRawLength(tinyOnnx);
  fs.writeFileSync(path.join(outside, 'weights.bin'), concat(utf8(SECRET), new Uint8Array(Math.max(0, extLen - SECRET.length))).slice(0, extLen));
  fs.writeFileSync(path.join(outside, 'sidecar.dtd.json'), utf8(JSON.stringify({ finalActivation: 'relu', note: SECRET })));

  /**
   * One case: its files (the model first), the model's name, CLI args. Symlink targets starting
   * with '@outside/' point into the outside folder.
   */
  const add = async (
    family: Family, format: Format, id: string, what: string, files: () => Record<string, FileSpec> | Promise<Record<string, FileSpec>>,
    o: { model?: string; input?: string; args?: string[]; tags?: string[]; ipc?: string } = {},
  ) => {
    const tags = o.tags ?? [];
    if (!wanted(family, format, tags)) return;
    const full = `${family}--${format}--${id}`;
    if (ids.has(full)) throw new Error(`hostile corpus: duplicate case id ${full}`);
    ids.add(full);
    const dir = path.join(casesDir, full);
    fs.mkdirSync(dir, { recursive: true });
    const spec = await files();
    for (const [name, f] of Object.entries(spec)) {
      const file = path.join(dir, name);
      fs.mkdirSync(path.dirname(file), { recursive: true });
      if (f instanceof Uint8Array) fs.writeFileSync(file, f);
      else if ('link' in f) fs.symlinkSync(f.link.startsWith('@outside/') ? path.join(outside, f.link.slice('@outside/'.length)) : f.link, file);
      else execFileSync('mkfifo', [file]);
    }
    const model = o.ipc ? '' : path.join(dir, o.model ?? Object.keys(spec)[0]);
    const input = o.input ? path.join(dir, o.input) : undefined;
    const args = o.args ?? (input ? ['--input', input] : ['--random-input']);
    cases.push({ id: full, family, format, what, dir, model, input, args, ipc: o.ipc, tags });
  };

  // ===== control: valid files of every format =====
  await add('control', 'onnx', 'onnx-tiny', 'valid fixture', () => ({ 'm.onnx': tinyOnnx }));
  await add('control', 'onnx', 'onnx-conv', 'valid conv fixture', () => ({ 'm.onnx': convBase('cnn1x8_maxpool_ties_seed5', 'onnx') }));
  await add('control', 'safetensors', 'st-tiny', 'valid fixture', () => ({ 'm.safetensors': denseBase('tiny_3_5_1_seed0', 'safetensors') }));
  await add('control', 'safetensors', 'st-conv-sidecar', 'valid conv fixture + sidecar', () => ({ 'm.safetensors': convBase('cnn1x8_maxpool_ties_seed5', 'safetensors'), 'm.dtd.json': convSidecar('cnn1x8_maxpool_ties_seed5')! }));
  await add('control', 'json', 'json-tiny', 'valid fixture', () => ({ 'm.json': denseBase('tiny_3_5_1_seed0', 'json') }));
  await add('control', 'tfjs', 'tfjs', 'valid TF.js model', () => ({ 'model.json': utf8(JSON.stringify(tfjs.modelJson)), [tfjs.shardName]: tfjs.shard }));
  await add('control', 'keras', 'keras', 'valid .keras', () => ({ 'm.keras': read(path.join(MODELS, 'keras', 'cnn3x10_bn_gap_seed2.keras')) }));
  await add('control', 'keras', 'keras-small', 'valid small .keras written here', async () => ({ 'm.keras': kerasArchive(keras3Config(SMALL.layers, [null, SMALL.inputs]), await kerasWeightsH5(SMALL, rng)) }));
  await add('control', 'h5', 'h5', 'valid legacy .h5', () => ({ 'm.h5': read(path.join(MODELS, 'keras', 'cnn3x10_bn_gap_seed2.h5')) }));
  await add('control', 'h5', 'h5-small-chunked', 'valid small .h5 written here (gzip-chunked kernel)', async () => ({ 'm.h5': await kerasLegacyH5(MARKED, rng, { chunkFirst: true }) }));
  await add('control', 'pytorch', 'pt', 'valid .pt', () => ({ 'm.pt': read(path.join(MODELS, 'pytorch', 'mlp_3_4_2.pt')) }));
  await add('control', 'pytorch', 'pt-conv-sidecar', 'valid conv .pt + sidecar', () => ({ 'm.pt': read(path.join(MODELS, 'pytorch', 'cnn1x8_bn_stride2_seed1.pt')), 'm.dtd.json': read(path.join(MODELS, 'pytorch', 'cnn1x8_bn_stride2_seed1.dtd.json')) }));
  const tinyIn = { 'm.onnx': tinyOnnx };
  const convOnnx = convBase('cnn1x8_maxpool_ties_seed5', 'onnx');
  const grey8 = png(8, 8, 1, (x, y) => (x * 31 + y * 17) & 0xff);
  const rgba8 = new Uint8Array(8 * 8 * 4).map((_, i) => (i % 4 === 3 ? 255 : (i * 37) & 0xff));
  const jpeg8 = new Uint8Array(jpeg.encode({ data: rgba8, width: 8, height: 8 }, 90).data);
  await add('control', 'input-json', 'in-json', 'valid JSON input', () => ({ ...tinyIn, 'x.json': utf8('[0.1, 0.2, 0.3]') }), { input: 'x.json' });
  await add('control', 'input-csv', 'in-csv', 'valid CSV input', () => ({ ...tinyIn, 'x.csv': utf8('a,b,c\n0.1,0.2,0.3\n') }), { input: 'x.csv' });
  await add('control', 'input-npy', 'in-npy', 'valid .npy input', () => ({ ...tinyIn, 'x.npy': npy("{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }", f64([0.1, 0.2, 0.3])) }), { input: 'x.npy' });
  await add('control', 'input-png', 'in-png', 'valid PNG input', () => ({ 'm.onnx': convOnnx, 'x.png': grey8 }), { input: 'x.png' });
  await add('control', 'input-jpeg', 'in-jpeg', 'valid JPEG input', () => ({ 'm.onnx': convOnnx, 'x.jpg': jpeg8 }), { input: 'x.jpg' });

  // ===== 1: unbounded reads =====
  await add('unbounded-read', 'onnx', 'model-devzero', 'model symlinked to /dev/zero', () => ({ 'm.onnx': { link: '/dev/zero' } }));
  await add('unbounded-read', 'safetensors', 'model-devzero', 'model symlinked to /dev/zero', () => ({ 'm.safetensors': { link: '/dev/zero' } }));
  await add('unbounded-read', 'pytorch', 'model-devzero', 'model symlinked to /dev/zero', () => ({ 'm.pt': { link: '/dev/zero' } }));
  await add('unbounded-read', 'onnx', 'sidecar-devzero', 'sidecar symlinked to /dev/zero', () => ({ 'm.onnx': tinyOnnx, 'm.dtd.json': { link: '/dev/zero' } }));
  await add('unbounded-read', 'safetensors', 'sidecar-devzero', 'sidecar symlinked to /dev/zero', () => ({ 'm.safetensors': denseBase('tiny_3_5_1_seed0', 'safetensors'), 'm.dtd.json': { link: '/dev/zero' } }));
  await add('unbounded-read', 'tfjs', 'shard-devzero', 'TF.js shard symlinked to /dev/zero', () => ({ 'model.json': utf8(JSON.stringify(tfjs.modelJson)), [tfjs.shardName]: { link: '/dev/zero' } }));
  await add('unbounded-read', 'json', 'model-nested-30mb', 'a 30 MB [[[…]]] model.json', () => ({ 'model.json': nested('[', '0', ']', 15_000_000) }));
  await add('unbounded-read', 'onnx', 'sidecar-30mb-nested', 'a 30 MB [[[…]]] sidecar', () => ({ 'm.onnx': tinyOnnx, 'm.dtd.json': nested('[', '0', ']', 15_000_000) }));
  await add('unbounded-read', 'onnx', 'model-dev-urandom', 'model symlinked to /dev/urandom', () => ({ 'm.onnx': { link: '/dev/urandom' } }));
  await add('unbounded-read', 'onnx', 'model-fifo', 'model is a FIFO', () => ({ 'm.onnx': { fifo: true } }));

  // ===== 2: reads outside the model's folder =====
  const tinyJson = denseBase('tiny_3_5_1_seed0', 'json');
  const tinySt = denseBase('tiny_3_5_1_seed0', 'safetensors');
  await add('outside-read', 'onnx', 'sidecar-etc-passwd', 'sidecar symlinked to /etc/passwd', () => ({ 'm.onnx': tinyOnnx, 'm.dtd.json': { link: '/etc/passwd' } }));
  await add('outside-read', 'safetensors', 'sidecar-etc-passwd', 'sidecar symlinked to /etc/passwd', () => ({ 'm.safetensors': tinySt, 'm.dtd.json': { link: '/etc/passwd' } }));
  await add('outside-read', 'safetensors', 'sidecar-outside-secret', 'sidecar symlinked to a text file outside', () => ({ 'm.safetensors': tinySt, 'm.dtd.json': { link: '@outside/secret.txt' } }));
  await add('outside-read', 'safetensors', 'sidecar-outside-valid', 'sidecar symlinked to a valid sidecar outside', () => ({ 'm.safetensors': tinySt, 'm.dtd.json': { link: '@outside/sidecar.dtd.json' } }));
  await add('outside-read', 'json', 'sidecar-outside-valid', 'sidecar of a JSON model symlinked outside', () => ({ 'm.json': tinyJson, 'm.dtd.json': { link: '@outside/sidecar.dtd.json' } }));
  await add('outside-read', 'pytorch', 'sidecar-etc-passwd', 'sidecar of a .pt symlinked to /etc/passwd', () => ({ 'm.pt': read(path.join(MODELS, 'pytorch', 'mlp_3_4_2.pt')), 'm.dtd.json': { link: '/etc/passwd' } }));
  await add('outside-read', 'onnx', 'sidecar-fifo', 'sidecar is a FIFO', () => ({ 'm.onnx': tinyOnnx, 'm.dtd.json': { fifo: true } }));
  await add('outside-read', 'safetensors', 'sidecar-folder', 'sidecar is a folder', () => ({ 'm.safetensors': tinySt, 'm.dtd.json/x': utf8('{}') }));
  const tfjsWith = (paths: string[], files: Record<string, FileSpec> = {}) => () => {
    const mj = structuredClone(tfjs.modelJson);
    mj.weightsManifest[0].paths = paths;
    return { 'model.json': utf8(JSON.stringify(mj)), ...files };
  };
  await add('outside-read', 'tfjs', 'shard-link-outside-right-size', 'shard symlinked to a right-sized file outside (would be used as weights)', tfjsWith([tfjs.shardName], { [tfjs.shardName]: { link: '@outside/shard.bin' } }));
  await add('outside-read', 'tfjs', 'shard-link-etc-passwd', 'shard symlinked to /etc/passwd (size leak)', tfjsWith([tfjs.shardName], { [tfjs.shardName]: { link: '/etc/passwd' } }));
  await add('outside-read', 'tfjs', 'shard-subfolder-link-etc', 'shard in a sub-folder symlinked to /etc', tfjsWith(['sub/passwd'], { sub: { link: '/etc' } }));
  await add('outside-read', 'tfjs', 'shard-subfolder-link-outside', 'shard in a sub-folder symlinked to a folder outside holding a valid shard', tfjsWith([`sub/${tfjs.shardName}`], { sub: { link: '@outside/sub' } }));
  await add('outside-read', 'tfjs', 'shard-fifo', 'shard is a FIFO', tfjsWith([tfjs.shardName], { [tfjs.shardName]: { fifo: true } }));
  await add('outside-read', 'tfjs', 'shard-folder', 'shard is a folder', tfjsWith([tfjs.shardName], { [`${tfjs.shardName}/x`]: tfjs.shard }));
  const traversals = ['../outside/shard.bin', '../../outside/shard.bin', '/etc/passwd', 'file:///etc/passwd', 'http://127.0.0.1:9/shard.bin', '..\\..\\outside\\shard.bin', 'sub/../../x.bin', './../x.bin', 'C:\\Windows\\win.ini', '\\\\server\\share\\x.bin', '%2e%2e/x.bin', '/proc/self/environ', '..%2fx.bin', '....//x.bin', `${tfjs.shardName}\u0000.png`];
  for (const [i, p] of traversals.entries()) {
    await add('outside-read', 'tfjs', `shard-path-${i}`, `shard path ${JSON.stringify(p)}`, tfjsWith([p]));
  }
  await add('outside-read', 'tfjs', 'shard-absolute-real', 'shard path: the absolute path of a real valid shard outside', () => tfjsWith([path.join(outside, 'shard.bin')])());
  const extLocations: [string, string, Record<string, FileSpec>][] = [
    ['parent', '../../outside/weights.bin', {}],
    ['absolute', path.join(outside, 'weights.bin'), {}],
    ['etc-passwd', '/etc/passwd', {}],
    ['link-outside', 'weights.bin', { 'weights.bin': { link: '@outside/weights.bin' } }],
    ['link-etc-passwd', 'weights.bin', { 'weights.bin': { link: '/etc/passwd' } }],
    ['link-devzero', 'weights.bin', { 'weights.bin': { link: '/dev/zero' } }],
    ['subfolder-link', 'sub/weights.bin', { sub: { link: '@outside' } }],
    ['fifo', 'weights.bin', { 'weights.bin': { fifo: true } }],
    ['inside-valid', 'weights.bin', {}],
  ];
  for (const [name, loc, files] of extLocations) {
    await add('outside-read', 'onnx', `external-data-${name}`, `ONNX initializer with external data at ${JSON.stringify(loc)}`, () => ({
      'm.onnx': onnxExternal(tinyOnnx, loc),
      ...(name === 'inside-valid' ? { 'weights.bin': new Uint8Array(extLen) } : {}),
      ...files,
    }));
  }
  await add('outside-read', 'h5', 'external-link-etc-passwd', 'HDF5 external link to /etc/passwd as a weight', async () => ({
    'm.h5': await kerasLegacyH5(SMALL, rng, { weight: (g, layer) => (layer === 'dense' ? (g.create_external_link('/etc/passwd', '/x', 'kernel:0'), g.create_dataset({ name: 'bias:0', data: new Float32Array(3), shape: [3] }), true) : false) }),
  }));
  await add('outside-read', 'h5', 'external-link-outside', 'HDF5 external link to a valid .h5 outside', async () => {
    const target = path.join(outside, 'target.h5');
    fs.writeFileSync(target, await kerasLegacyH5(SMALL, rng));
    return { 'm.h5': await kerasLegacyH5(SMALL, rng, { weight: (g, layer) => (layer === 'dense' ? (g.create_external_link(target, '/model_weights/dense/dense/kernel:0', 'kernel:0'), g.create_dataset({ name: 'bias:0', data: new Float32Array(3), shape: [3] }), true) : false) }) };
  });

  // ===== 3: markup in names =====
  for (const [i, evil] of MARKUP_NAMES.entries()) {
    await add('markup', 'onnx', `onnx-op-type-${i}`, 'unsupported ONNX op_type with a hostile name', () => {
      const m = onnxModel(tinyOnnx);
      m.graph!.node![1].opType = evil;
      m.graph!.node![1].name = evil;
      return { 'm.onnx': onnxBytes(m) };
    });
    await add('markup', 'onnx', `onnx-input-name-${i}`, 'ONNX graph input and initializer names', () => {
      const m = onnxModel(tinyOnnx);
      m.graph!.initializer![0].name = evil;
      return { 'm.onnx': onnxBytes(m) };
    });
    await add('markup', 'safetensors', `st-key-${i}`, 'safetensors key with a hostile name', () => ({ 'm.safetensors': safetensors({ [evil]: { dtype: 'F32', shape: [2, 2], data_offsets: [0, 16] } }, f32([1, 2, 3, 4])) }));
    await add('markup', 'json', `json-layer-${i}`, 'JSON layer with a hostile name and a bad activation', () => ({ 'm.json': utf8(JSON.stringify({ input_size: 2, layers: [{ name: evil, in_features: 2, out_features: 1, weight: [[1, 1]], bias: [0], activation: evil }] })) }));
    await add('markup', 'pytorch', `pickle-global-${i}`, 'pickle GLOBAL with a hostile name', () => ({ 'm.pt': writePt({}, { pickle: globalCallPickle('os', evil) }) }), { tags: ['pickle'] });
    await add('markup', 'tfjs', `tfjs-layer-${i}`, 'TF.js layer class and name', () => {
      const mj = structuredClone(tfjs.modelJson);
      mj.modelTopology.config.layers[1].class_name = evil;
      mj.modelTopology.config.layers[1].config.name = evil;
      return { 'model.json': utf8(JSON.stringify(mj)), [tfjs.shardName]: tfjs.shard };
    });
    await add('markup', 'keras', `keras-layer-${i}`, '.keras layer class and name', async () => ({ 'm.keras': kerasArchive(keras3Config([{ name: evil, units: 3 }], [null, 4], [{ module: 'keras.layers', class_name: evil, config: { name: evil } }]), await kerasWeightsH5(SMALL, rng)) }));
  }
  await add('markup', 'safetensors', 'sidecar-values', 'sidecar values with hostile text', () => ({ 'm.safetensors': tinySt, 'm.dtd.json': utf8(JSON.stringify({ finalActivation: MARKUP_NAMES[0], outputSelection: { start: MARKUP_NAMES[1], stop: 1 } })) }));
  await add('markup', 'input-csv', 'csv-header', 'CSV input with hostile header and values', () => ({ ...tinyIn, 'x.csv': utf8(`${MARKUP_NAMES[0]},${MARKUP_NAMES[3]},c\n${MARKUP_NAMES[1]},1,2\n`) }), { input: 'x.csv' });
  await add('markup', 'input-json', 'json-value', 'JSON input with hostile strings', () => ({ ...tinyIn, 'x.json': utf8(JSON.stringify([MARKUP_NAMES[0], MARKUP_NAMES[3], 1])) }), { input: 'x.json' });
  await add('markup', 'h5', 'h5-layer-name', 'legacy .h5 layer names', async () => {
    const evilSpec: DenseSpec = { inputs: 4, layers: [{ name: MARKUP_NAMES[0].replace(/\//g, '_'), units: 3, activation: MARKUP_NAMES[3] }, { name: 'out', units: 2, activation: 'linear' }] };
    return { 'm.h5': await kerasLegacyH5(evilSpec, rng) };
  });

  // ===== 4: fatal V8 crashes =====
  await add('v8-crash', 'pytorch', 'pickle-none-2e8', 'pickle of 2×10⁸ NONE opcodes (about 200 KB zipped)', () => ({ 'm.pt': ptWithPickle(repeatPickle(0x4e, 200)) }), { tags: ['pickle'] });
  await add('v8-crash', 'pytorch', 'pickle-mark-2e7', 'pickle of 2×10⁷ MARK opcodes', () => ({ 'm.pt': ptWithPickle(repeatPickle(0x28, 20)) }), { tags: ['pickle'] });
  await add('v8-crash', 'pytorch', 'pickle-empty-list-5e7', 'pickle of 5×10⁷ EMPTY_LIST opcodes', () => ({ 'm.pt': ptWithPickle(repeatPickle(0x5d, 50)) }), { tags: ['pickle'] });
  await add('v8-crash', 'pytorch', 'pickle-memoize-5e7', 'pickle of NONE then 5×10⁷ MEMOIZE', () => ({ 'm.pt': ptWithPickle(repeatPickle(0x94, 50, Uint8Array.from([0x80, 4, 0x4e]))) }), { tags: ['pickle'] });
  await add('v8-crash', 'h5', 'gzip-chunk-1gib', 'legacy .h5: a gzip chunk that inflates to 1 GiB (16384×16384 float32) in a 1 MB file', async () => ({ 'm.h5': patchMarkedDataset(await kerasLegacyH5(MARKED, rng, { chunkFirst: true }), [16384, 16384], [16384, 16384], zerosZlib(1024)) }));
  await add('v8-crash', 'keras', 'gzip-chunk-1gib', '.keras: model.weights.h5 with a gzip chunk of 1 GiB', async () => ({ 'm.keras': kerasArchive(keras3Config(MARKED.layers, [null, 77]), patchMarkedDataset(await kerasWeightsH5(MARKED, rng, { chunkFirst: true }), [16384, 16384], [16384, 16384], zerosZlib(1024))) }));
  await add('v8-crash', 'h5', 'gzip-chunk-256mib', 'legacy .h5: a gzip chunk that inflates to 256 MiB', async () => ({ 'm.h5': patchMarkedDataset(await kerasLegacyH5(MARKED, rng, { chunkFirst: true }), [8192, 8192], [8192, 8192], zerosZlib(256)) }));
  await add('v8-crash', 'h5', 'sparse-30000x30000', 'legacy .h5: a chunked dataset declared 30000×30000 with one chunk written', async () => ({ 'm.h5': patchMarkedDataset(await kerasLegacyH5(MARKED, rng, { chunkFirst: true }), [30000, 30000]) }));
  await add('v8-crash', 'h5', 'sparse-1e5x1e5', 'legacy .h5: a chunked dataset declared 100000×100000 with one chunk written', async () => ({ 'm.h5': patchMarkedDataset(await kerasLegacyH5(MARKED, rng, { chunkFirst: true }), [100000, 100000]) }));
  await add('v8-crash', 'keras', 'sparse-30000x30000', '.keras: a sparse 30000×30000 dataset', async () => ({ 'm.keras': kerasArchive(keras3Config(MARKED.layers, [null, 77]), patchMarkedDataset(await kerasWeightsH5(MARKED, rng, { chunkFirst: true }), [30000, 30000])) }));
  const bigShard = new Uint8Array(4 * 1024 * 1024);
  await add('v8-crash', 'tfjs', 'shard-listed-1200-times', 'one 4 MiB shard listed 1200 times in paths', () => {
    const mj = structuredClone(tfjs.modelJson);
    mj.weightsManifest[0].paths = Array(1200).fill('big.bin');
    return { 'model.json': utf8(JSON.stringify(mj)), 'big.bin': bigShard };
  });
  await add('v8-crash', 'tfjs', 'shard-listed-1200-times-groups', 'one 4 MiB shard in 1200 weight groups', () => {
    const mj = structuredClone(tfjs.modelJson);
    mj.weightsManifest = Array.from({ length: 1200 }, () => ({ paths: ['big.bin'], weights: [] }));
    return { 'model.json': utf8(JSON.stringify(mj)), 'big.bin': bigShard };
  });

  // ===== 5: hangs =====
  await add('hang', 'h5', 'shared-btree-2-levels', 'legacy .h5: chunk B-tree whose 64 root entries share one node of 1000 entries sharing one leaf (64 000 leaf visits)', async () => ({ 'm.h5': sharedBTree(await kerasLegacyH5(MARKED, rng, { chunkFirst: true }), 2, 64, 1000) }));
  await add('hang', 'h5', 'shared-btree-3-levels', 'legacy .h5: shared chunk B-tree nodes over 3 levels (64 × 1000 × 1000 leaf visits)', async () => ({ 'm.h5': sharedBTree(await kerasLegacyH5(MARKED, rng, { chunkFirst: true }), 3, 64, 1000) }));
  await add('hang', 'keras', 'shared-btree-3-levels', '.keras: shared chunk B-tree nodes over 3 levels', async () => ({ 'm.keras': kerasArchive(keras3Config(MARKED.layers, [null, 77]), sharedBTree(await kerasWeightsH5(MARKED, rng, { chunkFirst: true }), 3, 64, 1000)) }));
  await add('hang', 'h5', 'btree-self-loop', 'legacy .h5: chunk B-tree root whose children are itself (level 1 → level 0 check)', async () => {
    const b = await kerasLegacyH5(MARKED, rng, { chunkFirst: true });
    const tree = chunkTree(b);
    const out = b.slice();
    out[tree + 5] = 1; // level 1, child = itself
    new DataView(out.buffer).setBigUint64(tree + TREE_HEADER + CHUNK_KEY_2D, BigInt(tree), true);
    return { 'm.h5': out };
  });
  for (const [i, pads] of [[1000, 1000, 1000, 1000], [100000, 100000, 100000, 100000], [0, 0, 1e9, 1e9]].entries()) {
    await add('hang', 'onnx', `conv-pads-${i}`, `ONNX Conv with pads=${JSON.stringify(pads)}`, () => {
      const m = onnxModel(convOnnx);
      const conv = m.graph!.node!.find((n) => n.opType === 'Conv')!;
      conv.attribute!.find((a) => a.name === 'pads')!.ints = pads;
      return { 'm.onnx': onnxBytes(m) };
    });
  }
  // With global average pooling the layer after the conv does not see the padded size, so nothing downstream refuses it.
  for (const pad of [1000, 4000]) {
    await add('hang', 'onnx', `conv-pads-${pad}-global-pool`, `ONNX Conv with pads=[${pad}]*4 before a global average pool`, () => {
      const m = onnxModel(convBase('cnn3x10_bn_gap_seed2', 'onnx'));
      const conv = m.graph!.node!.find((n) => n.opType === 'Conv')!;
      conv.attribute!.find((a) => a.name === 'pads')!.ints = [pad, pad, pad, pad];
      return { 'm.onnx': onnxBytes(m) };
    });
  }
  await add('hang', 'safetensors', 'sidecar-padding-1000-global-pool', 'safetensors + sidecar: padding [1000, 1000] before a global average pool', () => {
    const sc = JSON.parse(new TextDecoder().decode(convSidecar('cnn3x10_bn_gap_seed2')!));
    sc.layers.find((l: { type: string }) => l.type === 'conv2d').padding = [1000, 1000];
    return { 'm.safetensors': convBase('cnn3x10_bn_gap_seed2', 'safetensors'), 'm.dtd.json': utf8(JSON.stringify(sc)) };
  });
  await add('hang', 'pytorch', 'conv-sidecar-padding-1000', '.pt with a sidecar saying padding [1000, 1000]', () => {
    const sc = JSON.parse(fs.readFileSync(path.join(MODELS, 'pytorch', 'cnn1x8_bn_stride2_seed1.dtd.json'), 'utf8'));
    sc.layers[0].padding = [1000, 1000];
    return { 'm.pt': read(path.join(MODELS, 'pytorch', 'cnn1x8_bn_stride2_seed1.pt')), 'm.dtd.json': utf8(JSON.stringify(sc)) };
  });
  await add('hang', 'pytorch', 'tensor-1e8x0', 'PyTorch tensor of size [1e8, 0]', () => ({ 'm.pt': writePt({ 'l.weight': { shape: [1e8, 0], values: [] }, 'l.bias': { shape: [1e8], values: [] } }) }), { tags: ['pickle'] });
  await add('hang', 'onnx', 'random-input-never-positive-conv', '--random-input on cnn1x8_maxpool_avgpool_seed0, output 0', () => ({ 'm.onnx': convBase('cnn1x8_maxpool_avgpool_seed0', 'onnx') }), { args: ['--random-input', '--output', '0'] });
  await add('hang', 'json', 'random-input-never-positive-wide', '--random-input on a 2000-wide net whose output is never positive', () => ({ 'm.json': denseJson([2000, 2000, 1], (l) => (l === 0 ? 0.001 : -1), () => -1) }));
  await add('hang', 'json', 'deep-narrow-3000', 'a 3000-layer network of width 4', () => ({ 'm.json': denseJson([4, ...Array(3000).fill(4), 2], (l, o, i) => (o === i ? 1 : 0.01), () => 0.01) }));
  await add('hang', 'json', 'deep-narrow-3000-full-backward', 'a 3000-layer network, method full-backward', () => ({ 'm.json': denseJson([4, ...Array(3000).fill(4), 2], (l, o, i) => (o === i ? 1 : 0.01), () => 0.01) }), { args: ['--random-input', '--method', 'full-backward'] });
  await add('hang', 'json', 'wide-full-backward-polytope', 'full-backward with the polytope finder on 64×64×64', () => ({ 'm.json': denseJson([64, 64, 64, 64, 2], (l, o, i) => Math.sin(l * 7 + o * 3 + i), () => 0.1) }), { args: ['--random-input', '--method', 'full-backward', '--root-finder', 'polytope'] });

  // ===== 6: allocation before validation =====
  await add('alloc', 'json', 'weights-1e7x1e7-empty', 'JSON layer of 1e7×1e7 with "weight": []', () => ({ 'm.json': utf8(JSON.stringify({ input_size: 1e7, layers: [{ name: 'big', in_features: 1e7, out_features: 1e7, weight: [], bias: [] }] })) }));
  await add('alloc', 'json', 'weights-1e5x1e5-empty', 'JSON layer of 1e5×1e5 with "weight": []', () => ({ 'm.json': utf8(JSON.stringify({ input_size: 1e5, layers: [{ name: 'big', in_features: 1e5, out_features: 1e5, weight: [] }] })) }));
  await add('alloc', 'json', 'input-size-1e9', 'JSON network with input_size 1e9', () => ({ 'm.json': utf8(JSON.stringify({ input_size: 1e9, layers: [{ in_features: 1, out_features: 1, weight: [[1]] }] })) }));
  for (const [i, shape] of [[1e9, 0], [1e9, 1e9], [-1, 5], [2 ** 53, 1], [0, 1e9], [65536, 65536]].entries()) {
    await add('alloc', 'safetensors', `shape-${i}`, `safetensors tensor of shape ${JSON.stringify(shape)}`, () => ({ 'm.safetensors': safetensors({ 'layer1.linear.weight': { dtype: 'F32', shape, data_offsets: [0, 0] }, 'layer1.linear.bias': { dtype: 'F32', shape: [shape[0]], data_offsets: [0, 0] } }) }));
    await add('alloc', 'onnx', `initializer-dims-${i}`, `ONNX initializer with dims ${JSON.stringify(shape)}`, () => {
      const m = onnxModel(tinyOnnx);
      m.graph!.initializer![0].dims = shape;
      m.graph!.initializer![0].rawData = new Uint8Array(0);
      m.graph!.initializer![0].floatData = [];
      return { 'm.onnx': onnxBytes(m) };
    });
  }
  await add('alloc', 'onnx', 'input-dims-1e9', 'ONNX graph input [1, 1e9] (no initializer change)', () => {
    const m = onnxModel(tinyOnnx);
    m.graph!.input![0].type!.tensorType!.shape!.dim![1] = { dimValue: 1e9 };
    return { 'm.onnx': onnxBytes(m) };
  });
  await add('alloc', 'onnx', 'conv-input-65535', 'ONNX conv graph input [1, 1, 65535, 65535]', () => {
    const m = onnxModel(convOnnx);
    const dims = m.graph!.input![0].type!.tensorType!.shape!.dim!;
    dims[2] = { dimValue: 65535 };
    dims[3] = { dimValue: 65535 };
    return { 'm.onnx': onnxBytes(m) };
  });
  const ptTensor = (shape: number[], stride: number[], offset = 0, numel = 4): Uint8Array => {
    const w = new PickleWriter().proto();
    w.global('collections', 'OrderedDict').put().emptyTuple().reduce().put().mark();
    for (const [i, key] of ['0.weight', '0.bias'].entries()) {
      w.str(key).global('torch._utils', '_rebuild_tensor_v2').put().mark();
      w.mark().str('storage').global('torch', 'FloatStorage').put().str(String(i)).str('cpu').int(numel).tuple().binpersid();
      w.int(offset).intTuple(i === 0 ? shape : [shape[0]]).intTuple(i === 0 ? stride : [stride[0]]).falsy();
      w.global('collections', 'OrderedDict').emptyTuple().reduce();
      w.tuple().reduce().put();
    }
    w.setitems().stop();
    const stored = Math.min(numel, 4); // a storage that declares more elements than it holds
    const storage: Record<string, PtTensor> = { '0.weight': { shape: [stored], values: Array(stored).fill(0.5) }, '0.bias': { shape: [stored], values: Array(stored).fill(0.1) } };
    return writePt(storage, { pickle: w.bytes() });
  };
  await add('alloc', 'pytorch', 'stride-0-view', 'PyTorch stride-0 view [100000, 100000] over 4 floats', () => ({ 'm.pt': ptTensor([100000, 100000], [0, 0]) }), { tags: ['pickle'] });
  await add('alloc', 'pytorch', 'stride-0-view-1e8', 'PyTorch stride-0 view [1e4, 1e4] over 4 floats', () => ({ 'm.pt': ptTensor([10000, 10000], [0, 0]) }), { tags: ['pickle'] });
  await add('alloc', 'pytorch', 'negative-size', 'PyTorch negative sizes', () => ({ 'm.pt': ptTensor([-5, 3], [3, 1]) }), { tags: ['pickle'] });
  await add('alloc', 'pytorch', 'negative-stride', 'PyTorch negative strides', () => ({ 'm.pt': ptTensor([2, 2], [-1, -1]) }), { tags: ['pickle'] });
  await add('alloc', 'pytorch', 'offset-past-storage', 'PyTorch storage offset past the storage', () => ({ 'm.pt': ptTensor([2, 2], [2, 1], 1e9) }), { tags: ['pickle'] });
  await add('alloc', 'pytorch', 'numel-2e31', 'PyTorch storage declaring 2^31 − 1 elements', () => ({ 'm.pt': ptTensor([2, 2], [2, 1], 0, 2 ** 31 - 1) }), { tags: ['pickle'] });
  await add('alloc', 'keras', 'batch-shape-1e5x1e5', '.keras InputLayer batch_shape [null, 100000, 100000, 3] before a Conv2D', async () => {
    const cfg = JSON.parse(new TextDecoder().decode(unzipSync(read(path.join(MODELS, 'keras', 'cnn3x10_bn_gap_seed2.keras')))['config.json']));
    cfg.config.layers[0].config.batch_shape = [null, 100000, 100000, 3];
    return { 'm.keras': kerasArchive(cfg, unzipSync(read(path.join(MODELS, 'keras', 'cnn3x10_bn_gap_seed2.keras')))['model.weights.h5']) };
  });
  await add('alloc', 'keras', 'dense-units-1e9', '.keras Dense with 1e9 units', async () => ({ 'm.keras': kerasArchive(keras3Config([{ name: 'dense', units: 1e9 }], [null, 1e5]), await kerasWeightsH5(SMALL, rng)) }));
  await add('alloc', 'h5', 'batch-input-shape-1e5x1e5', 'legacy .h5 batch_input_shape 100000×100000', async () => ({ 'm.h5': await kerasLegacyH5(SMALL, rng, { config: JSON.stringify(legacyConfig(SMALL.layers, [null, 100000, 100000])) }) }));
  await add('alloc', 'tfjs', 'weight-shape-1e9x0', 'TF.js weight of shape [1e9, 0]', () => {
    const mj = structuredClone(tfjs.modelJson);
    mj.weightsManifest[0].weights[0].shape = [1e9, 0];
    return { 'model.json': utf8(JSON.stringify(mj)), [tfjs.shardName]: tfjs.shard };
  });
  await add('alloc', 'tfjs', 'weight-shape-1e5x1e5', 'TF.js weight of shape [1e5, 1e5]', () => {
    const mj = structuredClone(tfjs.modelJson);
    mj.weightsManifest[0].weights[0].shape = [1e5, 1e5];
    return { 'model.json': utf8(JSON.stringify(mj)), [tfjs.shardName]: tfjs.shard };
  });
  await add('alloc', 'tfjs', 'batch-input-shape-1e5x1e5', 'TF.js batch_input_shape 100000×100000', () => {
    const mj = structuredClone(tfjs.modelJson);
    mj.modelTopology.config.layers[0].config.batch_input_shape = [null, 100000, 100000, 3];
    return { 'model.json': utf8(JSON.stringify(mj)), [tfjs.shardName]: tfjs.shard };
  });
  await add('alloc', 'safetensors', 'sidecar-input-shape-huge', 'safetensors conv sidecar with inputShape [3, 100000, 100000]', () => {
    const sc = JSON.parse(new TextDecoder().decode(convSidecar('cnn1x8_maxpool_ties_seed5')!));
    sc.inputShape = [1, 100000, 100000];
    return { 'm.safetensors': convBase('cnn1x8_maxpool_ties_seed5', 'safetensors'), 'm.dtd.json': utf8(JSON.stringify(sc)) };
  });
  await add('alloc', 'input-npy', 'npy-shape-1e9', '.npy declaring shape (1000000000,)', () => ({ ...tinyIn, 'x.npy': npy("{'descr': '<f8', 'fortran_order': False, 'shape': (1000000000,), }", f64([1, 2, 3])) }), { input: 'x.npy' });
  await add('alloc', 'input-npy', 'npy-shape-overflow', '.npy declaring shape (2**40, 2**40)', () => ({ ...tinyIn, 'x.npy': npy("{'descr': '<f8', 'fortran_order': False, 'shape': (1099511627776, 1099511627776), }", f64([1, 2, 3])) }), { input: 'x.npy' });
  await add('alloc', 'input-png', 'png-ihdr-65535', 'PNG declaring 65535×65535 (and 8 bytes of data)', () => ({ 'm.onnx': convOnnx, 'x.png': concat(PNG_MAGIC, ihdr(65535, 65535), pngChunk('IDAT', new Uint8Array(zlib.deflateSync(new Uint8Array(8)))), pngChunk('IEND', new Uint8Array(0))) }), { input: 'x.png' });
  await add('alloc', 'input-jpeg', 'jpeg-sof-65535', 'JPEG whose SOF says 65535×65535', () => {
    const b = jpeg8.slice();
    const sof = findAll(b, Uint8Array.from([0xff, 0xc0]))[0];
    new DataView(b.buffer).setUint16(sof + 5, 65535, false);
    new DataView(b.buffer).setUint16(sof + 7, 65535, false);
    return { 'm.onnx': convOnnx, 'x.jpg': b };
  }, { input: 'x.jpg' });

  // ===== 7: deep nesting =====
  await add('nesting', 'input-json', 'input-100k-deep', 'input JSON nested 100 000 deep', () => ({ ...tinyIn, 'x.json': nested('[', '1', ']', 100_000) }), { input: 'x.json' });
  await add('nesting', 'input-json', 'input-x-100k-deep', 'input {"x": …} nested 100 000 deep', () => ({ ...tinyIn, 'x.json': nested('{"x":', '1', '}', 100_000) }), { input: 'x.json' });
  await add('nesting', 'input-json', 'input-image-100k-deep', 'image-model input nested 100 000 deep', () => ({ 'm.onnx': convOnnx, 'x.json': nested('[', '1', ']', 100_000) }), { input: 'x.json' });
  await add('nesting', 'json', 'model-name-100k-deep', 'JSON model whose layer name is nested 100 000 deep', () => ({ 'm.json': nested('[', '0', ']', 100_000, '{"input_size":2,"layers":[{"in_features":2,"out_features":1,"weight":[[1,1]],"name":', '}]}') }));
  await add('nesting', 'json', 'model-activation-100k-deep', 'JSON model whose activation is nested 100 000 deep (echoed in the error)', () => ({ 'm.json': nested('[', '0', ']', 100_000, '{"input_size":2,"layers":[{"in_features":2,"out_features":1,"weight":[[1,1]],"activation":', '}]}') }));
  await add('nesting', 'json', 'model-weight-100k-deep', 'JSON model whose weight value is nested 100 000 deep', () => ({ 'm.json': nested('[', '0', ']', 100_000, '{"input_size":2,"layers":[{"in_features":2,"out_features":1,"weight":[', ']}]}') }));
  await add('nesting', 'json', 'model-selection-100k-deep', 'JSON model whose output_selection is nested 100 000 deep', () => ({ 'm.json': nested('{"a":', '0', '}', 100_000, '{"input_size":2,"layers":[{"in_features":2,"out_features":1,"weight":[[1,1]]}],"output_selection":', '}') }));
  await add('nesting', 'safetensors', 'sidecar-100k-deep', 'sidecar nested 100 000 deep', () => ({ 'm.safetensors': tinySt, 'm.dtd.json': nested('{"a":', '0', '}', 100_000) }));
  await add('nesting', 'safetensors', 'sidecar-field-100k-deep', 'sidecar finalActivation nested 100 000 deep', () => ({ 'm.safetensors': tinySt, 'm.dtd.json': nested('[', '0', ']', 100_000, '{"finalActivation":', '}') }));
  await add('nesting', 'safetensors', 'sidecar-preprocessing-100k-deep', 'sidecar preprocessing nested 100 000 deep', () => ({ 'm.safetensors': convBase('cnn1x8_maxpool_ties_seed5', 'safetensors'), 'm.dtd.json': utf8(new TextDecoder().decode(convSidecar('cnn1x8_maxpool_ties_seed5')!).trim().replace(/}$/, `,"preprocessing":{"mean":${'['.repeat(100_000)}0${']'.repeat(100_000)}}}`)) }));
  await add('nesting', 'safetensors', 'header-100k-deep', 'safetensors header nested 100 000 deep', () => ({ 'm.safetensors': safetensors(nested('{"a":', '0', '}', 100_000)) }));
  await add('nesting', 'safetensors', 'metadata-100k-deep', 'safetensors __metadata__ nested 100 000 deep', () => ({ 'm.safetensors': safetensors(nested('{"a":', '"x"', '}', 100_000, '{"__metadata__":', ',"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}'), f32([1])) }));
  await add('nesting', 'tfjs', 'inbound-nodes-100k-deep', 'TF.js functional model whose inbound_nodes nest 100 000 deep', () => ({
    'model.json': nested('[', '"x"', ']', 100_000, '{"format":"layers-model","modelTopology":{"class_name":"Model","config":{"name":"m","layers":[{"class_name":"Dense","name":"d","config":{"name":"d","units":1},"inbound_nodes":', '}],"input_layers":[["d",0,0]],"output_layers":[["d",0,0]]}},"weightsManifest":[]}'),
  }));
  await add('nesting', 'tfjs', 'config-100k-deep', 'TF.js layer config nested 100 000 deep', () => ({ 'model.json': nested('{"a":', '1', '}', 100_000, '{"format":"layers-model","modelTopology":{"class_name":"Sequential","config":{"name":"m","layers":[{"class_name":"Dense","config":', '}]}},"weightsManifest":[]}') }));
  await add('nesting', 'keras', 'config-100k-deep', '.keras config.json nested 100 000 deep', async () => ({ 'm.keras': kerasArchive(nested('{"config":', '1', '}', 100_000), await kerasWeightsH5(SMALL, rng)) }));
  await add('nesting', 'h5', 'model-config-100k-deep', 'legacy .h5 model_config nested 100 000 deep', async () => ({ 'm.h5': await kerasLegacyH5(SMALL, rng, { config: new TextDecoder().decode(nested('{"config":', '1', '}', 100_000)) }) }));
  await add('nesting', 'pytorch', 'pickle-appends-500k', 'pickle APPENDS of 500 000 items', () => {
    const p = concat(Uint8Array.from([0x80, 2, 0x5d, 0x28]), new Uint8Array(500_000).fill(0x4e), Uint8Array.from([0x65, 0x2e]));
    return { 'm.pt': ptWithPickle(p) };
  }, { tags: ['pickle'] });
  await add('nesting', 'pytorch', 'pickle-setitems-500k', 'pickle SETITEMS of 250 000 pairs', () => {
    const body = new Uint8Array(500_000);
    for (let i = 0; i < 500_000; i += 2) { body[i] = 0x4b; body[i + 1] = 0; } // BININT1 0 ×250k (key = value = 0)
    return { 'm.pt': ptWithPickle(concat(Uint8Array.from([0x80, 2, 0x7d, 0x28]), body, Uint8Array.from([0x75, 0x2e]))) };
  }, { tags: ['pickle'] });
  await add('nesting', 'pytorch', 'pickle-tuple-nest-100k', 'pickle tuples nested 100 000 deep (MARK…TUPLE)', () => ({ 'm.pt': ptWithPickle(concat(Uint8Array.from([0x80, 2]), new Uint8Array(100_000).fill(0x28), Uint8Array.from([0x4e]), new Uint8Array(100_000).fill(0x74), Uint8Array.from([0x2e]))) }), { tags: ['pickle'] });
  await add('nesting', 'pytorch', 'pickle-list-nest-100k', 'pickle lists nested 100 000 deep (EMPTY_LIST, APPEND)', () => ({ 'm.pt': ptWithPickle(concat(Uint8Array.from([0x80, 2]), new Uint8Array(100_000).fill(0x5d), new Uint8Array(99_999).fill(0x61), Uint8Array.from([0x2e]))) }), { tags: ['pickle'] });
  const manyEntries = (n: number, first: ZipEntry[]) => zip([...first, ...Array.from({ length: n }, (_, i) => ({ name: `junk/${i}`, data: new Uint8Array(0) }))]);
  await add('nesting', 'keras', 'zip-60000-entries', '.keras zip with 60 000 entries', async () => ({ 'm.keras': manyEntries(60_000, [{ name: 'config.json', data: utf8(JSON.stringify(keras3Config(SMALL.layers, [null, 4]))) }, { name: 'model.weights.h5', data: await kerasWeightsH5(SMALL, rng) }]) }));
  await add('nesting', 'pytorch', 'zip-60000-entries', '.pt zip with 60 000 entries', () => ({ 'm.pt': manyEntries(60_000, unzipEntries(read(path.join(MODELS, 'pytorch', 'mlp_3_4_2.pt')))) }), { tags: ['pickle'] });
  await add('nesting', 'pytorch', 'zip-60000-data-entries', '.pt zip with 60 000 archive/data/<i> entries', () => ({ 'm.pt': zip([...unzipEntries(read(path.join(MODELS, 'pytorch', 'mlp_3_4_2.pt'))), ...Array.from({ length: 60_000 }, (_, i) => ({ name: `archive/data/x${i}`, data: new Uint8Array(4) }))]) }), { tags: ['pickle'] });
  const onnxNest = (fieldPath: number[], depth: number, wrap: (inner: Uint8Array) => Uint8Array) => nestedPb(fieldPath, depth, new Uint8Array(0), wrap);
  await add('nesting', 'onnx', 'protobuf-graph-60000-deep', 'ONNX: node attribute graph → node → attribute … 60 000 deep', () => ({
    'm.onnx': onnxNest([1, 5, 6], 20_000, (inner) => new Pb().int(1, 8).msg(8, new Pb().str(1, '').int(2, 13)).bytes(7, inner).finish()),
  }));
  await add('nesting', 'onnx', 'protobuf-unknown-group-60000', 'ONNX with an unknown length-delimited field nested 60 000 deep', () => ({ 'm.onnx': concat(tinyOnnx, onnxNest([99], 60_000, (inner) => inner)) }));
  await add('nesting', 'onnx', 'protobuf-typeproto-60000', 'ONNX value_info TypeProto sequence_type nested 60 000 deep', () => {
    // TypeProto.sequence_type (4) → TypeProto.Sequence.elem_type (1) → …
    const t = nestedPb([4, 1], 30_000, new Uint8Array(0), (x) => x);
    const vi = new Pb().str(1, 'x').bytes(2, t).finish();
    const m = onnxModel(tinyOnnx);
    const g = onnx.GraphProto.encode(m.graph!).finish();
    return { 'm.onnx': new Pb().int(1, 8).msg(8, new Pb().str(1, '').int(2, 13)).bytes(7, concat(g, new Pb().bytes(13, vi).finish())).finish() };
  });

  // ===== 8: non-finite results =====
  await add('non-finite', 'json', 'weights-1e308', 'JSON weights of 1e308: f(x) overflows', () => ({ 'm.json': denseJson([3, 5, 1], () => 1e308, () => 0) }));
  await add('non-finite', 'json', 'weights-1e200-deep', 'JSON weights of 1e200 over 3 layers', () => ({ 'm.json': denseJson([3, 4, 4, 1], () => 1e200, () => 1) }));
  await add('non-finite', 'json', 'weights-1e308-lrp', 'weights of 1e308, method lrp', () => ({ 'm.json': denseJson([3, 5, 1], () => 1e308, () => 0) }), { args: ['--random-input', '--method', 'lrp', '--rule', 'epsilon'] });
  await add('non-finite', 'json', 'weights-1e308-full-backward', 'weights of 1e308, method full-backward', () => ({ 'm.json': denseJson([3, 5, 1], () => 1e308, () => 0) }), { args: ['--random-input', '--method', 'full-backward'] });
  await add('non-finite', 'json', 'weights-1e20-float32', 'weights of 1e20 in float32', () => ({ 'm.json': denseJson([3, 5, 5, 1], () => 1e20, () => 0) }), { args: ['--random-input', '--precision', 'float32', '--backend', 'cpu'] });
  await add('non-finite', 'json', 'weights-1e20-float32-wide', 'weights of 1e20 in float32, 20 wide', () => ({ 'm.json': denseJson([20, 20, 20, 2], (l, o, i) => ((o + i) % 2 ? 1e20 : -1e20), () => 1) }), { args: ['--random-input', '--precision', 'float32', '--backend', 'cpu'] });
  await add('non-finite', 'json', 'alpha2beta1-1200-layers', 'α2β1 over 1200 layers', () => ({ 'm.json': denseJson([4, ...Array(1200).fill(4), 1], (l, o, i) => (o === i ? 1.5 : -0.2), () => 0.01) }), { args: ['--random-input', '--method', 'lrp', '--rule', 'alpha2beta1'] });
  await add('non-finite', 'json', 'growth-1100-layers', '1100 layers of weight 2: activations reach 2^1100', () => ({ 'm.json': denseJson([2, ...Array(1100).fill(2), 1], () => 2, () => 0) }));
  await add('non-finite', 'safetensors', 'f64-1e308', 'safetensors F64 weights of 1e308', () => ({ 'm.safetensors': safetensors({ 'layer1.linear.weight': { dtype: 'F64', shape: [2, 3], data_offsets: [0, 48] }, 'layer1.linear.bias': { dtype: 'F64', shape: [2], data_offsets: [48, 64] } }, f64([1e308, 1e308, 1e308, 1e308, 1e308, 1e308, 0, 0])) }));
  await add('non-finite', 'onnx', 'float-max-weights', 'ONNX float32 weights of 3.4e38', () => {
    const m = onnxModel(tinyOnnx);
    for (const t of m.graph!.initializer!) {
      const n = t.rawData && t.rawData.length ? t.rawData.length / 4 : (t.floatData ?? []).length;
      t.rawData = f32(Array(n).fill(3.4e38));
      t.floatData = [];
    }
    return { 'm.onnx': onnxBytes(m) };
  });
  await add('non-finite', 'input-json', 'input-1e308', 'input values of 1e308 on a valid model', () => ({ ...tinyIn, 'x.json': utf8('[1e308, 1e308, 1e308]') }), { input: 'x.json' });
  await add('non-finite', 'input-csv', 'input-1e999', 'CSV input 1e999 (Infinity)', () => ({ ...tinyIn, 'x.csv': utf8('1e999,1,1\n') }), { input: 'x.csv' });
  await add('non-finite', 'input-npy', 'input-nan', '.npy input with NaN', () => ({ ...tinyIn, 'x.npy': npy("{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }", f64([Number.NaN, 1, 1])) }), { input: 'x.npy' });

  // ===== 9: limits on bytes but not on memory =====
  await add('memory', 'input-png', 'png-second-ihdr-900mp', 'PNG with a second IHDR of 30000×30000 after an 8×8 one (~900 KB)', () => ({
    'm.onnx': convOnnx,
    'x.png': concat(PNG_MAGIC, ihdr(8, 8), ihdr(30000, 30000), pngChunk('IDAT', zerosZlibExact(30000 * 30001)), pngChunk('IEND', new Uint8Array(0))),
  }), { input: 'x.png' });
  await add('memory', 'input-png', 'png-idat-bomb', 'PNG 8×8 whose IDAT inflates to 1 GiB', () => ({ 'm.onnx': convOnnx, 'x.png': concat(PNG_MAGIC, ihdr(8, 8), pngChunk('IDAT', zerosZlib(1024)), pngChunk('IEND', new Uint8Array(0))) }), { input: 'x.png' });
  await add('memory', 'input-png', 'png-7000x7000-rgba16', 'PNG 7000×7000 RGBA 16-bit (49 MP, under the pixel bound, 392 MB decoded)', () => ({ 'm.onnx': convOnnx, 'x.png': concat(PNG_MAGIC, ihdr(7000, 7000, 16, 6), pngChunk('IDAT', zerosZlibExact(7000 * (1 + 7000 * 8))), pngChunk('IEND', new Uint8Array(0))) }), { input: 'x.png' });
  await add('memory', 'keras', 'zip-entry-1999mib', '.keras whose model.weights.h5 inflates to 1999 MiB (just under the 2000 MB bound; 2 MB file)', async () => ({ 'm.keras': zip([{ name: 'config.json', data: utf8(JSON.stringify(keras3Config(SMALL.layers, [null, 4]))) }, zerosEntry('model.weights.h5', 1999)]) }));
  await add('memory', 'keras', 'zip-entry-lies-small', '.keras whose model.weights.h5 declares 1 KB but inflates to 3000 MiB', async () => ({ 'm.keras': zip([{ name: 'config.json', data: utf8(JSON.stringify(keras3Config(SMALL.layers, [null, 4]))) }, { ...zerosEntry('model.weights.h5', 3000), declaredSize: 1024 }]) }));
  await add('memory', 'keras', 'zip-config-1999mib', '.keras whose config.json inflates to 1999 MiB of zeros', async () => ({ 'm.keras': zip([zerosEntry('config.json', 1999), { name: 'model.weights.h5', data: await kerasWeightsH5(SMALL, rng) }]) }));
  await add('memory', 'pytorch', 'zip-data-1999mib', '.pt whose archive/data/0 inflates to 1999 MiB', () => ({ 'm.pt': zip([...unzipEntries(read(path.join(MODELS, 'pytorch', 'mlp_3_4_2.pt'))).filter((e) => e.name !== 'archive/data/0'), zerosEntry('archive/data/0', 1999)]) }), { tags: ['pickle'] });
  await add('memory', 'pytorch', 'zip-pickle-1999mib', '.pt whose data.pkl inflates to 1999 MiB of zeros', () => ({ 'm.pt': zip([zerosEntry('archive/data.pkl', 1999), { name: 'archive/version', data: utf8('3\n') }]) }), { tags: ['pickle'] });
  await add('memory', 'json', 'model-16mb-result', 'a 16 MB JSON model (1000×1000): the result must stay bounded', () => ({ 'm.json': denseJson([1000, 1000, 2], (l, o, i) => ((o * 7 + i * 13) % 17) / 170 - 0.04, () => 0.01) }));
  await add('memory', 'safetensors', 'header-99mb', 'safetensors header of 99 MB (just under its bound) of spaces', () => ({ 'm.safetensors': safetensors(concat(utf8('{'), new Uint8Array(99_000_000).fill(0x20), utf8('}'))) }));
  await add('memory', 'safetensors', 'header-length-2e63', 'safetensors header length 2^63', () => ({ 'm.safetensors': safetensors('{}', new Uint8Array(0), 1n << 63n) }));
  await add('memory', 'input-csv', 'csv-10m-columns', 'CSV of 10 million columns', () => ({ ...tinyIn, 'x.csv': utf8('0,'.repeat(10_000_000) + '0\n') }), { input: 'x.csv' });
  await add('memory', 'input-json', 'json-10m-values', 'JSON input of 10 million values', () => ({ ...tinyIn, 'x.json': utf8('[' + '0,'.repeat(10_000_000) + '0]') }), { input: 'x.json' });

  // ===== 10: messages =====
  await add('messages', 'h5', 'jsfive-undefined', 'legacy .h5 with an object header address past the end (jsfive "(undefined)")', async () => {
    const b = await kerasLegacyH5(SMALL, rng);
    const out = b.slice();
    const ohdr = findAll(out, utf8('OHDR'));
    out.set(rng.bytes(32), ohdr[Math.min(2, ohdr.length - 1)] + 4);
    return { 'm.h5': out };
  });
  await add('messages', 'h5', 'jsfive-datatype', 'legacy .h5 whose kernel is a string dataset', async () => ({ 'm.h5': await kerasLegacyH5(SMALL, rng, { weight: (g, layer) => (layer === 'dense' ? (g.create_dataset({ name: 'kernel:0', data: ['a', 'b'] }), g.create_dataset({ name: 'bias:0', data: new Float32Array(3), shape: [3] }), true) : false) }) }));
  await add('messages', 'h5', 'jsfive-soft-link-loop', 'legacy .h5 whose kernel is a soft link to itself', async () => ({ 'm.h5': await kerasLegacyH5(SMALL, rng, { weight: (g, layer) => (layer === 'dense' ? (g.create_soft_link('/model_weights/dense/dense/kernel:0', 'kernel:0'), g.create_dataset({ name: 'bias:0', data: new Float32Array(3), shape: [3] }), true) : false) }) }));
  const odd = [
    ['root-list', concat(Uint8Array.from([0x80, 2, 0x5d]), Uint8Array.from([0x2e]))],
    ['root-int', Uint8Array.from([0x80, 2, 0x4b, 7, 0x2e])],
    ['value-dict', new PickleWriter().proto().emptyDict().str('layer.weight').emptyDict().setitem().stop().bytes()],
    ['value-reduce-unknown', new PickleWriter().proto().emptyDict().str('w').global('numpy.core.multiarray', '_reconstruct').mark().int(1).tuple().reduce().setitem().stop().bytes()],
    ['key-tuple', new PickleWriter().proto().emptyDict().intTuple([1, 2]).int(3).setitem().stop().bytes()],
    ['stack-underflow', Uint8Array.from([0x80, 2, 0x52, 0x2e])],
    ['memo-missing', Uint8Array.from([0x80, 2, 0x68, 9, 0x2e])],
    ['no-stop', Uint8Array.from([0x80, 2, 0x4e])],
    ['unknown-opcode', Uint8Array.from([0x80, 2, 0xff, 0x2e])],
    ['persid-not-tuple', new PickleWriter().proto().emptyDict().str('w').int(5).binpersid().setitem().stop().bytes()],
    ['rebuild-bad-args', new PickleWriter().proto().emptyDict().str('0.weight').global('torch._utils', '_rebuild_tensor_v2').emptyDict().reduce().setitem().stop().bytes()],
  ] as const;
  for (const [name, p] of odd) {
    await add('messages', 'pytorch', `pickle-${name}`, `odd pickle: ${name}`, () => ({ 'm.pt': ptWithPickle(p) }), { tags: ['pickle'] });
  }
  await add('messages', 'input-jpeg', 'jpeg-truncated', 'JPEG truncated after the SOF', () => ({ 'm.onnx': convOnnx, 'x.jpg': jpeg8.slice(0, findAll(jpeg8, Uint8Array.from([0xff, 0xc4]))[0] ?? 200) }), { input: 'x.jpg' });
  for (const cut of [3, 20, 100, 300]) {
    await add('messages', 'input-jpeg', `jpeg-cut-${cut}`, `JPEG cut at byte ${cut}`, () => ({ 'm.onnx': convOnnx, 'x.jpg': jpeg8.slice(0, cut) }), { input: 'x.jpg' });
  }
  await add('messages', 'input-jpeg', 'jpeg-no-huffman', 'JPEG without its Huffman tables', () => {
    const dht = findAll(jpeg8, Uint8Array.from([0xff, 0xc4]));
    const len = new DataView(jpeg8.buffer).getUint16(dht[0] + 2, false);
    return { 'm.onnx': convOnnx, 'x.jpg': concat(jpeg8.slice(0, dht[0]), jpeg8.slice(dht[0] + 2 + len)) };
  }, { input: 'x.jpg' });
  await add('messages', 'input-jpeg', 'jpeg-soi-eoi', 'JPEG with SOI and EOI only', () => ({ 'm.onnx': convOnnx, 'x.jpg': Uint8Array.from([0xff, 0xd8, 0xff, 0xd9]) }), { input: 'x.jpg' });
  await add('messages', 'input-jpeg', 'jpeg-progressive-garbage', 'JPEG SOF2 (progressive) with garbage scans', () => ({ 'm.onnx': convOnnx, 'x.jpg': concat(Uint8Array.from([0xff, 0xd8, 0xff, 0xc2, 0, 11, 8, 0, 8, 0, 8, 1, 1, 0x11, 0]), rng.bytes(200), Uint8Array.from([0xff, 0xd9])) }), { input: 'x.jpg' });
  await add('messages', 'input-png', 'png-magic-then-text', 'PNG magic followed by text (dimensions read from text bytes)', () => ({ 'm.onnx': convOnnx, 'x.png': concat(PNG_MAGIC, utf8('this is not a PNG at all, just words and more words')) }), { input: 'x.png' });
  await add('messages', 'input-png', 'png-truncated', 'PNG cut in the IDAT', () => ({ 'm.onnx': convOnnx, 'x.png': grey8.slice(0, grey8.length - 20) }), { input: 'x.png' });
  await add('messages', 'input-png', 'png-bad-crc', 'PNG with a bad IHDR CRC', () => {
    const b = grey8.slice();
    b[29] ^= 0xff;
    return { 'm.onnx': convOnnx, 'x.png': b };
  }, { input: 'x.png' });
  await add('messages', 'input-png', 'png-0x0', 'PNG of 0×0', () => ({ 'm.onnx': convOnnx, 'x.png': concat(PNG_MAGIC, ihdr(0, 0), pngChunk('IDAT', new Uint8Array(zlib.deflateSync(new Uint8Array(0)))), pngChunk('IEND', new Uint8Array(0))) }), { input: 'x.png' });
  await add('messages', 'input-png', 'png-palette-no-plte', 'palette PNG without PLTE', () => ({ 'm.onnx': convOnnx, 'x.png': concat(PNG_MAGIC, ihdr(8, 8, 8, 3), pngChunk('IDAT', new Uint8Array(zlib.deflateSync(new Uint8Array(8 * 9)))), pngChunk('IEND', new Uint8Array(0))) }), { input: 'x.png' });
  await add('messages', 'input-png', 'png-bad-depth', 'PNG with bit depth 7', () => ({ 'm.onnx': convOnnx, 'x.png': concat(PNG_MAGIC, ihdr(8, 8, 7, 0), pngChunk('IEND', new Uint8Array(0))) }), { input: 'x.png' });
  await add('messages', 'input-png', 'png-for-dense-model', 'PNG given to a vector model', () => ({ ...tinyIn, 'x.png': grey8 }), { input: 'x.png' });
  await add('messages', 'safetensors', 'header-10000-keys', 'safetensors with 10 000 unexpected keys (message length)', () => {
    const header: Record<string, unknown> = {};
    for (let i = 0; i < 10_000; i++) header[`model.encoder.layer_${i}.attention.self.query.weight_with_a_long_name`] = { dtype: 'F32', shape: [1], data_offsets: [0, 4] };
    return { 'm.safetensors': safetensors(header, f32([1])) };
  });
  await add('messages', 'onnx', 'onnx-10000-unsupported-ops', 'ONNX with 10 000 unsupported nodes (message length)', () => {
    const m = onnxModel(tinyOnnx);
    for (let i = 0; i < 10_000; i++) m.graph!.node!.push({ opType: `CustomOp${i}`, name: `n${i}`, input: [], output: [`o${i}`] });
    return { 'm.onnx': onnxBytes(m) };
  });
  await add('messages', 'json', 'random-input-never-positive', '--random-input on a net whose output is never positive (the message must name the file)', () => ({ 'm.json': denseJson([3, 3, 1], () => 1, () => -100) }));
  await add('messages', 'json', 'full-backward-cost-infinity', 'full-backward on a net too large (cost estimate)', () => ({ 'm.json': denseJson([3, ...Array(400).fill(8), 1], (l, o, i) => (o === i ? 1 : 0.01), () => 0.01) }), { args: ['--random-input', '--method', 'full-backward'] });
  await add('messages', 'json', 'output-out-of-range', '--output 99 on a 1-output net', () => ({ 'm.json': tinyJson }), { args: ['--random-input', '--output', '99'] });
  await add('messages', 'input-csv', 'csv-garbage', 'CSV of binary garbage', () => ({ ...tinyIn, 'x.csv': rng.bytes(500).map((b) => (b < 32 && b !== 10 ? b + 32 : b & 0x7f)) }), { input: 'x.csv' });
  await add('messages', 'input-csv', 'csv-two-rows', 'CSV with two data rows and quotes', () => ({ ...tinyIn, 'x.csv': utf8('"a","b","c"\n1,2,3\n4,5,6\n') }), { input: 'x.csv' });
  await add('messages', 'input-csv', 'csv-hex-and-words', 'CSV of 0x10, Infinity, =cmd', () => ({ ...tinyIn, 'x.csv': utf8("0x10,Infinity,=cmd|' /C calc'!A0\n") }), { input: 'x.csv' });
  await add('messages', 'input-csv', 'csv-one-long-line', 'CSV of one 2 MB line of letters', () => ({ ...tinyIn, 'x.csv': utf8('x'.repeat(2_000_000)) }), { input: 'x.csv' });
  await add('messages', 'input-npy', 'npy-fortran-big-endian', '.npy big-endian, Fortran order', () => ({ ...tinyIn, 'x.npy': npy("{'descr': '>f4', 'fortran_order': True, 'shape': (3,), }", new Uint8Array(12)) }), { input: 'x.npy' });
  await add('messages', 'input-npy', 'npy-complex', '.npy complex128', () => ({ ...tinyIn, 'x.npy': npy("{'descr': '<c16', 'fortran_order': False, 'shape': (3,), }", new Uint8Array(48)) }), { input: 'x.npy' });
  await add('messages', 'input-npy', 'npy-unicode', '.npy unicode strings', () => ({ ...tinyIn, 'x.npy': npy("{'descr': '<U10', 'fortran_order': False, 'shape': (3,), }", new Uint8Array(120)) }), { input: 'x.npy' });
  await add('messages', 'input-npy', 'npy-short-data', '.npy with less data than its shape', () => ({ ...tinyIn, 'x.npy': npy("{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }", f64([1])) }), { input: 'x.npy' });
  await add('messages', 'input-npy', 'npy-header-len-65535', '.npy whose header length says 65535', () => {
    const b = npy("{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }", f64([1, 2, 3]));
    new DataView(b.buffer).setUint16(8, 65535, true);
    return { ...tinyIn, 'x.npy': b };
  }, { input: 'x.npy' });
  await add('messages', 'input-npy', 'npy-v2-header-4gb', '.npy v2 whose header length says 4 GB', () => {
    const b = npy("{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }", f64([1, 2, 3]), 2);
    new DataView(b.buffer).setUint32(8, 0xffffffff, true);
    return { ...tinyIn, 'x.npy': b };
  }, { input: 'x.npy' });
  await add('messages', 'input-npy', 'npy-header-garbage', '.npy whose header is not a dict', () => ({ ...tinyIn, 'x.npy': npy("__import__('os').system('id')", f64([1, 2, 3])) }), { input: 'x.npy' });
  await add('messages', 'input-json', 'json-strings', 'JSON input of strings and objects', () => ({ ...tinyIn, 'x.json': utf8('{"x": ["a", {"b": 1}, null]}') }), { input: 'x.json' });
  await add('messages', 'input-json', 'json-proto', 'JSON input with __proto__ and constructor keys', () => ({ ...tinyIn, 'x.json': utf8('{"__proto__": {"x": [1,2,3]}, "constructor": {"prototype": {"x": 1}}}') }), { input: 'x.json' });
  await add('messages', 'input-json', 'json-empty', 'empty input file', () => ({ ...tinyIn, 'x.json': new Uint8Array(0) }), { input: 'x.json' });
  await add('messages', 'input-json', 'json-bom-garbage', 'BOM then garbage', () => ({ ...tinyIn, 'x.json': utf8('\uFEFF{[}]') }), { input: 'x.json' });
  await add('messages', 'input-json', 'json-invalid-utf8', 'invalid UTF-8', () => ({ ...tinyIn, 'x.json': Uint8Array.from([0x5b, 0xff, 0xfe, 0x5d]) }), { input: 'x.json' });
  await add('messages', 'onnx', 'not-protobuf', '.onnx of random bytes', () => ({ 'm.onnx': rng.bytes(4096) }));
  await add('messages', 'onnx', 'empty', 'empty .onnx', () => ({ 'm.onnx': new Uint8Array(0) }));
  await add('messages', 'safetensors', 'empty', 'empty .safetensors', () => ({ 'm.safetensors': new Uint8Array(0) }));
  await add('messages', 'pytorch', 'empty', 'empty .pt', () => ({ 'm.pt': new Uint8Array(0) }), { tags: ['pickle'] });
  await add('messages', 'keras', 'empty', 'empty .keras', () => ({ 'm.keras': new Uint8Array(0) }));
  await add('messages', 'h5', 'empty', 'empty .h5', () => ({ 'm.h5': new Uint8Array(0) }));
  await add('messages', 'json', 'empty', 'empty .json', () => ({ 'm.json': new Uint8Array(0) }));
  await add('messages', 'tfjs', 'no-shard', 'model.json whose shard is missing', () => ({ 'model.json': utf8(JSON.stringify(tfjs.modelJson)) }));
  await add('messages', 'tfjs', 'graph-model', 'TF.js graph model', () => ({ 'model.json': utf8(JSON.stringify({ format: 'graph-model', modelTopology: { node: [] }, weightsManifest: [] })) }));
  await add('messages', 'onnx', 'model-file-name-markdown', 'a model file whose name is a markdown link', () => ({ 'm[x](command:y).onnx': tinyOnnx.slice(0, 50) }));

  // ===== 11: engine IPC =====
  for (const script of IPC_SCRIPTS) {
    await add('ipc', 'ipc', script, `engine child: ${script}`, () => ({ 'm.onnx': tinyOnnx }), { ipc: script });
  }

  // ===== code: nothing executes =====
  const globals: [string, string][] = [
    ['os', 'system'], ['posix', 'system'], ['nt', 'system'], ['subprocess', 'Popen'], ['subprocess', 'check_output'], ['builtins', 'eval'], ['builtins', 'exec'],
    ['builtins', '__import__'], ['builtins', 'getattr'], ['builtins', 'open'], ['__builtin__', 'eval'], ['io', 'open'], ['pickle', 'loads'], ['runpy', '_run_code'],
    ['shutil', 'rmtree'], ['webbrowser', 'open'], ['socket', 'create_connection'], ['ctypes', 'CDLL'], ['importlib', 'import_module'], ['torch', 'load'],
  ];
  for (const [mod, name] of globals) {
    await add('code', 'pytorch', `global-${mod}-${name}`, `pickle GLOBAL ${mod}.${name} called with REDUCE`, () => ({ 'm.pt': writePt({}, { pickle: hostilePickle(mod, name) }) }), { tags: ['pickle'] });
  }
  await add('code', 'pytorch', 'global-inside-state-dict', 'os.system REDUCE as a value inside a valid state dict', () => {
    const base = stateDictPickle({ 'l.weight': { shape: [2, 3], values: [1, 2, 3, 4, 5, 6] }, 'l.bias': { shape: [2], values: [0, 0] } });
    // Insert '__evil__': os.system('id') before the final SETITEMS (the byte before BUILD section's EMPTY_DICT).
    const evil = new PickleWriter().str('__evil__').global('os', 'system').mark().str('id').tuple().reduce().bytes();
    const at = base.lastIndexOf(0x75); // SETITEMS
    return { 'm.pt': writePt({ 'l.weight': { shape: [2, 3], values: [1, 2, 3, 4, 5, 6] }, 'l.bias': { shape: [2], values: [0, 0] } }, { pickle: concat(base.slice(0, at), evil, base.slice(at)) }) };
  }, { tags: ['pickle'] });
  const opPickles: [string, Uint8Array][] = [
    ['inst', concat(Uint8Array.from([0x80, 2, 0x28]), utf8('S\'id\'\n'), Uint8Array.from([0x69]), utf8('os\nsystem\n'), Uint8Array.from([0x2e]))],
    ['obj', concat(Uint8Array.from([0x80, 2, 0x28]), new PickleWriter().global('os', 'system').str('id').bytes(), Uint8Array.from([0x6f, 0x2e]))],
    ['newobj', concat(Uint8Array.from([0x80, 2]), new PickleWriter().global('subprocess', 'Popen').mark().str('id').tuple().bytes(), Uint8Array.from([0x81, 0x2e]))],
    ['newobj-ex', concat(Uint8Array.from([0x80, 4]), new PickleWriter().global('subprocess', 'Popen').mark().str('id').tuple().emptyDict().bytes(), Uint8Array.from([0x92, 0x2e]))],
    ['persid-text', concat(Uint8Array.from([0x80, 2, 0x50]), utf8("os.system('id')\n"), Uint8Array.from([0x2e]))],
    ['stack-global', concat(Uint8Array.from([0x80, 4]), new PickleWriter().str('os').str('system').bytes(), Uint8Array.from([0x93]), new PickleWriter().mark().str('id').tuple().reduce().bytes(), Uint8Array.from([0x2e]))],
    ['ext1', Uint8Array.from([0x80, 2, 0x82, 1, 0x2e])],
    ['build-setstate', concat(Uint8Array.from([0x80, 2]), new PickleWriter().global('collections', 'OrderedDict').emptyTuple().reduce().emptyDict().str('__setstate__').global('os', 'system').setitem().build().bytes(), Uint8Array.from([0x2e]))],
    ['getattr-chain', concat(Uint8Array.from([0x80, 2]), new PickleWriter().global('builtins', 'getattr').mark().global('builtins', 'object').str('__subclasses__').tuple().reduce().emptyTuple().reduce().bytes(), Uint8Array.from([0x2e]))],
  ];
  for (const [name, p] of opPickles) {
    await add('code', 'pytorch', `op-${name}`, `pickle opcode ${name.toUpperCase()}`, () => ({ 'm.pt': ptWithPickle(p) }), { tags: ['pickle'] });
  }
  await add('code', 'pytorch', 'legacy-non-zip-pickle', 'legacy non-zip .pt: a bare pickle calling os.system', () => ({ 'm.pt': hostilePickle() }), { tags: ['pickle'] });
  await add('code', 'pytorch', 'torchscript', 'TorchScript archive with code/', () => ({
    'm.pt': zip([
      { name: 'archive/data.pkl', data: new PickleWriter().proto().global('__torch__', 'Model').emptyTuple().reduce().stop().bytes() },
      { name: 'archive/code/__torch__.py', data: utf8('import os\nos.system("id")\n') },
      { name: 'archive/constants.pkl', data: hostilePickle() },
      { name: 'archive/version', data: utf8('3\n') },
    ]),
  }), { tags: ['pickle'] });
  await add('code', 'pytorch', 'sidecar-module-path', '.pt with a sidecar naming Python modules to import', () => ({ 'm.pt': read(path.join(MODELS, 'pytorch', 'mlp_3_4_2.pt')), 'm.dtd.json': utf8(JSON.stringify({ layers: [{ type: 'lambda', module: "__import__('os').system('id')" }] })) }), { tags: ['pickle'] });
  await add('code', 'input-npy', 'npy-object-array', '.npy object array (pickled os.system)', () => ({ ...tinyIn, 'x.npy': npy("{'descr': '|O', 'fortran_order': False, 'shape': (3,), }", hostilePickle()) }), { input: 'x.npy' });
  await add('code', 'keras', 'lambda-layer', '.keras Lambda layer with marshalled Python code', async () => ({
    'm.keras': kerasArchive(keras3Config(SMALL.layers, [null, 4], [{ module: 'keras.layers', class_name: 'Lambda', config: { name: 'lambda', function: { class_name: '__lambda__', config: { code: Buffer.from('exec("import os; os.system(\'id\')")').toString('base64'), defaults: null, closure: null } } }, registered_name: null }]), await kerasWeightsH5(SMALL, rng)),
  }));
  await add('code', 'h5', 'lambda-layer', 'legacy .h5 Lambda layer', async () => ({ 'm.h5': await kerasLegacyH5(SMALL, rng, { config: JSON.stringify({ class_name: 'Sequential', config: { name: 's', layers: [{ class_name: 'Lambda', config: { name: 'l', function: ['exec("import os")', null, null], batch_input_shape: [null, 4] } }] } }) }) }));
  await add('code', 'tfjs', 'lambda-layer', 'TF.js Lambda / custom class', () => {
    const mj = structuredClone(tfjs.modelJson);
    mj.modelTopology.config.layers.splice(1, 0, { class_name: 'Lambda', config: { name: 'lambda', function: 'require("child_process").execSync("id")' } });
    return { 'model.json': utf8(JSON.stringify(mj)), [tfjs.shardName]: tfjs.shard };
  });
  await add('code', 'keras', 'custom-module', '.keras layer from a custom module', async () => ({ 'm.keras': kerasArchive(keras3Config(SMALL.layers, [null, 4], [{ module: 'os', class_name: 'system', config: { name: 'x' }, registered_name: 'os>system' }]), await kerasWeightsH5(SMALL, rng)) }));
  await add('code', 'json', 'json-proto-pollution', 'JSON model with __proto__ and constructor keys', () => ({ 'm.json': utf8('{"__proto__":{"polluted":1,"layers":[]},"constructor":{"prototype":{"x":1}},"input_size":3,"layers":[{"__proto__":{"activation":"relu"},"in_features":3,"out_features":1,"weight":[[1,1,1]]}]}') }));

  // ===== legacy-pickle: pre-1.6 torch.save streams =====
  {
    const REAL = path.join(REPO, 'test', 'fixtures', 'real', 'torch');
    const legacyMlp = read(path.join(REAL, 'mlp_legacy.pt'));
    const legacyCnn = read(path.join(REAL, 'cnn_legacy.pt'));
    const cnnSidecar = read(path.join(REAL, 'cnn_legacy.dtd.json'));
    const tags = { tags: ['pickle'] };
    const dict: Record<string, PtTensor> = { '0.weight': { shape: [2, 3], values: [1, 2, 3, 4, 5, 6] }, '0.bias': { shape: [2], values: [0.5, -0.5] } };
    await add('control', 'pytorch', 'legacy-mlp', 'valid legacy torch.save file (torch 1.13)', () => ({ 'm.pt': legacyMlp }), tags);
    await add('control', 'pytorch', 'legacy-cnn-sidecar', 'valid legacy conv torch.save file + sidecar (torch 1.13)', () => ({ 'm.pt': legacyCnn, 'm.dtd.json': cnnSidecar }), tags);
    for (const cut of [1, 3, 12, 40, 200, 700, legacyMlp.length - 200, legacyMlp.length - 9, legacyMlp.length - 1]) {
      await add('legacy-pickle', 'pytorch', `truncated-${cut}`, `legacy .pt cut at byte ${cut}`, () => ({ 'm.pt': legacyMlp.slice(0, cut) }), tags);
    }
    const counts: [string, (i: number, n: number) => bigint][] = [
      ['count-2e62', () => 2n ** 62n], ['count-u64-max', () => 2n ** 64n - 1n], ['count-2e31', () => 2n ** 31n], ['count-short', (i, n) => BigInt(n - 1)], ['count-long', (i, n) => BigInt(n + 1)],
    ];
    for (const [id, count] of counts) await add('legacy-pickle', 'pytorch', id, `legacy .pt with storage counts ${id}`, () => ({ 'm.pt': writeLegacyPt(dict, { count }) }), tags);
    // A tensor declaring a 2^31 − 1 value storage, with a count to match, in a 300-byte file.
    const huge = new PickleWriter().proto().global('collections', 'OrderedDict').emptyTuple().reduce().mark();
    huge.str('0.weight').global('torch._utils', '_rebuild_tensor_v2').mark();
    huge.mark().str('storage').global('torch', 'FloatStorage').str('0').str('cpu').int(2 ** 31 - 1).op(0x4e).tuple().binpersid();
    huge.int(0).intTuple([46340, 46340]).intTuple([46340, 1]).falsy().global('collections', 'OrderedDict').emptyTuple().reduce().tuple().reduce().setitems().stop();
    await add('legacy-pickle', 'pytorch', 'numel-2e31', 'legacy .pt declaring a 2^31 − 1 value storage', () => ({ 'm.pt': writeLegacyPt(dict, { object: huge.bytes(), keys: ['0'], count: () => BigInt(2 ** 31 - 1) }) }), tags);
    await add('legacy-pickle', 'pytorch', 'keys-unknown', 'legacy .pt listing a storage no tensor uses', () => ({ 'm.pt': writeLegacyPt(dict, { keys: ['0', '1', 'x'] }) }), tags);
    await add('legacy-pickle', 'pytorch', 'keys-missing', 'legacy .pt listing too few storages', () => ({ 'm.pt': writeLegacyPt(dict, { keys: ['0'] }) }), tags);
    await add('legacy-pickle', 'pytorch', 'keys-100k', 'legacy .pt listing 100 000 keys', () => ({ 'm.pt': writeLegacyPt(dict, { keys: Array.from({ length: 100_000 }, (_, i) => String(i)) }) }), tags);
    await add('legacy-pickle', 'pytorch', 'magic-wrong', 'a pickle stream with another magic number', () => ({ 'm.pt': writeLegacyPt(dict, { magic: [1, 2, 3] }) }), tags);
    await add('legacy-pickle', 'pytorch', 'protocol-1000', 'legacy .pt of protocol version 1000', () => ({ 'm.pt': writeLegacyPt(dict, { protocol: 1000 }) }), tags);
    await add('legacy-pickle', 'pytorch', 'object-os-system', 'legacy .pt whose object pickle calls os.system', () => ({ 'm.pt': writeLegacyPt(dict, { object: hostilePickle() }) }), tags);
    await add('legacy-pickle', 'pytorch', 'plain-pickle', 'a plain pickle of a state dict (no torch.save header)', () => ({ 'm.pt': stateDictPickle(dict) }), tags);
    await add('legacy-pickle', 'pytorch', 'none-bomb', 'legacy magic then 2×10⁷ NONE opcodes', () => ({ 'm.pt': concat(legacyMlp.slice(0, 15), new Uint8Array(20_000_000).fill(0x4e), Uint8Array.from([0x2e])) }), tags);
    for (let k = 0; k < 16; k++) {
      const base = k % 2 ? legacyCnn : legacyMlp;
      await add('legacy-pickle', 'pytorch', `mutated-${k}`, `legacy .pt bytes mutated (seed ${seed}, #${k})`, () => ({ 'm.pt': mutate(base, rng, false), ...(k % 2 ? { 'm.dtd.json': cnnSidecar } : {}) }), tags);
    }
  }

  // ===== mutation: the bulk =====
  interface Base { format: Format; name: string; files: Record<string, Uint8Array>; model: string; text: boolean; input?: string; count: number }
  const bases: Base[] = [];
  for (const n of DENSE) {
    bases.push({ format: 'onnx', name: n, files: { 'm.onnx': denseBase(n, 'onnx') }, model: 'm.onnx', text: false, count: 14 });
    bases.push({ format: 'safetensors', name: n, files: { 'm.safetensors': denseBase(n, 'safetensors') }, model: 'm.safetensors', text: false, count: 14 });
    bases.push({ format: 'json', name: n, files: { 'm.json': utf8(JSON.stringify(JSON.parse(new TextDecoder().decode(denseBase(n, 'json'))).network)) }, model: 'm.json', text: true, count: 8 });
  }
  for (const n of CONV) {
    bases.push({ format: 'onnx', name: n, files: { 'm.onnx': convBase(n, 'onnx') }, model: 'm.onnx', text: false, count: 14 });
    const sc = convSidecar(n);
    bases.push({ format: 'safetensors', name: n, files: { 'm.safetensors': convBase(n, 'safetensors'), ...(sc ? { 'm.dtd.json': sc } : {}) }, model: 'm.safetensors', text: false, count: 10 });
    if (sc) bases.push({ format: 'safetensors', name: `${n}-sidecar`, files: { 'm.dtd.json': sc, 'm.safetensors': convBase(n, 'safetensors') }, model: 'm.safetensors', text: true, count: 6 });
  }
  for (const n of ['cnn3x10_bn_gap_seed2', 'cnn3x10_stride2_softmax_seed3', 'mixed']) {
    const t = tfjsBase(n);
    bases.push({ format: 'tfjs', name: `${n}-model-json`, files: { 'model.json': utf8(JSON.stringify(t.modelJson)), [t.shardName]: t.shard }, model: 'model.json', text: true, count: 10 });
    bases.push({ format: 'tfjs', name: `${n}-shard`, files: { [t.shardName]: t.shard, 'model.json': utf8(JSON.stringify(t.modelJson)) }, model: 'model.json', text: false, count: 6 });
  }
  for (const n of ['cnn3x10_bn_gap_seed2', 'cnn3x10_stride2_softmax_seed3']) {
    bases.push({ format: 'keras', name: n, files: { 'm.keras': read(path.join(MODELS, 'keras', `${n}.keras`)) }, model: 'm.keras', text: false, count: 10 });
    bases.push({ format: 'h5', name: n, files: { 'm.h5': read(path.join(MODELS, 'keras', `${n}.h5`)) }, model: 'm.h5', text: false, count: 16 });
  }
  bases.push({ format: 'pytorch', name: 'mlp_3_4_2', files: { 'm.pt': read(path.join(MODELS, 'pytorch', 'mlp_3_4_2.pt')) }, model: 'm.pt', text: false, count: 12 });
  bases.push({ format: 'pytorch', name: 'cnn1x8_bn_stride2_seed1', files: { 'm.pt': read(path.join(MODELS, 'pytorch', 'cnn1x8_bn_stride2_seed1.pt')), 'm.dtd.json': read(path.join(MODELS, 'pytorch', 'cnn1x8_bn_stride2_seed1.dtd.json')) }, model: 'm.pt', text: false, count: 8 });
  bases.push({ format: 'input-json', name: 'json', files: { 'x.json': utf8('{"x": [[0.1, 0.2, 0.3]]}'), ...tinyIn }, model: 'm.onnx', input: 'x.json', text: true, count: 8 });
  bases.push({ format: 'input-csv', name: 'csv', files: { 'x.csv': utf8('a,b,c\n0.1,0.2,0.3\n'), ...tinyIn }, model: 'm.onnx', input: 'x.csv', text: true, count: 8 });
  bases.push({ format: 'input-npy', name: 'npy', files: { 'x.npy': npy("{'descr': '<f8', 'fortran_order': False, 'shape': (1, 3), }", f64([0.1, 0.2, 0.3])), ...tinyIn }, model: 'm.onnx', input: 'x.npy', text: false, count: 10 });
  bases.push({ format: 'input-png', name: 'png', files: { 'x.png': grey8, 'm.onnx': convOnnx }, model: 'm.onnx', input: 'x.png', text: false, count: 14 });
  bases.push({ format: 'input-png', name: 'png-rgb', files: { 'x.png': png(10, 10, 3, (x, y, c) => (x * 20 + y * 7 + c * 50) & 0xff), 'm.onnx': convBase('cnn3x10_bn_gap_seed2', 'onnx') }, model: 'm.onnx', input: 'x.png', text: false, count: 8 });
  bases.push({ format: 'input-jpeg', name: 'jpeg', files: { 'x.jpg': jpeg8, 'm.onnx': convOnnx }, model: 'm.onnx', input: 'x.jpg', text: false, count: 14 });
  for (const b of bases) {
    // The file that is mutated is the first one listed; zip formats also get their inner entries mutated.
    const target = Object.keys(b.files)[0];
    for (let k = 0; k < b.count; k++) {
      const inner = (b.format === 'keras' || b.format === 'pytorch') && target.match(/\.(keras|pt)$/) && k % 2 === 1;
      await add('mutation', b.format, `${b.name}-${target.replace(/[^a-z0-9]+/gi, '_')}-${k}`, `${inner ? 'inner entry' : 'bytes'} of ${b.name} ${target} mutated (seed ${seed}, #${k})`, () => {
        const files: Record<string, FileSpec> = { ...b.files };
        if (inner) {
          const entries = unzipEntries(b.files[target]);
          const e = entries[rng.int(0, entries.length)];
          const isText = /\.(json|txt)$|version|byteorder/.test(e.name);
          e.data = mutate(e.data!, rng, isText);
          files[target] = zip(entries);
        } else {
          files[target] = mutate(b.files[target], rng, b.text);
        }
        // The model file first (add() takes the first key as the model when none is named).
        return files;
      }, { model: b.model, input: b.input });
    }
  }

  return { root, outside, cases };
}

// ---------- small helpers used above ----------

/** A zlib stream of exactly n zero bytes (n need not be a whole number of MiB). */
function zerosZlibExact(n: number): Uint8Array {
  const mib = Math.floor(n / (1024 * 1024));
  const rest = n - mib * 1024 * 1024;
  const head = zerosZlib(mib);
  // Replace the final empty block + Adler with the rest, deflated and final, and the right Adler.
  const body = head.slice(2, head.length - 4 - 2);
  const tail = new Uint8Array(zlib.deflateRawSync(new Uint8Array(rest), { level: 9 }));
  const b = n % 65521;
  const adler = new Uint8Array(4);
  new DataView(adler.buffer).setUint32(0, ((b << 16) | 1) >>> 0, false);
  return concat(Uint8Array.from([0x78, 0xda]), body, tail, adler);
}

/** A pickle of PROTO + `mib` MiB of one opcode + STOP, zipped as a .pt (raw deflate of a repeated block). */
function repeatPickle(op: number, mib: number, prefix = Uint8Array.from([0x80, 2])): { deflated: Uint8Array; size: number; crc: number } {
  const unit = new Uint8Array(1024 * 1024).fill(op);
  const headD = new Uint8Array(zlib.deflateRawSync(prefix, { finishFlush: zlib.constants.Z_FULL_FLUSH }));
  const unitD = new Uint8Array(zlib.deflateRawSync(unit, { level: 9, finishFlush: zlib.constants.Z_FULL_FLUSH }));
  const tailD = new Uint8Array(zlib.deflateRawSync(Uint8Array.from([0x2e])));
  const parts: Uint8Array[] = [headD];
  for (let i = 0; i < mib; i++) parts.push(unitD);
  parts.push(tailD);
  let crc = crc32(prefix);
  const unitCrc = (c: number) => crc32(unit, c);
  for (let i = 0; i < mib; i++) crc = unitCrc(crc);
  crc = crc32(Uint8Array.from([0x2e]), crc);
  return { deflated: concat(...parts), size: prefix.length + mib * 1024 * 1024 + 1, crc };
}

/** GLOBAL module.name called with ('id',) by REDUCE, for names of any length. */
function globalCallPickle(module: string, name: string): Uint8Array {
  return concat(Uint8Array.from([0x80, 2, 0x63]), utf8(`${module}\n${name}\n`), Uint8Array.from([0x28, 0x58, 2, 0, 0, 0]), utf8('id'), Uint8Array.from([0x74, 0x52, 0x2e]));
}

/** A .pt archive with the given pickle (bytes, or a pre-deflated stream) and no storages. */
function ptWithPickle(p: Uint8Array | { deflated: Uint8Array; size: number; crc: number }): Uint8Array {
  const pkl: ZipEntry = p instanceof Uint8Array ? { name: 'archive/data.pkl', data: p } : { name: 'archive/data.pkl', deflated: { bytes: p.deflated, size: p.size, crc: p.crc } };
  return zip([pkl, { name: 'archive/byteorder', data: utf8('little') }, { name: 'archive/version', data: utf8('3\n') }]);
}

function unzipEntries(bytes: Uint8Array): ZipEntry[] {
  return Object.entries(unzipSync(bytes)).map(([name, data]) => ({ name, data }));
}

// ---------- IPC scripts (run by run.ts against dist/engine.js) ----------

export const IPC_SCRIPTS = ['bigint-id', 'cyclic-payload', 'bigint-in-options', 'not-an-object', 'unknown-type', 'model-bytes-not-bytes', 'hostile-name-error', 'huge-file-name', 'deep-sidecar', 'flood-100'] as const;

if (require.main === module) {
  (async () => {
    const args = process.argv.slice(2);
    const seedAt = args.indexOf('--seed');
    const seed = seedAt >= 0 ? Number(args.splice(seedAt, 2)[1]) : undefined;
    const dir = args[0] ?? fs.mkdtempSync(path.join(os.tmpdir(), 'dtd-hostile-'));
    const started = Date.now();
    const corpus = await generateCorpus(dir, { seed, only: process.env.HOSTILE_FAMILY?.split(',').filter(Boolean) });
    const count = (key: (c: HostileCase) => string) => Object.entries(corpus.cases.reduce<Record<string, number>>((a, c) => ((a[key(c)] = (a[key(c)] ?? 0) + 1), a), {})).map(([k, n]) => `${k} ${n}`).join(', ');
    console.log(`${corpus.cases.length} cases in ${dir}/cases (${Date.now() - started} ms)`);
    console.log(`by family: ${count((c) => c.family)}`);
    console.log(`by format: ${count((c) => c.format)}`);
  })();
}
