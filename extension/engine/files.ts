// Reading files from disk for the command line: the model file, its sidecar,
// the files a model names next to itself (TF.js weight shards) and input files.
// (In VS Code the host reads them the same way, extension/host/modelSource.ts,
// and hands the bytes to the engine child.) Every read is bounded, every
// sibling is confined:
// - a file must be a regular file: a symlink to /dev/zero, a FIFO, a device, a
//   socket or a folder is refused before it is opened (a FIFO would block the
//   open); the size is checked before reading, and at most the limit is read
//   whatever stat said (a regular file whose stat size is 0 can still be long);
// - a sibling is looked up next to the model and resolved with its real path,
//   which must lie inside the real path of the model's folder: symlinks that
//   leave it (the file itself or a sub-folder on the way) are refused.
// Messages name the file as the model names it, never a symlink's target, its
// size or its content.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { DtdError, type DtdErrorCode } from './errors';
import { fileKindText, formatBytes, isPlainRelativeName, quoteName, unreadableReason } from '../protocol';

/** What is being read, for messages: "model", "sidecar", "weight file", "input". */
export interface ReadWhat {
  what: string;
  /** The error code a refusal gets (the model's files: bad-model; input files: bad-input). */
  code?: DtdErrorCode;
  /** Shown instead of the path in messages. */
  display?: string;
  /** A hint appended to "larger than the limit" (e.g. the setting or flag that raises it). */
  limitHint?: string;
}

function refuse(w: ReadWhat, file: string, problem: string): DtdError {
  return new DtdError(w.code ?? 'bad-model', `${w.display ?? file}: ${problem}`, file);
}

function tooLarge(w: ReadWhat, file: string, maxBytes: number): DtdError {
  return refuse(w, file, `the ${w.what} is larger than the limit of ${formatBytes(maxBytes)}${w.limitHint ? ` (${w.limitHint})` : ''}; DTD Lens did not read it.`);
}

function notRegular(w: ReadWhat, file: string, st: fs.Stats): DtdError {
  return refuse(w, file, `the ${w.what} is ${fileKindText(st)}, not a regular file; DTD Lens reads only regular files.`);
}

function unreadable(w: ReadWhat, file: string, e: unknown): DtdError {
  return refuse(w, file, `cannot read the ${w.what} (${unreadableReason((e as NodeJS.ErrnoException).code)}).`);
}

const O_NONBLOCK = fs.constants.O_NONBLOCK ?? 0;
const O_NOFOLLOW = fs.constants.O_NOFOLLOW ?? 0;

/**
 * Reads at most `maxBytes` of an opened file, refusing it when it is not a
 * regular file (checked on the descriptor, so a swap after the path check is
 * caught too) or turns out longer than the limit.
 */
function readBounded(file: string, flags: number, maxBytes: number, w: ReadWhat, label = file): Uint8Array {
  let fd: number;
  try {
    // O_NONBLOCK: opening a FIFO that slipped past the stat check does not wait for a writer.
    fd = fs.openSync(file, fs.constants.O_RDONLY | O_NONBLOCK | flags);
  } catch (e) {
    throw unreadable(w, label, e);
  }
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile()) throw notRegular(w, label, st);
    if (st.size > maxBytes) throw tooLarge(w, label, maxBytes);
    // Never trust stat's size: read until EOF, but never more than the limit (+1 to notice it).
    let buf = new Uint8Array(Math.min(maxBytes, st.size) + 1);
    let n = 0;
    for (;;) {
      if (n === buf.length) {
        if (n > maxBytes) throw tooLarge(w, label, maxBytes);
        const grown = new Uint8Array(Math.min(maxBytes + 1, Math.max(2 * buf.length, 64 * 1024)));
        grown.set(buf);
        buf = grown;
      }
      const got = fs.readSync(fd, buf, n, buf.length - n, null);
      if (got === 0) break;
      n += got;
    }
    if (n > maxBytes) throw tooLarge(w, label, maxBytes);
    return n === buf.length ? buf : buf.slice(0, n);
  } catch (e) {
    if (e instanceof DtdError) throw e;
    throw unreadable(w, label, e);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Reads a file the user named (the model, an input): it may be a symlink, but
 * what it leads to must be a regular file of at most `maxBytes`.
 */
export function readRegularFile(file: string, maxBytes: number, w: ReadWhat): Uint8Array {
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch (e) {
    throw unreadable(w, file, e);
  }
  if (!st.isFile()) throw notRegular(w, file, st);
  if (st.size > maxBytes) throw tooLarge(w, file, maxBytes);
  return readBounded(file, 0, maxBytes, w);
}


/** True when `real` is inside the folder `root` (both real paths), not the folder itself. */
function isInside(root: string, real: string): boolean {
  const rel = path.relative(root, real);
  return rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel) && rel.split(path.sep)[0] !== '..';
}

/**
 * Reads the file `name` next to the model `modelPath` (a sidecar, a weight shard),
 * confined to the model's folder: `name` must be a plain relative path, its real
 * path (every symlink resolved, sub-folders included) must lie inside the real
 * path of the model's folder, and it must be a regular file of at most `maxBytes`.
 * Returns undefined when there is no such file (the caller decides whether that is
 * an error); everything else that is not a readable regular file inside is refused
 * with a message naming `name` only.
 */
export function readConfined(modelPath: string, name: string, maxBytes: number, w: ReadWhat): Uint8Array | undefined {
  const display = w.display ?? name;
  const ww: ReadWhat = { ...w, display };
  // A name that is not plain may hold anything (NULs, control characters): the message names the model and quotes the name.
  if (!isPlainRelativeName(name)) throw refuse({ ...ww, display: path.basename(modelPath) }, name, `the ${w.what} ${quoteName(name)} is not a plain name inside the model's folder (no "../", absolute paths or URLs); DTD Lens did not read it.`);
  const folder = path.dirname(path.resolve(modelPath));
  let root: string;
  try {
    root = fs.realpathSync(folder);
  } catch (e) {
    throw unreadable(ww, name, e);
  }
  const candidate = path.join(folder, name);
  try {
    fs.lstatSync(candidate);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw unreadable(ww, name, e);
  }
  let real: string;
  try {
    real = fs.realpathSync(candidate);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw refuse(ww, name, `the ${w.what} is a symbolic link to a file that does not exist; DTD Lens did not read it.`);
    throw unreadable(ww, name, e);
  }
  if (!isInside(root, real)) {
    throw refuse(ww, name, `the ${w.what} leads outside the model's folder (through a symbolic link); DTD Lens reads only files inside the model's folder.`);
  }
  let st: fs.Stats;
  try {
    st = fs.lstatSync(real);
  } catch (e) {
    throw unreadable(ww, name, e);
  }
  if (!st.isFile()) throw notRegular(ww, name, st);
  if (st.size > maxBytes) throw tooLarge(ww, name, maxBytes);
  // The real path has no symlink left: O_NOFOLLOW refuses one that appears in between.
  return readBounded(real, O_NOFOLLOW, maxBytes, ww, name);
}
