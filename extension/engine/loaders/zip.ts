// Reading zip archives (.keras, PyTorch .pt/.pth) with fflate's streaming
// Unzip, with zip-bomb protection: entries are inflated chunk by chunk and the
// total uncompressed size is bounded (declared sizes are checked before
// inflating, actual bytes while inflating, since a header can lie). Only the
// entries the caller wants are inflated; nothing is written to disk.
// The archive is fed to fflate in small slices: fflate inflates whatever it is
// given in one go (a 3 MB bomb pushed whole peaks at gigabytes before any check
// runs) and recurses once per entry within one push (tens of thousands of
// entries overflow the stack); a slice bounds both. At most LIMITS.zipEntries
// entries are read.

import { Unzip, UnzipInflate, UnzipPassThrough } from 'fflate';
import { badModel } from './common';
import { LIMITS, quoteName, quoteNames } from '../../protocol';
import { count, errorText } from '../budget';

/** Bytes of the archive handed to fflate at a time: ≤ ~1032× that inflated per step. */
const FEED_BYTES = 16 * 1024;

/** Default bound on the uncompressed bytes read from one archive: 10 × the default 200 MB model size limit. */
export const DEFAULT_MAX_UNCOMPRESSED_BYTES = LIMITS.uncompressedBytes;

export function isZip(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 0x03 && bytes[3] === 0x04;
}

/** The end-of-central-directory record (PK\x05\x06) sits in the last 22 + 65535 bytes of a complete archive. */
function hasEndRecord(bytes: Uint8Array): boolean {
  for (let i = bytes.length - 22; i >= Math.max(0, bytes.length - 22 - 65535); i--) {
    if (bytes[i] === 0x50 && bytes[i + 1] === 0x4b && bytes[i + 2] === 0x05 && bytes[i + 3] === 0x06) return true;
  }
  return false;
}

/**
 * Inflates the wanted entries. `names` receives every entry name (also unwanted ones).
 * Throws bad-model naming the file when the archive is unreadable or would exceed `maxBytes`.
 */
export function readZip(
  bytes: Uint8Array, fileName: string, wanted: (name: string) => boolean, maxBytes = DEFAULT_MAX_UNCOMPRESSED_BYTES,
): { files: Map<string, Uint8Array>; names: string[] } {
  const mb = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MB`;
  const bomb = (what: string) =>
    badModel(fileName, `refused: ${what}, more than the ${mb(maxBytes)} DTD Lens unpacks from one archive; a zip bomb or a model too large to explain.`);
  if (!isZip(bytes)) throw badModel(fileName, 'is not a zip archive (it does not start with a zip local file header).');
  if (!hasEndRecord(bytes)) throw badModel(fileName, 'is truncated or not a complete zip archive: its end-of-central-directory record is missing.');
  const chunks = new Map<string, Uint8Array[]>();
  const names: string[] = [];
  const complete = new Set<string>();
  let total = 0;
  let failure: Error | null = null;
  const uz = new Unzip((file) => {
    if (failure) return;
    if (names.length >= LIMITS.zipEntries) {
      failure = badModel(fileName, `refused: the archive has more than ${count(LIMITS.zipEntries)} entries (hostile, or not a model archive).`);
      return;
    }
    names.push(file.name);
    if (!wanted(file.name)) return;
    if (file.compression !== 0 && file.compression !== 8) {
      failure = badModel(fileName, `entry ${quoteName(file.name)} uses zip compression method ${file.compression}; DTD Lens reads stored and deflated entries.`);
      return;
    }
    const declared = file.originalSize ?? 0;
    if (total + declared > maxBytes) {
      failure = bomb(`entry ${quoteName(file.name)} declares ${mb(declared)} uncompressed`);
      return;
    }
    const parts: Uint8Array[] = [];
    chunks.set(file.name, parts);
    let inflated = 0;
    file.ondata = (err, chunk, final) => {
      if (failure) return;
      if (err) {
        failure = badModel(fileName, `entry ${quoteName(file.name)} cannot be inflated (${errorText(err)}); the archive is truncated or corrupt.`);
        file.terminate();
        return;
      }
      // An entry may not inflate past the size its header declares (when it declares one): a bomb
      // stops at its own claim, long before the archive's bound.
      inflated += chunk.length;
      if (file.originalSize !== undefined && inflated > file.originalSize) {
        failure = badModel(fileName, `refused: entry ${quoteName(file.name)} inflates to more than the ${count(file.originalSize)} bytes its header declares (a zip bomb or a corrupt archive).`);
        file.terminate();
        parts.length = 0;
        return;
      }
      total += chunk.length;
      if (total > maxBytes) {
        failure = bomb(`entry ${quoteName(file.name)} inflates to more than its declared ${mb(declared)}`);
        file.terminate();
        parts.length = 0;
        return;
      }
      parts.push(chunk);
      if (final) complete.add(file.name);
    };
    file.start();
  });
  uz.register(UnzipInflate);
  uz.register(UnzipPassThrough);
  try {
    for (let at = 0; at < bytes.length && !failure; at += FEED_BYTES) {
      const end = Math.min(at + FEED_BYTES, bytes.length);
      uz.push(bytes.subarray(at, end), end === bytes.length);
    }
  } catch (e) {
    if (!failure) failure = badModel(fileName, `is not a readable zip archive (${errorText(e)}).`);
  }
  if (failure) throw failure;
  const cut = [...chunks.keys()].filter((n) => !complete.has(n));
  if (cut.length > 0) throw badModel(fileName, `is truncated: the archive ends inside entr${cut.length > 1 ? 'ies' : 'y'} ${quoteNames(cut)}.`);
  const files = new Map<string, Uint8Array>();
  for (const [name, parts] of chunks) {
    const size = parts.reduce((a, p) => a + p.length, 0);
    const out = new Uint8Array(size);
    let o = 0;
    for (const p of parts) {
      out.set(p, o);
      o += p.length;
    }
    files.set(name, out);
  }
  return { files, names };
}
