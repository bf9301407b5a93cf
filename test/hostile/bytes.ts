// Byte-level writers for the hostile corpus (test/hostile/generate.ts): a seeded
// random generator, a protobuf writer, a zip writer that takes pre-compressed
// entries (bombs, 60 000 entries), zlib/deflate streams of zeros of any size
// built without allocating them, PNG chunks, .npy files and nesting. Nothing
// here reads the engine's code.

import zlib from 'node:zlib';

// ---------- seeded random numbers ----------

/** mulberry32: small, fast, deterministic. */
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  next(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** Integer in [lo, hi). */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo));
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(0, xs.length)];
  }
  bytes(n: number): Uint8Array {
    const b = new Uint8Array(n);
    for (let i = 0; i < n; i++) b[i] = this.int(0, 256);
    return b;
  }
}

// ---------- text ----------

export const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
export const concat = (...parts: Uint8Array[]): Uint8Array => concatList(parts);
export const concatList = (parts: Uint8Array[]): Uint8Array => {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
};

/** `open`×depth + inner + `close`×depth, as bytes (no recursion, no giant intermediate strings). */
export function nested(open: string, inner: string, close: string, depth: number, prefix = '', suffix = ''): Uint8Array {
  return utf8(prefix + open.repeat(depth) + inner + close.repeat(depth) + suffix);
}

// ---------- protobuf ----------

export function varint(n: number | bigint): number[] {
  let v = BigInt.asUintN(64, BigInt(n));
  const out: number[] = [];
  do {
    let b = Number(v & 0x7fn);
    v >>= 7n;
    if (v) b |= 0x80;
    out.push(b);
  } while (v);
  return out;
}

/** A protobuf message built field by field. */
export class Pb {
  private parts: Uint8Array[] = [];
  private push(bytes: number[] | Uint8Array): this {
    this.parts.push(bytes instanceof Uint8Array ? bytes : Uint8Array.from(bytes));
    return this;
  }
  int(field: number, v: number | bigint): this {
    return this.push([...varint((field << 3) | 0), ...varint(v)]);
  }
  bytes(field: number, b: Uint8Array): this {
    this.push([...varint((field << 3) | 2), ...varint(b.length)]);
    return this.push(b);
  }
  str(field: number, s: string): this {
    return this.bytes(field, utf8(s));
  }
  msg(field: number, m: Pb): this {
    return this.bytes(field, m.finish());
  }
  float(field: number, v: number): this {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, v, true);
    this.push([...varint((field << 3) | 5)]);
    return this.push(b);
  }
  finish(): Uint8Array {
    return concat(...this.parts);
  }
}

/**
 * A message nested `depth` times through `path` (a cycle of length-delimited field numbers),
 * written back to front so that no level is copied: `inner` is the innermost message.
 */
export function nestedPb(path: number[], depth: number, inner: Uint8Array, outer: (msg: Uint8Array) => Uint8Array): Uint8Array {
  // Sizes from the inside out.
  const levels = depth * path.length;
  const headers: number[][] = new Array(levels);
  let size = inner.length;
  for (let k = levels - 1; k >= 0; k--) {
    const field = path[k % path.length];
    headers[k] = [...varint((field << 3) | 2), ...varint(size)];
    size += headers[k].length;
  }
  const out = new Uint8Array(size);
  let o = 0;
  for (let k = 0; k < levels; k++) {
    out.set(headers[k], o);
    o += headers[k].length;
  }
  out.set(inner, o);
  return outer(out);
}

// ---------- deflate streams of zeros ----------

const MiB = 1024 * 1024;
let zeroChunk: Uint8Array | undefined;
/** Raw deflate of 1 MiB of zeros, byte-aligned and not final: concatenable. */
function zeroMiBDeflate(): Uint8Array {
  zeroChunk ??= new Uint8Array(zlib.deflateRawSync(new Uint8Array(MiB), { level: 9, finishFlush: zlib.constants.Z_FULL_FLUSH }));
  return zeroChunk;
}
const FINAL_EMPTY_BLOCK = Uint8Array.from([0x03, 0x00]); // a final fixed-Huffman block with no data

/** A raw deflate stream that inflates to `mib` MiB of zeros (about 1 KB per MiB). */
export function zerosDeflateRaw(mib: number): Uint8Array {
  const c = zeroMiBDeflate();
  const out = new Uint8Array(c.length * mib + FINAL_EMPTY_BLOCK.length);
  for (let i = 0; i < mib; i++) out.set(c, i * c.length);
  out.set(FINAL_EMPTY_BLOCK, c.length * mib);
  return out;
}

/** A zlib stream (RFC 1950) that inflates to `mib` MiB of zeros. */
export function zerosZlib(mib: number): Uint8Array {
  const n = mib * MiB;
  // Adler-32 of n zero bytes: a stays 1, b = n mod 65521.
  const b = n % 65521;
  const adler = ((b << 16) | 1) >>> 0;
  const tail = new Uint8Array(4);
  new DataView(tail.buffer).setUint32(0, adler, false);
  return concat(Uint8Array.from([0x78, 0xda]), zerosDeflateRaw(mib), tail);
}

// ---------- CRC-32 ----------

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

const nativeCrc32 = (zlib as unknown as { crc32?: (data: Uint8Array, value?: number) => number }).crc32;

export function crc32(bytes: Uint8Array, crc = 0): number {
  if (nativeCrc32) return nativeCrc32(bytes, crc) >>> 0; // Node ≥ 20.15
  let c = ~crc >>> 0;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
}

/** CRC-32 of `mib` MiB of zeros, by running the table over a zero MiB `mib` times. */
const zeroCrcs: number[] = [0];
export function crc32Zeros(mib: number): number {
  const z = new Uint8Array(MiB);
  for (let i = zeroCrcs.length; i <= mib; i++) zeroCrcs[i] = crc32(z, zeroCrcs[i - 1]);
  return zeroCrcs[mib];
}

// ---------- zip ----------

export interface ZipEntry {
  name: string;
  /** Stored bytes (method 0) … */
  data?: Uint8Array;
  /** … or raw deflate bytes (method 8) with the sizes and CRC they inflate to. */
  deflated?: { bytes: Uint8Array; size: number; crc: number };
  /** Lie in the headers: declared uncompressed size. */
  declaredSize?: number;
}

/** A zip archive (no data descriptors, no zip64): enough for fflate and for lies in the headers. */
export function zip(entries: ZipEntry[]): Uint8Array {
  const locals: Uint8Array[] = [];
  const centrals: Uint8Array[] = [];
  let offset = 0;
  for (const e of entries) {
    const name = utf8(e.name);
    const method = e.deflated ? 8 : 0;
    const body = e.deflated ? e.deflated.bytes : e.data ?? new Uint8Array(0);
    const size = e.declaredSize ?? (e.deflated ? e.deflated.size : body.length);
    const crc = e.deflated ? e.deflated.crc : crc32(body);
    const lh = new Uint8Array(30);
    const l = new DataView(lh.buffer);
    l.setUint32(0, 0x04034b50, true);
    l.setUint16(4, 20, true);
    l.setUint16(6, 0x0800, true); // UTF-8 names
    l.setUint16(8, method, true);
    l.setUint16(10, 0, true);
    l.setUint16(12, 0x21, true); // 1980-01-01
    l.setUint32(14, crc, true);
    l.setUint32(18, body.length, true);
    l.setUint32(22, size >>> 0, true);
    l.setUint16(26, name.length, true);
    l.setUint16(28, 0, true);
    locals.push(lh, name, body);
    const ch = new Uint8Array(46);
    const c = new DataView(ch.buffer);
    c.setUint32(0, 0x02014b50, true);
    c.setUint16(4, 20, true);
    c.setUint16(6, 20, true);
    c.setUint16(8, 0x0800, true);
    c.setUint16(10, method, true);
    c.setUint16(14, 0x21, true);
    c.setUint32(16, crc, true);
    c.setUint32(20, body.length, true);
    c.setUint32(24, size >>> 0, true);
    c.setUint16(28, name.length, true);
    c.setUint32(42, offset, true);
    centrals.push(ch, name);
    offset += 30 + name.length + body.length;
  }
  const cd = concatList(centrals);
  const end = new Uint8Array(22);
  const d = new DataView(end.buffer);
  d.setUint32(0, 0x06054b50, true);
  d.setUint16(8, Math.min(entries.length, 0xffff), true);
  d.setUint16(10, Math.min(entries.length, 0xffff), true);
  d.setUint32(12, cd.length, true);
  d.setUint32(16, offset, true);
  locals.push(cd, end);
  return concatList(locals);
}

/** A zip entry that inflates to `mib` MiB of zeros. */
export function zerosEntry(name: string, mib: number): ZipEntry {
  return { name, deflated: { bytes: zerosDeflateRaw(mib), size: mib * MiB, crc: crc32Zeros(mib) } };
}

// ---------- PNG ----------

export function pngChunk(type: string, data: Uint8Array): Uint8Array {
  const t = utf8(type);
  const head = new Uint8Array(8);
  new DataView(head.buffer).setUint32(0, data.length, false);
  head.set(t, 4);
  const crc = new Uint8Array(4);
  new DataView(crc.buffer).setUint32(0, crc32(concat(t, data)), false);
  return concat(head, data, crc);
}

export const PNG_MAGIC = Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

export function ihdr(w: number, h: number, bitDepth = 8, colorType = 0, interlace = 0): Uint8Array {
  const b = new Uint8Array(13);
  const v = new DataView(b.buffer);
  v.setUint32(0, w >>> 0, false);
  v.setUint32(4, h >>> 0, false);
  b[8] = bitDepth;
  b[9] = colorType;
  b[12] = interlace;
  return pngChunk('IHDR', b);
}

/** A valid 8-bit PNG (grey or RGB) of the given pixels. */
export function png(w: number, h: number, channels: 1 | 3, pixel: (x: number, y: number, c: number) => number): Uint8Array {
  const raw = new Uint8Array(h * (1 + w * channels));
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let c = 0; c < channels; c++) raw[y * (1 + w * channels) + 1 + x * channels + c] = pixel(x, y, c);
  return concat(PNG_MAGIC, ihdr(w, h, 8, channels === 1 ? 0 : 2), pngChunk('IDAT', new Uint8Array(zlib.deflateSync(raw))), pngChunk('IEND', new Uint8Array(0)));
}

// ---------- .npy ----------

export function npy(header: string, data: Uint8Array, version = 1): Uint8Array {
  let h = header;
  const pre = version === 1 ? 10 : 12;
  while ((pre + h.length + 1) % 64 !== 0) h += ' ';
  h += '\n';
  const head = new Uint8Array(pre);
  head.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, version, 0]);
  if (version === 1) new DataView(head.buffer).setUint16(8, h.length, true);
  else new DataView(head.buffer).setUint32(8, h.length, true);
  return concat(head, utf8(h), data);
}

// ---------- safetensors ----------

/** A safetensors file from a header object (or raw header text) and a data block. */
export function safetensors(header: unknown, data: Uint8Array = new Uint8Array(0), declaredHeaderLength?: bigint): Uint8Array {
  const h = typeof header === 'string' ? utf8(header) : header instanceof Uint8Array ? header : utf8(JSON.stringify(header));
  const len = new Uint8Array(8);
  new DataView(len.buffer).setBigUint64(0, declaredHeaderLength ?? BigInt(h.length), true);
  return concat(len, h, data);
}

export function f32(values: ArrayLike<number>): Uint8Array {
  return new Uint8Array(Float32Array.from(values).buffer);
}
export function f64(values: ArrayLike<number>): Uint8Array {
  return new Uint8Array(Float64Array.from(values).buffer);
}
