// Where a model's bytes come from: the model file, its optional sidecar
// (protocol/formats.ts sidecarNameFor) and the files the engine asks for next to
// it (TF.js weight shards named by model.json). The host only reads, bounded,
// and parses nothing: the bytes go to the engine, which parses the sidecar and
// model.json and answers 'needFiles' with the shard names it needs.
//
// Every read is checked first (the extension host must stay alive whatever a
// cloned repository holds):
// - the file must be a regular file: a symlink to /dev/zero, a FIFO, a device or
//   a folder is refused before it is opened; its size is checked against the
//   limit before reading, and at most the limit is read (stat's size of a device
//   or /proc file is 0);
// - a sibling (sidecar, shard) must be a plain relative name whose real path lies
//   inside the real path of the model's folder: for file: URIs through Node's
//   realpath/lstat (and the descriptor's fstat), elsewhere through
//   workspace.fs.stat, where a symbolic link is refused (where it leads cannot be
//   checked).
// Messages name the file, never a symlink's target, its size or its content.

import * as fs from 'node:fs';
import * as nodePath from 'node:path';
import * as vscode from 'vscode';
import { EngineError, type ModelPayload } from '../engineClient';
import { baseName, readSettings } from '../config';
import { fileKindText, isPlainRelativeName, LIMITS, sidecarNameFor, unreadableReason, type ModelFiles } from '../protocol';

const MB = 1024 * 1024;

/** What is read, for messages. */
interface Reading {
  /** "the model", "the sidecar", "the weight file", "the input". */
  what: string;
  /** The name shown in messages. */
  name: string;
  /** Error code of a refusal. */
  code: string;
  /** Says what the limit is and how to raise it: "the limit of 200 MB (setting dtdLens.maxModelSizeMB)". */
  limitText: string;
}

function refused(r: Reading, problem: string): EngineError {
  return new EngineError(r.code, `${r.name}: ${problem}`);
}

function tooLarge(r: Reading): EngineError {
  return new EngineError('too-large', `${r.name}: ${r.what} is larger than ${r.limitText}; DTD Lens did not read it.`);
}

function notRegularText(r: Reading, kind: string): EngineError {
  return refused(r, `${r.what} is ${kind}, not a regular file; DTD Lens reads only regular files.`);
}


function unreadable(r: Reading, e: unknown): EngineError {
  return refused(r, `cannot read ${r.what} (${unreadableReason((e as { code?: unknown })?.code)}).`);
}

const isMissing = (e: unknown) => {
  const code = (e as { code?: unknown })?.code;
  return code === 'ENOENT' || code === 'ENOTDIR' || code === 'FileNotFound' || code === 'EntryNotFound';
};

const O_NONBLOCK = fs.constants.O_NONBLOCK ?? 0;
const O_NOFOLLOW = fs.constants.O_NOFOLLOW ?? 0;

/** Reads at most `maxBytes` of a local file, refusing a non-regular one (checked on the descriptor) or one longer than the limit. */
async function readLocalBounded(file: string, flags: number, maxBytes: number, r: Reading): Promise<Uint8Array> {
  let handle: fs.promises.FileHandle;
  try {
    // O_NONBLOCK: a FIFO that slipped past the stat check does not block the open.
    handle = await fs.promises.open(file, fs.constants.O_RDONLY | O_NONBLOCK | flags);
  } catch (e) {
    throw unreadable(r, e);
  }
  try {
    const st = await handle.stat();
    if (!st.isFile()) throw notRegularText(r, fileKindText(st));
    if (st.size > maxBytes) throw tooLarge(r);
    let buf = new Uint8Array(Math.min(maxBytes, st.size) + 1);
    let n = 0;
    for (;;) {
      if (n === buf.length) {
        if (n > maxBytes) throw tooLarge(r);
        const grown = new Uint8Array(Math.min(maxBytes + 1, Math.max(2 * buf.length, 64 * 1024)));
        grown.set(buf);
        buf = grown;
      }
      const { bytesRead } = await handle.read(buf, n, buf.length - n, null);
      if (bytesRead === 0) break;
      n += bytesRead;
    }
    if (n > maxBytes) throw tooLarge(r);
    return n === buf.length ? buf : buf.slice(0, n);
  } catch (e) {
    if (e instanceof EngineError) throw e;
    throw unreadable(r, e);
  } finally {
    await handle.close().catch(() => undefined);
  }
}

/** Reads through workspace.fs (remote and virtual workspaces) after checking type and size. */
async function readViaWorkspace(uri: vscode.Uri, maxBytes: number, r: Reading, refuseSymlink: boolean): Promise<Uint8Array | undefined> {
  let st: vscode.FileStat;
  try {
    st = await vscode.workspace.fs.stat(uri);
  } catch (e) {
    if (isMissing(e)) return undefined;
    throw unreadable(r, e);
  }
  if (refuseSymlink && st.type & vscode.FileType.SymbolicLink) {
    throw refused(r, `${r.what} is a symbolic link; outside a local folder DTD Lens cannot check where it leads, so it reads only regular files next to the model.`);
  }
  if (st.type & vscode.FileType.Directory) throw notRegularText(r, 'a folder');
  if (!(st.type & vscode.FileType.File)) throw notRegularText(r, 'a device, a pipe or another special file');
  if (st.size > maxBytes) throw tooLarge(r);
  const bytes = await vscode.workspace.fs.readFile(uri);
  if (bytes.length > maxBytes) throw tooLarge(r);
  // Uint8Array from workspace.fs may be a view on a bigger buffer: copy to send exactly the file.
  return new Uint8Array(bytes);
}

/**
 * Reads a file the user chose (the model, an input): it may be a symbolic link, but
 * what it leads to must be a regular file of at most `maxBytes`.
 */
async function readChosen(uri: vscode.Uri, maxBytes: number, r: Reading): Promise<Uint8Array> {
  if (uri.scheme !== 'file') {
    const bytes = await readViaWorkspace(uri, maxBytes, r, false);
    if (!bytes) throw refused(r, `cannot read ${r.what} (no such file).`);
    return bytes;
  }
  let st: fs.Stats;
  try {
    st = await fs.promises.stat(uri.fsPath);
  } catch (e) {
    throw unreadable(r, e);
  }
  if (!st.isFile()) throw notRegularText(r, fileKindText(st));
  if (st.size > maxBytes) throw tooLarge(r);
  return readLocalBounded(uri.fsPath, 0, maxBytes, r);
}


/**
 * Reads the file `name` next to the model, confined to the model's folder (see the
 * top of this file). undefined: there is no such file.
 */
async function readSibling(model: vscode.Uri, name: string, maxBytes: number, r: Reading): Promise<Uint8Array | undefined> {
  if (!isPlainRelativeName(name)) throw refused(r, `${r.what} is not a plain name inside the model's folder (no "../", absolute paths or URLs); DTD Lens did not read it.`);
  const folder = vscode.Uri.joinPath(model, '..');
  const uri = vscode.Uri.joinPath(folder, ...name.split(/[\\/]/).filter((s) => s && s !== '.'));
  if (uri.scheme !== 'file') return readViaWorkspace(uri, maxBytes, r, true);
  let root: string;
  try {
    root = await fs.promises.realpath(folder.fsPath);
  } catch (e) {
    throw unreadable(r, e);
  }
  try {
    await fs.promises.lstat(uri.fsPath);
  } catch (e) {
    if (isMissing(e)) return undefined;
    throw unreadable(r, e);
  }
  let real: string;
  try {
    real = await fs.promises.realpath(uri.fsPath);
  } catch (e) {
    if (isMissing(e)) throw refused(r, `${r.what} is a symbolic link to a file that does not exist; DTD Lens did not read it.`);
    throw unreadable(r, e);
  }
  const rel = nodePath.relative(root, real);
  if (rel === '' || rel.startsWith('..') || nodePath.isAbsolute(rel)) {
    throw refused(r, `${r.what} leads outside the model's folder (through a symbolic link); DTD Lens reads only files inside the model's folder.`);
  }
  let st: fs.Stats;
  try {
    st = await fs.promises.lstat(real);
  } catch (e) {
    throw unreadable(r, e);
  }
  if (!st.isFile()) throw notRegularText(r, fileKindText(st));
  if (st.size > maxBytes) throw tooLarge(r);
  // The real path has no symlink left: O_NOFOLLOW refuses one that appears in between.
  return readLocalBounded(real, O_NOFOLLOW, maxBytes, r);
}

/**
 * Reads the model (a regular file within dtdLens.maxModelSizeMB) and its sidecar as
 * bytes, and returns a reader for the files the engine will ask for next to it;
 * those count toward the same limit.
 */
export async function readModel(uri: vscode.Uri): Promise<ModelPayload> {
  const settings = readSettings(uri);
  const limit = settings.maxModelSizeMB * MB;
  const limitText = `the limit of ${settings.maxModelSizeMB} MB (setting dtdLens.maxModelSizeMB)`;
  const name = baseName(uri);
  const modelBytes = await readModelFile(uri, limit, name, limitText);
  const sidecarName = sidecarNameFor(name);
  const sidecarBytes = await readSibling(uri, sidecarName, LIMITS.sidecarBytes, {
    what: 'the sidecar',
    name: sidecarName,
    code: 'bad-model',
    limitText: `the limit of ${LIMITS.sidecarBytes / MB} MB for sidecars`,
  });
  let budget = limit - modelBytes.length;
  const read = new Map<string, Uint8Array | undefined>();
  const readSiblings = async (names: string[]): Promise<ModelFiles> => {
    const files: ModelFiles = {};
    for (const shard of names) {
      if (!read.has(shard)) {
        if (read.size >= LIMITS.siblingFiles) throw new EngineError('bad-model', `${name}: names more than ${LIMITS.siblingFiles} weight files.`);
        const r: Reading = { what: `the weight file of ${name}`, name: shard, code: 'bad-model', limitText };
        const bytes = await readSibling(uri, shard, Math.max(0, budget), r).catch((e: unknown) => {
          if (e instanceof EngineError && e.code === 'too-large') {
            throw new EngineError('too-large', `${name} and its weight files are larger than ${limitText} together; DTD Lens did not read them.`);
          }
          throw e;
        });
        read.set(shard, bytes);
        if (bytes) budget -= bytes.length;
      }
      const bytes = read.get(shard);
      if (bytes) Object.defineProperty(files, shard, { value: bytes, enumerable: true, writable: true, configurable: true });
    }
    return files;
  };
  return { fileName: uri.fsPath || uri.path, modelBytes, sidecarBytes, readSiblings };
}

/** The model file itself, with the size message the settings page documents. */
async function readModelFile(uri: vscode.Uri, limit: number, name: string, limitText: string): Promise<Uint8Array> {
  const r: Reading = { what: 'the model', name, code: 'bad-model', limitText };
  try {
    return await readChosen(uri, limit, r);
  } catch (e) {
    if (e instanceof EngineError && e.code === 'too-large') {
      // Its own size is the user's to know (it is the file they chose); a symlink's target's size is never said.
      const st = await vscode.workspace.fs.stat(uri).then(
        (s) => s,
        () => undefined,
      );
      if (st && st.size > limit && !(st.type & vscode.FileType.SymbolicLink)) {
        throw new EngineError('too-large', `${name} is ${(st.size / MB).toFixed(1)} MB, more than ${limitText}.`);
      }
    }
    throw e;
  }
}

/** Reads an input file the user chose: a regular file within LIMITS.inputFileMB. */
export function readInputFile(uri: vscode.Uri): Promise<Uint8Array> {
  return readChosen(uri, LIMITS.inputFileMB * MB, {
    what: 'the input',
    name: vscode.workspace.asRelativePath(uri, false),
    code: 'bad-input',
    limitText: `the limit of ${LIMITS.inputFileMB} MB for input files`,
  });
}
