// Writes PyTorch .pt files byte by byte, the way torch.save (zip format, pickle
// protocol 2) lays out a state dict: `<archive>/data.pkl` with
// OrderedDict + torch._utils._rebuild_tensor_v2 + persistent ids
// ('storage', torch.FloatStorage, key, 'cpu', numel), and `<archive>/data/<key>`
// raw little-endian storages (stored, not deflated), plus `version` and
// `byteorder`. No Python or PyTorch is needed (none is available offline here).
// Run: node --import tsx test/models/make-pytorch.ts  → test/models/pytorch/*.pt

import fs from 'node:fs';
import path from 'node:path';
import { zipSync } from 'fflate';
import { CONV_FIXTURES_DIR } from '../helpers/fixtures';

/** Pickle protocol 2 writer for the few opcodes a state dict needs. */
export class PickleWriter {
  private parts: number[] = [];
  private memo = 0;
  op(...bytes: number[]): this {
    this.parts.push(...bytes);
    return this;
  }
  proto(): this {
    return this.op(0x80, 2);
  }
  str(s: string): this {
    const b = new TextEncoder().encode(s);
    return this.op(0x58, ...u32(b.length), ...b); // BINUNICODE
  }
  int(n: number): this {
    if (n >= 0 && n < 256) return this.op(0x4b, n); // BININT1
    if (n >= 0 && n < 65536) return this.op(0x4d, n & 0xff, n >> 8); // BININT2
    return this.op(0x4a, ...u32(n >>> 0)); // BININT
  }
  global(module: string, name: string): this {
    return this.op(0x63, ...new TextEncoder().encode(`${module}\n${name}\n`));
  }
  mark(): this { return this.op(0x28); }
  tuple(): this { return this.op(0x74); }
  emptyTuple(): this { return this.op(0x29); }
  emptyDict(): this { return this.op(0x7d); }
  reduce(): this { return this.op(0x52); }
  binpersid(): this { return this.op(0x51); }
  setitems(): this { return this.op(0x75); }
  setitem(): this { return this.op(0x73); }
  build(): this { return this.op(0x62); }
  put(): this { return this.op(0x71, this.memo++ & 0xff); }
  falsy(): this { return this.op(0x89); }
  stop(): this { return this.op(0x2e); }
  intTuple(v: number[]): this {
    this.mark();
    for (const x of v) this.int(x);
    return this.tuple();
  }
  bytes(): Uint8Array {
    return Uint8Array.from(this.parts);
  }
}

function u32(n: number): number[] {
  return [n & 0xff, (n >> 8) & 0xff, (n >> 16) & 0xff, (n >>> 24) & 0xff];
}

export interface PtTensor {
  shape: number[];
  values: ArrayLike<number>;
  /** default FloatStorage (float32); DoubleStorage writes float64. */
  storage?: 'FloatStorage' | 'DoubleStorage' | 'LongStorage';
}

/** The pickle torch.save writes for an OrderedDict state dict. */
export function stateDictPickle(dict: Record<string, PtTensor>, opts: { wrapKey?: string; legacy?: boolean } = {}): Uint8Array {
  const w = new PickleWriter().proto();
  if (opts.wrapKey) w.emptyDict().put().str(opts.wrapKey);
  w.global('collections', 'OrderedDict').put().emptyTuple().reduce().put().mark();
  Object.entries(dict).forEach(([key, t], i) => {
    const numel = t.shape.reduce((a, b) => a * b, 1);
    const stride = t.shape.map((_, d) => t.shape.slice(d + 1).reduce((a, b) => a * b, 1));
    w.str(key).global('torch._utils', '_rebuild_tensor_v2').put().mark();
    w.mark().str('storage').global('torch', t.storage ?? 'FloatStorage').put().str(String(i)).str('cpu').int(numel);
    if (opts.legacy) w.op(0x4e); // the legacy format's view_metadata: None
    w.tuple().binpersid();
    w.int(0).intTuple(t.shape).intTuple(stride).falsy();
    w.global('collections', 'OrderedDict').emptyTuple().reduce();
    w.tuple().reduce().put();
  });
  w.setitems();
  // state_dict()._metadata, set on the OrderedDict by BUILD as torch does.
  w.emptyDict().str('_metadata').global('collections', 'OrderedDict').emptyTuple().reduce().setitem().build();
  if (opts.wrapKey) w.setitem(); // into the checkpoint dict
  return w.stop().bytes();
}

export function storageBytes(t: PtTensor): Uint8Array {
  if (t.storage === 'DoubleStorage') return new Uint8Array(Float64Array.from(t.values).buffer);
  if (t.storage === 'LongStorage') return new Uint8Array(BigInt64Array.from(Array.from(t.values, (v) => BigInt(v))).buffer);
  return new Uint8Array(Float32Array.from(t.values).buffer);
}

/** A torch.save zip: archive/data.pkl, archive/data/<i>, archive/version, archive/byteorder. */
export function writePt(dict: Record<string, PtTensor>, opts: { pickle?: Uint8Array; wrapKey?: string; archive?: string } = {}): Uint8Array {
  const a = opts.archive ?? 'archive';
  const files: Record<string, Uint8Array> = {
    [`${a}/data.pkl`]: opts.pickle ?? stateDictPickle(dict, opts),
    [`${a}/byteorder`]: new TextEncoder().encode('little'),
  };
  Object.values(dict).forEach((t, i) => {
    files[`${a}/data/${i}`] = storageBytes(t);
  });
  files[`${a}/version`] = new TextEncoder().encode('3\n');
  return zipSync(files, { level: 0, mtime: new Date(1980, 0, 1) }); // fixed time: reproducible bytes
}

/** torch.save's legacy magic number 0x1950a86a20f9469cfc6c, little-endian (LONG1's payload). */
const LEGACY_MAGIC = [0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19];

/**
 * A legacy (pre-1.6 format) torch.save file as torch 1.13 writes it with
 * `_use_new_zipfile_serialization=False`: pickles of the magic number, the protocol version
 * 1001, sys_info, the state dict (persistent ids with a 6th item, view_metadata None) and the
 * storage keys; then each storage as an 8-byte little-endian element count and its values.
 * The options write what a hostile file would: another object pickle, key list or counts.
 */
export function writeLegacyPt(
  dict: Record<string, PtTensor>,
  opts: { object?: Uint8Array; keys?: string[]; count?: (i: number, numel: number) => bigint; magic?: number[]; protocol?: number } = {},
): Uint8Array {
  const parts: Uint8Array[] = [];
  parts.push(new PickleWriter().proto().op(0x8a, (opts.magic ?? LEGACY_MAGIC).length, ...(opts.magic ?? LEGACY_MAGIC)).stop().bytes());
  parts.push(new PickleWriter().proto().int(opts.protocol ?? 1001).stop().bytes());
  const sys = new PickleWriter().proto().emptyDict().mark().str('protocol_version').int(1001).str('little_endian').op(0x88);
  sys.str('type_sizes').emptyDict().mark().str('short').int(2).str('int').int(4).str('long').int(4).setitems().setitems();
  parts.push(sys.stop().bytes());
  parts.push(opts.object ?? stateDictPickle(dict, { legacy: true }));
  const keys = opts.keys ?? Object.keys(dict).map((_, i) => String(i));
  const list = new PickleWriter().proto().op(0x5d).mark();
  for (const k of keys) list.str(k);
  parts.push(list.op(0x65).stop().bytes());
  Object.values(dict).forEach((t, i) => {
    const data = storageBytes(t);
    const numel = t.shape.reduce((a, b) => a * b, 1);
    const count = new Uint8Array(8);
    new DataView(count.buffer).setBigUint64(0, opts.count ? opts.count(i, numel) : BigInt(numel), true);
    parts.push(count, data);
  });
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** A pickle that calls os.system('echo pwned') when a real unpickler loads it. */
export function hostilePickle(module = 'os', name = 'system'): Uint8Array {
  return new PickleWriter().proto().global(module, name).put().mark().str('echo pwned').tuple().reduce().stop().bytes();
}

/** The state dict of a conv fixture, from its JSON `network.parameters` (float32 values). */
export function fixtureStateDict(fx: { network: { parameters: Record<string, { shape: number[]; values: unknown }> } }): Record<string, PtTensor> {
  const flat = (v: unknown): number[] => (Array.isArray(v) ? v.flatMap(flat) : [v as number]);
  return Object.fromEntries(Object.entries(fx.network.parameters).map(([k, p]) => [k, { shape: p.shape, values: flat(p.values) }]));
}

if (require.main === module) {
  const out = path.join(__dirname, 'pytorch');
  fs.mkdirSync(out, { recursive: true });
  const name = 'cnn1x8_bn_stride2_seed1';
  const fx = JSON.parse(fs.readFileSync(path.join(CONV_FIXTURES_DIR, `${name}.json`), 'utf8'));
  fs.writeFileSync(path.join(out, `${name}.pt`), writePt(fixtureStateDict(fx)));
  fs.copyFileSync(path.join(__dirname, 'conv', `${name}.dtd.json`), path.join(out, `${name}.dtd.json`));
  // A 3-4-2 Linear stack (nn.Sequential keys 0 and 2), readable without a sidecar.
  fs.writeFileSync(path.join(out, 'mlp_3_4_2.pt'), writePt({
    '0.weight': { shape: [4, 3], values: [0.5, -0.25, 1, 0.75, 0.5, -1, -0.5, 0.25, 0.125, 1, 1, 1] },
    '0.bias': { shape: [4], values: [0.1, -0.2, 0.3, 0] },
    '2.weight': { shape: [2, 4], values: [1, -1, 0.5, 0.25, -0.5, 0.75, 1, -0.25] },
    '2.bias': { shape: [2], values: [0.05, -0.05] },
  }));
  fs.writeFileSync(path.join(out, 'hostile_os_system.pt'), writePt({}, { pickle: hostilePickle() }));
  for (const f of fs.readdirSync(out)) console.log(`wrote test/models/pytorch/${f}`);
}
