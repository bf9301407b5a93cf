// Loader for Keras models: `.keras` (Keras 3: a zip with config.json and
// model.weights.h5, weights at layers/<name>/vars/<i>) and legacy `.h5`/`.hdf5`
// (model.save() in Keras 2: the model_config attribute and
// model_weights/<layer>/<weight_names>). Zips are read with fflate under the
// zip-bomb bound (zip.ts), HDF5 with jsfive (pure JS, read-only, synchronous).
// The layer configs go through kerasLayers.ts (channels-last → NCHW).

import { File as H5File, type Dataset, type Group } from 'jsfive';
import { isDtdError } from '../errors';
import type { Network } from '../network';
import { LoaderOptions, badModel, unsupported } from './common';
import { type KerasWeight, checkKerasModel, kerasModelOf, networkFromKerasModel } from './kerasLayers';
import { readZip } from './zip';
import { Hdf5Refusal, installHdf5Guards } from './hdf5Guard';
import { allocFloat64, checkDims, checkJsonShape, errorText, resourceError } from '../budget';

// B-tree walks, chunk and size checks around jsfive (hdf5Guard.ts), before any file is opened.
installHdf5Guards();
import { quoteName, quoteNames } from '../../protocol';

const HDF5_MAGIC = [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a];

function openH5(bytes: Uint8Array, fileName: string, what: string): H5File {
  if (!HDF5_MAGIC.every((b, i) => bytes[i] === b)) throw badModel(fileName, `${what} is not an HDF5 file (no HDF5 signature).`);
  // The superblock records the end-of-file address: a shorter file is truncated (jsfive reads lazily
  // and might not notice when the missing bytes are not needed).
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = bytes[8];
  const eofAt = version === 0 ? 40 : version === 1 ? 44 : version === 2 || version === 3 ? 28 : -1;
  const offsetSize = version <= 1 ? bytes[13] : bytes[9];
  if (eofAt > 0 && offsetSize === 8 && bytes.length >= eofAt + 8) {
    const eof = view.getBigUint64(eofAt, true);
    if (eof !== 0xffffffffffffffffn && eof > BigInt(bytes.length)) {
      throw badModel(fileName, `${what} is truncated: its HDF5 superblock says it ends at byte ${eof}, but it has ${bytes.length} bytes.`);
    }
  }
  try {
    return new H5File(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer, fileName);
  } catch (e) {
    if (e instanceof Hdf5Refusal) throw badModel(fileName, `${what} is refused: ${e.message} (hostile or corrupt HDF5).`);
    throw badModel(fileName, `${what} cannot be read as HDF5 (${errorText(e)}); the file is truncated or corrupt.`);
  }
}

function isDataset(v: unknown): v is Dataset {
  return typeof v === 'object' && v !== null && 'shape' in v && 'value' in v;
}

/** A float dataset → weight; refuses non-numeric data. */
function datasetWeight(node: unknown, path: string, fileName: string): KerasWeight {
  if (!isDataset(node)) throw badModel(fileName, `${quoteName(path)} is not a dataset.`);
  // The declared shape is checked before jsfive allocates or inflates anything for it.
  const shape = Array.isArray(node.shape) ? [...node.shape] : [];
  const n = checkDims(shape, `dataset ${quoteName(path)}`, (p) => badModel(fileName, p));
  let value: unknown;
  try {
    value = node.value;
  } catch (e) {
    if (e instanceof Hdf5Refusal) throw badModel(fileName, `dataset ${quoteName(path)} is refused: ${e.message} (hostile or corrupt HDF5).`);
    // jsfive's own TypeErrors/RangeErrors on corrupt structures are internal text, not a reason a user can act on.
    if (e instanceof TypeError || e instanceof RangeError) throw badModel(fileName, `dataset ${quoteName(path)} cannot be read: the file is truncated or corrupt.`);
    throw badModel(fileName, `dataset ${quoteName(path)} cannot be read (${errorText(e)}).`);
  }
  const arr = value as ArrayLike<unknown>;
  if (!arr || typeof arr.length !== 'number' || arr.length !== n || (n > 0 && typeof arr[0] !== 'number')) {
    throw badModel(fileName, `dataset ${quoteName(path)} does not hold ${n} numbers.`);
  }
  const values = allocFloat64(n, `dataset ${quoteName(path)}`, (p) => badModel(fileName, p));
  for (let i = 0; i < n; i++) values[i] = arr[i] as number;
  return { shape, values };
}

/**
 * An HDF5 string attribute as text. Keras ≤ 2.4 (h5py 2) stores strings as fixed-length byte strings
 * (numpy 'S..', HDF5 H5T_STRING of a fixed size) padded with NULs: they are stripped here, the one
 * place attribute strings are read.
 */
export function attrText(v: unknown): string | undefined {
  if (typeof v === 'string') return v.replace(/\0+$/, '');
  if (v instanceof Uint8Array) {
    let end = v.length;
    while (end > 0 && v[end - 1] === 0) end--;
    return new TextDecoder().decode(v.subarray(0, end));
  }
  if (Array.isArray(v) && v.length === 1) return attrText(v[0]);
  return undefined;
}

/**
 * A list-of-strings attribute (layer_names, weight_names), NULs stripped. Keras splits one that would
 * exceed the HDF5 object header limit into `name0`, `name1`, ... (save_attributes_to_hdf5_group).
 */
export function attrTextList(attrs: Record<string, unknown> | undefined, name: string): string[] {
  const one = (v: unknown): string[] => (Array.isArray(v) ? v : v === undefined || v === null ? [] : [v]).map((n) => attrText(n) ?? '');
  if (!attrs) return [];
  if (name in attrs) return one(attrs[name]);
  const out: string[] = [];
  for (let k = 0; `${name}${k}` in attrs; k++) out.push(...one(attrs[`${name}${k}`]));
  return out;
}

function parseConfig(text: string | undefined, fileName: string, where: string): unknown {
  if (text === undefined) throw badModel(fileName, `has no ${where}.`);
  checkJsonShape(text, (p) => badModel(fileName, `${where}: ${p}`));
  try {
    return JSON.parse(text);
  } catch (e) {
    throw badModel(fileName, `${where} is not valid JSON (${errorText(e)}).`);
  }
}

function safeGet(g: Group, path: string): unknown {
  try {
    return g.get(path);
  } catch {
    return null;
  }
}

/** jsfive reads lazily and throws plain errors (RangeError, ...) on corrupt files: turn them into bad-model. */
function guarded<T>(fileName: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (isDtdError(e)) throw e;
    if (e instanceof Hdf5Refusal) throw badModel(fileName, `is refused: ${e.message} (hostile or corrupt HDF5).`);
    const resource = resourceError(e, fileName); // an allocation V8 refused, a stack overflow
    if (isDtdError(resource)) throw resource;
    throw badModel(fileName, `cannot be read as a Keras HDF5 file (${errorText(e)}); the file is truncated or corrupt.`);
  }
}

/** Keras 3 `.keras` zip. */
export function loadKerasArchive(bytes: Uint8Array, fileName: string, opts: LoaderOptions = {}): Network {
  return guarded(fileName, () => loadKerasArchiveUnguarded(bytes, fileName, opts));
}

/** Legacy Keras HDF5 (`model.save('m.h5')`): architecture and weights in one file. */
export function loadKerasH5(bytes: Uint8Array, fileName: string, opts: LoaderOptions = {}): Network {
  return guarded(fileName, () => loadKerasH5Unguarded(bytes, fileName, opts));
}

function loadKerasArchiveUnguarded(bytes: Uint8Array, fileName: string, opts: LoaderOptions): Network {
  if (HDF5_MAGIC.every((b, i) => bytes[i] === b)) {
    // Keras 2 wrote HDF5 whatever the name (model.save("m.keras") before Keras 3): the .h5 layout.
    const net = loadKerasH5Unguarded(bytes, fileName, opts);
    net.notes.push('This .keras file is an HDF5 file, not a Keras 3 zip archive: read as a legacy Keras .h5 model (model_config + model_weights).');
    return net;
  }
  const { files, names } = readZip(bytes, fileName, (n) => n === 'config.json' || n === 'model.weights.h5', opts.maxUncompressedBytes);
  const configBytes = files.get('config.json');
  if (!configBytes) throw badModel(fileName, `is not a Keras v3 archive: it has no config.json (entries: ${quoteNames(names, 8) || 'none'}).`);
  const model = kerasModelOf(parseConfig(new TextDecoder().decode(configBytes), fileName, 'config.json'), fileName);
  checkKerasModel(model, fileName);
  const h5bytes = files.get('model.weights.h5');
  if (!h5bytes) throw badModel(fileName, 'has no model.weights.h5 inside the archive.');
  const h5 = openH5(h5bytes, fileName, 'model.weights.h5');
  const lookup = (layer: string, _variable: string, index: number): KerasWeight | undefined => {
    for (const path of [`layers/${layer}/vars/${index}`, `_layer_checkpoint_dependencies/${layer}/vars/${index}`]) {
      const node = safeGet(h5, path);
      if (node) return datasetWeight(node, path, fileName);
    }
    return undefined;
  };
  return networkFromKerasModel(model, lookup, fileName, 'keras');
}

function loadKerasH5Unguarded(bytes: Uint8Array, fileName: string, _opts: LoaderOptions): Network {
  const h5 = openH5(bytes, fileName, 'the file');
  const config = attrText(h5.attrs.model_config);
  if (config === undefined) {
    throw unsupported(fileName, 'holds weights only (no model_config attribute, as written by model.save_weights()); DTD Lens needs the architecture too: save with model.save("model.h5") or as .keras.');
  }
  const model = kerasModelOf(parseConfig(config, fileName, 'the model_config attribute'), fileName);
  checkKerasModel(model, fileName);
  const root = (safeGet(h5, 'model_weights') as Group | null) ?? h5;
  const lookup = (layer: string, variable: string, index: number): KerasWeight | undefined => {
    const g = safeGet(root, layer) as Group | null;
    if (!g) return undefined;
    const names = attrTextList(g.attrs as Record<string, unknown> | undefined, 'weight_names');
    const base = (n: string) => n.replace(/:\d+$/, '').split('/').pop();
    const name = names.find((n) => base(n) === variable) ?? names[index];
    if (!name) return undefined;
    const node = safeGet(g, name);
    return node ? datasetWeight(node, `model_weights/${layer}/${name}`, fileName) : undefined;
  };
  return networkFromKerasModel(model, lookup, fileName, 'keras');
}
