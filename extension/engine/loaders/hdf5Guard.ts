// Budgets for jsfive (the pure-JS HDF5 reader behind the Keras loaders). jsfive
// trusts the file: it reads every B-tree node each parent names, so a node shared
// by many parents is re-read exponentially often (a "hang"); it inflates gzip
// chunks with no bound (a 1 MB .h5 inflating to gigabytes); it allocates a
// dataset's or an attribute's declared element count before reading anything (a
// sparse dataset of 10¹⁰ values). jsfive exposes neither its B-tree classes nor a
// hook, so this module wraps the DataObjects methods that build them (reached
// through the prototype of a tiny HDF5 file opened once) and checks first:
//
//   * every version 1 and 2 B-tree is walked here with a visited set: a node reached
//     twice, a node outside the file or more than LIMITS.hdf5BTreeNodes nodes is refused;
//   * a chunked dataset may have at most as many chunks as its shape needs, each
//     inside the file; gzip chunks are inflated in slices and refused past the
//     chunk's size (replacing jsfive's gzip filter);
//   * datasets and attributes may declare at most LIMITS.tensorElements values.
//
// Problems are thrown as Hdf5Refusal; keras.ts turns them into bad-model messages.

import { File as H5File, Filters } from 'jsfive';
import { Unzlib } from 'fflate';
import { LIMITS } from '../../protocol';
import { count } from '../budget';

/** A structural problem found before jsfive would act on it. */
export class Hdf5Refusal extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'Hdf5Refusal';
  }
}

const refuse = (why: string): never => {
  throw new Hdf5Refusal(why);
};

/** Little-endian unsigned integer of 1..8 bytes; NaN past 2^53. */
function uint(view: DataView, at: number, size: number): number {
  if (at < 0 || at + size > view.byteLength) refuse(`a B-tree field at byte ${at} lies outside the file`);
  let v = 0;
  for (let k = size - 1; k >= 0; k--) v = v * 256 + view.getUint8(at + k);
  return Number.isSafeInteger(v) ? v : Number.NaN;
}

function checkAddress(view: DataView, at: number, need: number, what: string): void {
  if (!Number.isSafeInteger(at) || at < 0 || at + need > view.byteLength) refuse(`${what} at byte ${at} lies outside the file`);
}

export interface ChunkEntry {
  address: number;
  size: number;
}

/**
 * Walks a version 1 B-tree (type 0: group nodes, type 1: raw data chunks with `dims`
 * offsets per key) breadth-first, each node once. Returns the leaf entries of a chunk tree.
 */
export function walkBTreeV1(fh: ArrayBuffer, root: number, type: 0 | 1, dims = 0): ChunkEntry[] {
  const view = new DataView(fh);
  const keySize = type === 0 ? 8 : 8 + 8 * dims;
  const visited = new Set<number>();
  const chunks: ChunkEntry[] = [];
  let queue: { at: number; level: number | null }[] = [{ at: root, level: null }];
  while (queue.length > 0) {
    const next: typeof queue = [];
    for (const { at, level } of queue) {
      checkAddress(view, at, 24, 'a B-tree node');
      if (visited.has(at)) refuse(`its B-tree reaches the node at byte ${at} twice (nodes shared or in a cycle)`);
      visited.add(at);
      if (visited.size > LIMITS.hdf5BTreeNodes) refuse(`a B-tree has more than ${count(LIMITS.hdf5BTreeNodes)} nodes`);
      const sig = String.fromCharCode(view.getUint8(at), view.getUint8(at + 1), view.getUint8(at + 2), view.getUint8(at + 3));
      if (sig !== 'TREE') refuse(`the B-tree node at byte ${at} has no TREE signature`);
      const nodeLevel = view.getUint8(at + 5);
      if (level !== null && nodeLevel !== level) refuse(`the B-tree node at byte ${at} is at level ${nodeLevel} where level ${level} was expected`);
      const entries = view.getUint16(at + 6, true);
      const body = at + 24;
      checkAddress(view, body, entries * (keySize + 8) + keySize, 'a B-tree node');
      for (let i = 0; i < entries; i++) {
        const key = body + i * (keySize + 8);
        const child = uint(view, key + keySize, 8);
        if (nodeLevel > 0) next.push({ at: child, level: nodeLevel - 1 });
        else if (type === 1) chunks.push({ address: child, size: view.getUint32(key, true) });
      }
    }
    queue = next;
  }
  return chunks;
}

/** Walks a version 2 B-tree (group names/creation orders) from its header, each node once. */
export function walkBTreeV2(fh: ArrayBuffer, header: number): void {
  const view = new DataView(fh);
  checkAddress(view, header, 38, 'a version 2 B-tree header');
  const nodeSize = view.getUint32(header + 6, true);
  const recordSize = view.getUint16(header + 10, true);
  const depth = view.getUint16(header + 12, true);
  if (depth > 32) refuse(`a version 2 B-tree claims depth ${depth}`);
  if (recordSize === 0) refuse('a version 2 B-tree has records of size 0');
  // Address formats per level, as the HDF5 spec (and jsfive) derive them from the node size.
  const bytesFor = (n: number) => Math.ceil(Math.max(1, Math.floor(n).toString(2).length) / 8);
  const formats: { num1: number; num2: number }[] = [];
  let nrecordsMax = 0;
  let totalMax = 0;
  for (let level = 0; level <= depth; level++) {
    const num1 = level === 0 ? 0 : bytesFor(nrecordsMax);
    const num2 = level <= 1 ? 0 : bytesFor(totalMax);
    formats.push({ num1, num2 });
    const addrSize = level === 0 ? 0 : 8 + num1 + num2;
    nrecordsMax = Math.floor((nodeSize - 10 - addrSize) / (recordSize + addrSize));
    if (!(nrecordsMax >= 0)) refuse('a version 2 B-tree has an impossible node size');
    totalMax = totalMax > 0 ? totalMax * nrecordsMax : nrecordsMax;
    if (formats[level].num1 > 8 || formats[level].num2 > 8) refuse('a version 2 B-tree has an impossible node size');
  }
  const visited = new Set<number>();
  let queue = [{ at: uint(view, header + 16, 8), records: view.getUint16(header + 24, true), level: depth }];
  while (queue.length > 0) {
    const next: typeof queue = [];
    for (const { at, records, level } of queue) {
      if (visited.has(at)) refuse(`its B-tree reaches the node at byte ${at} twice (nodes shared or in a cycle)`);
      visited.add(at);
      if (visited.size > LIMITS.hdf5BTreeNodes) refuse(`a B-tree has more than ${count(LIMITS.hdf5BTreeNodes)} nodes`);
      const { num1, num2 } = formats[level];
      const pointer = level === 0 ? 0 : 8 + num1 + num2;
      checkAddress(view, at, 6 + records * recordSize + (level === 0 ? 0 : (records + 1) * pointer), 'a B-tree node');
      if (level === 0) continue;
      let p = at + 6 + records * recordSize;
      for (let j = 0; j <= records; j++, p += pointer) {
        const child = uint(view, p, 8);
        const childRecords = uint(view, p + 8, num1);
        if (!Number.isSafeInteger(childRecords)) refuse(`the B-tree node at byte ${at} names an impossible child`);
        next.push({ at: child, records: childRecords, level: level - 1 });
      }
    }
    queue = next;
  }
}

// ── bounded gzip filter ─────────────────────────────────────────────────────

/** Most bytes one gzip chunk may inflate to: set around each chunked read (jsfive is synchronous). */
let inflateLimit: number = LIMITS.uncompressedBytes;

/** jsfive's gzip filter, replaced: inflateBounded under the current chunk's limit. */
function boundedZlib(buf: ArrayBuffer): ArrayBuffer {
  return inflateBounded(buf, inflateLimit);
}

/** zlib-inflates `buf` in slices, refusing output past `limit` bytes. */
export function inflateBounded(buf: ArrayBuffer, limit: number): ArrayBuffer {
  const input = new Uint8Array(buf);
  const parts: Uint8Array[] = [];
  let total = 0;
  const z = new Unzlib((chunk) => {
    total += chunk.length;
    if (total > limit) refuse(`a gzip-compressed chunk inflates to more than the ${count(limit)} bytes its dataset's chunk shape allows (a compression bomb)`);
    parts.push(chunk);
  });
  const SLICE = 1024; // ≤ ~1 MB inflated per step
  for (let at = 0; at < input.length; at += SLICE) z.push(input.subarray(at, Math.min(at + SLICE, input.length)), at + SLICE >= input.length);
  if (input.length === 0) z.push(input, true);
  const out = new Uint8Array(total);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out.buffer;
}

// ── the wrapped DataObjects methods ────────────────────────────────────────

interface DataObjectsLike {
  fh: ArrayBuffer;
  shape: number[];
  chunks: number[] | null;
  dtype: unknown;
  _chunk_address: number;
  _chunk_dims: number;
  _get_chunk_params(): void;
}

type Method = (this: DataObjectsLike, ...args: unknown[]) => unknown;

function itemSize(dtype: unknown): number {
  if (typeof dtype === 'string') {
    const m = /(\d+)$/.exec(dtype);
    if (m) return Number(m[1]);
  }
  return 16; // references and variable-length items: at most this per item in the file
}

function checkShape(shape: unknown, what: string): number {
  const dims = Array.isArray(shape) ? (shape as unknown[]) : [];
  let n = 1;
  for (const d of dims) {
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0) refuse(`${what} has an invalid shape`);
    n *= d as number;
  }
  if (!(n <= LIMITS.tensorElements)) refuse(`${what} declares ${count(n)} values, more than the ${count(LIMITS.tensorElements)} DTD Lens reads in one tensor`);
  return n;
}

const UNDEFINED_ADDRESS = 2 ** 64 - 1; // jsfive reads addresses as (inexact) numbers

let installed = false;

/** A valid HDF5 file of 64 bytes: superblock v2, a root group with no messages. */
function probeFile(): ArrayBuffer {
  const b = new Uint8Array(64);
  const v = new DataView(b.buffer);
  b.set([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]);
  b[8] = 2; // superblock version
  b[9] = 8; // offset size
  b[10] = 8; // length size
  v.setBigUint64(20, 0xffffffffffffffffn, true); // no superblock extension
  v.setBigUint64(28, 64n, true); // end of file
  v.setBigUint64(36, 48n, true); // root group object header
  b[48] = 1; // object header version 1, no messages
  v.setUint32(52, 1, true);
  return b.buffer;
}

/** Wraps jsfive's DataObjects methods and gzip filter once; call before opening any file. */
export function installHdf5Guards(): void {
  if (installed) return;
  installed = true;
  const probe = new H5File(probeFile(), 'probe') as unknown as { _dataobjects: object };
  const proto = Object.getPrototypeOf(probe._dataobjects) as Record<string, Method>;
  const wrap = (name: string, before: (self: DataObjectsLike, args: unknown[]) => void, around?: (self: DataObjectsLike, run: () => unknown) => unknown) => {
    const original = proto[name];
    if (typeof original !== 'function') throw new Error(`jsfive has no DataObjects.${name}; update hdf5Guard.ts`);
    proto[name] = function (this: DataObjectsLike, ...args: unknown[]) {
      before(this, args);
      return around ? around(this, () => original.apply(this, args)) : original.apply(this, args);
    };
  };

  wrap('_iter_links_btree_v1', (self, [btree]) => {
    walkBTreeV1(self.fh, btree as number, 0);
  });
  wrap('_iter_links_btree_v2', (self, [names, orders]) => {
    walkBTreeV2(self.fh, (orders ?? names) as number);
  });
  wrap('_attr_value', (self, [, , n]) => {
    if (!(typeof n === 'number' && n <= Math.min(LIMITS.tensorElements, self.fh.byteLength))) refuse(`an attribute declares ${count(Number(n))} values, more than the file can hold`);
  });
  wrap('_get_contiguous_data', (self) => {
    checkShape(self.shape, 'a dataset');
  });
  wrap(
    '_get_chunked_data',
    (self) => {
      const n = checkShape(self.shape, 'a dataset');
      self._get_chunk_params();
      if (self._chunk_address === UNDEFINED_ADDRESS) return; // no chunk written yet: jsfive returns no data
      const shape = self.shape;
      const chunkShape = self.chunks ?? [];
      if (chunkShape.length !== shape.length || !chunkShape.every((c) => Number.isSafeInteger(c) && c > 0)) refuse('a chunked dataset has an invalid chunk shape');
      const needed = shape.reduce((a, d, i) => a * Math.ceil(d / chunkShape[i]), 1);
      const entries = walkBTreeV1(self.fh, self._chunk_address, 1, self._chunk_dims);
      if (entries.length > needed) refuse(`a chunked dataset of ${count(n)} values lists ${count(entries.length)} chunks where its shape needs ${count(needed)}`);
      for (const e of entries) checkAddress(new DataView(self.fh), e.address, e.size, 'a data chunk');
    },
    (self, run) => {
      const chunkBytes = (self.chunks ?? []).reduce((a, c) => a * c, 1) * itemSize(self.dtype);
      const outer = inflateLimit;
      inflateLimit = Math.min(chunkBytes + 64, LIMITS.uncompressedBytes);
      try {
        return run();
      } finally {
        inflateLimit = outer;
      }
    },
  );
  Filters.set(1, boundedZlib);
}
