// Loader for PyTorch state dicts saved with torch.save (.pt/.pth), in either format:
// * zip (PyTorch ≥ 1.6): `<archive>/data.pkl` (a pickle) and the raw tensor storages
//   `<archive>/data/<key>`;
// * legacy (`_use_new_zipfile_serialization=False`, and every file of PyTorch < 1.6):
//   a stream of pickles — the magic number, the protocol version (1001), sys_info
//   ({little_endian, type_sizes}), the object, the sorted list of storage keys — then
//   per key the storage: an 8-byte little-endian element count and the raw values.
// Every pickle is read by the restricted unpickler in pickle.ts, which never executes
// anything; every count and size is checked against the file before anything is read.
// The object must be a state dict (an OrderedDict of tensors), or a checkpoint dict
// holding one under "state_dict", "model_state_dict" or "model". The architecture comes
// from the key names for a stack of nn.Linear layers (as for safetensors), otherwise
// from the sidecar's "layers" (layerSpec.ts). Full pickled modules and TorchScript
// archives are refused with a message saying what to do.

import type { Network } from '../network';
import { LoaderOptions, badModel, bfloat16ToNumber, halfToNumber, readSidecar, unsupported } from './common';
import type { TensorLookup } from './layerSpec';
import { PDict, PStorage, PTensor, unpickleAt, unpickleStateDict } from './pickle';
import { type KeyedTensor, linearStackNetwork, networkFromSidecarLayers } from './safetensors';
import { isZip, readZip } from './zip';
import { allocFloat64, checkDims, count as fmt } from '../budget';
import { quoteName } from '../../protocol';

const DTYPE_BYTES: Record<string, number> = { F32: 4, F64: 8, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1 };
const FLOAT_DTYPES = ['F32', 'F64', 'F16', 'BF16'];

interface PtTensor extends KeyedTensor {
  tensor: PTensor;
}

/** torch.save's legacy magic number and protocol version (torch/serialization.py). */
const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;
const LEGACY_PROTOCOL = 1001;

/** What a torch.save file holds: the unpickled object and the bytes of each storage by key. */
interface Saved {
  root: unknown;
  storage: (key: string) => Uint8Array | undefined;
  notes: string[];
}

function readZipSave(bytes: Uint8Array, fileName: string, opts: LoaderOptions): Saved {
  const { files, names } = readZip(bytes, fileName, (n) => /^[^/]+\/data\.pkl$/.test(n) || /^[^/]+\/byteorder$/.test(n) || /^[^/]+\/data\/[^/]+$/.test(n), opts.maxUncompressedBytes);
  const pkl = [...files.keys()].filter((n) => n.endsWith('/data.pkl'));
  if (names.some((n) => /^[^/]+\/(code|constants\.pkl)/.test(n))) {
    throw unsupported(fileName, 'is a TorchScript archive (it contains code); DTD Lens reads state dicts only: save one with torch.save(model.state_dict(), path).');
  }
  if (pkl.length !== 1) throw badModel(fileName, `is not a PyTorch state dict archive: expected one '<name>/data.pkl' entry, found ${pkl.length}.`);
  const prefix = pkl[0].slice(0, -'data.pkl'.length);
  const order = files.get(`${prefix}byteorder`);
  if (order && new TextDecoder().decode(order).trim() !== 'little') throw unsupported(fileName, 'stores big-endian tensors; DTD Lens reads little-endian PyTorch files.');
  return { root: unpickleStateDict(files.get(pkl[0])!, fileName, pkl[0]), storage: (key) => files.get(`${prefix}data/${key}`), notes: [] };
}

/** The legacy (pre-1.6) format: five pickles, then each storage as an 8-byte count and its raw values. */
function readLegacySave(bytes: Uint8Array, fileName: string): Saved {
  let at = 0;
  const next = (what: string) => {
    const r = unpickleAt(bytes, fileName, `${what} (the pickle at byte ${at})`, at);
    at = r.end;
    return r;
  };
  const notTorch = () => badModel(fileName, 'is a pickle but not a torch.save file (it does not start with torch.save\'s magic number); DTD Lens reads state dicts saved with torch.save(model.state_dict(), path).');
  if (next('the magic number').value !== LEGACY_MAGIC) throw notTorch();
  const protocol = next('the protocol version').value;
  if (protocol !== LEGACY_PROTOCOL) throw unsupported(fileName, `is a legacy torch.save file of protocol version ${typeof protocol === 'number' ? protocol : 'unknown'}; DTD Lens reads version ${LEGACY_PROTOCOL} (PyTorch 0.4 to today) and the zip format.`);
  const sysInfo = next('sys_info').value;
  if (sysInfo instanceof PDict && sysInfo.entries.get('little_endian') === false) throw unsupported(fileName, 'stores big-endian tensors; DTD Lens reads little-endian PyTorch files.');
  const object = next('the saved object');
  const keys = next('the storage key list').value;
  if (!Array.isArray(keys) || !keys.every((k) => typeof k === 'string')) throw badModel(fileName, 'the storage key list of this legacy torch.save file is not a list of strings (corrupt).');
  // The declared storages by key (every tensor of one storage declares the same one).
  const declared = new Map<string, PStorage>();
  for (const s of object.storages) {
    const seen = declared.get(s.key);
    if (seen && (seen.dtype !== s.dtype || seen.numel !== s.numel)) {
      throw badModel(fileName, `storage ${quoteName(s.key)} is declared twice, as ${fmt(seen.numel)} ${seen.dtype} and as ${fmt(s.numel)} ${s.dtype} values (corrupt).`);
    }
    declared.set(s.key, s);
  }
  const data = new Map<string, Uint8Array>();
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (const key of keys as string[]) {
    const s = declared.get(key);
    if (!s) throw badModel(fileName, `lists storage ${quoteName(key)}, which no tensor uses (corrupt).`);
    if (data.has(key)) throw badModel(fileName, `lists storage ${quoteName(key)} twice (corrupt).`);
    if (bytes.length - at < 8) throw badModel(fileName, `ends before storage ${quoteName(key)} (truncated file).`);
    const n = view.getBigUint64(at, true);
    const width = DTYPE_BYTES[s.dtype];
    const left = bytes.length - at - 8;
    // Checked as BigInt against the bytes left, before anything is sized from it.
    if (n * BigInt(width) > BigInt(left)) {
      throw badModel(fileName, `storage ${quoteName(key)} claims ${n} values of ${width} bytes, but only ${left} bytes are left in the file (truncated or corrupt).`);
    }
    if (Number(n) !== s.numel) throw badModel(fileName, `storage ${quoteName(key)} holds ${n} values but its tensors declared ${fmt(s.numel)} (corrupt).`);
    data.set(key, bytes.subarray(at + 8, at + 8 + Number(n) * width));
    at += 8 + Number(n) * width;
  }
  const notes = ['read a legacy (pre-1.6 format) torch.save file.'];
  if (at < bytes.length) notes.push(`${fmt(bytes.length - at)} bytes after the last storage were ignored.`);
  return { root: object.value, storage: (key) => data.get(key), notes };
}

export function loadPytorch(bytes: Uint8Array, fileName: string, opts: LoaderOptions = {}): Network {
  let saved: Saved;
  if (isZip(bytes)) saved = readZipSave(bytes, fileName, opts);
  else if (bytes.length > 2 && bytes[0] === 0x80 && bytes[1] >= 2 && bytes[1] <= 5) saved = readLegacySave(bytes, fileName);
  else throw badModel(fileName, 'is not a PyTorch file: torch.save writes a zip archive (or, before PyTorch 1.6, a pickle stream), and this file is neither.');
  let root = saved.root;
  const notes: string[] = [...saved.notes];
  if (root instanceof PDict && ![...root.entries.values()].some((v) => v instanceof PTensor)) {
    for (const key of ['state_dict', 'model_state_dict', 'model']) {
      const inner = root.entries.get(key);
      if (inner instanceof PDict) {
        notes.push(`read the state dict under the checkpoint key "${key}".`);
        root = inner;
        break;
      }
    }
  }
  if (!(root instanceof PDict)) throw unsupported(fileName, 'does not hold a state dict (a dict of tensors); save one with torch.save(model.state_dict(), path).');
  const tensors: PtTensor[] = [];
  for (const [key, value] of root.entries) {
    if (typeof key !== 'string') continue;
    if (value instanceof PTensor) {
      // Declared sizes are checked here, before any layer is sized from them ([1e8, 0], [-3, 4]).
      checkDims(value.size, `tensor ${quoteName(key)}`, (p) => badModel(fileName, p));
      tensors.push({ key, dtype: value.storage.dtype, shape: value.size, tensor: value });
    }
  }
  if (tensors.length === 0) throw badModel(fileName, 'holds no tensors, so there is no network to explain.');

  const read = (t: PtTensor): Float64Array => {
    const { storage, offset, size, stride } = t.tensor;
    if (!FLOAT_DTYPES.includes(storage.dtype)) {
      throw badModel(fileName, `tensor ${quoteName(t.key)} has dtype ${storage.dtype}; DTD Lens reads weights stored as ${FLOAT_DTYPES.join(', ')}.`);
    }
    const data = saved.storage(storage.key);
    if (!data) throw badModel(fileName, `tensor ${quoteName(t.key)} points at storage ${quoteName(storage.key)}, which is not in the file.`);
    const width = DTYPE_BYTES[storage.dtype];
    if (storage.numel < 0) throw badModel(fileName, `storage ${quoteName(storage.key)} declares ${storage.numel} values.`);
    if (data.length < storage.numel * width) throw badModel(fileName, `storage ${quoteName(storage.key)} holds ${data.length} bytes, fewer than its ${storage.numel} values need (truncated?).`);
    const count = checkDims(size, `tensor ${quoteName(t.key)}`, (p) => badModel(fileName, p));
    if (stride.length !== size.length) throw badModel(fileName, `tensor ${quoteName(t.key)} has ${size.length} dimensions but ${stride.length} strides.`);
    // The largest element index must lie inside the storage.
    let last = offset;
    for (let d = 0; d < size.length; d++) if (size[d] > 0) last += (size[d] - 1) * stride[d];
    if (count > 0 && (offset < 0 || last >= storage.numel || stride.some((s) => s < 0))) {
      throw badModel(fileName, `tensor ${quoteName(t.key)} (shape [${size.join(', ')}], offset ${offset}) reaches outside its storage of ${storage.numel} values.`);
    }
    // A view with more values than its storage repeats them (stride 0, expand()): state dicts never
    // save one, and it would let a few bytes declare a huge tensor.
    if (count > storage.numel) {
      throw badModel(fileName, `tensor ${quoteName(t.key)} (shape [${size.join(', ')}], ${fmt(count)} values) has more values than its storage of ${fmt(storage.numel)} (a view repeating values, stride 0); DTD Lens reads tensors backed by their own values: save with tensor.contiguous().`);
    }
    const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
    const scratch = new DataView(new ArrayBuffer(4));
    const out = allocFloat64(count, `tensor ${quoteName(t.key)}`, (p) => badModel(fileName, p));
    const idx = new Array(size.length).fill(0);
    for (let i = 0; i < count; i++) {
      let e = offset;
      for (let d = 0; d < size.length; d++) e += idx[d] * stride[d];
      switch (storage.dtype) {
        case 'F32': out[i] = view.getFloat32(4 * e, true); break;
        case 'F64': out[i] = view.getFloat64(8 * e, true); break;
        case 'F16': out[i] = halfToNumber(view.getUint16(2 * e, true)); break;
        default: out[i] = bfloat16ToNumber(view.getUint16(2 * e, true), scratch);
      }
      for (let d = size.length - 1; d >= 0; d--) {
        if (++idx[d] < size[d]) break;
        idx[d] = 0;
      }
    }
    return out;
  };

  const byKey = new Map(tensors.map((t) => [t.key, t]));
  const lookup: TensorLookup = {
    keys: () => tensors.map((t) => t.key),
    get: (key) => {
      const t = byKey.get(key);
      return t ? { shape: t.shape, values: read(t) } : undefined;
    },
  };
  const sidecar = readSidecar(opts.sidecar, fileName);
  const net =
    networkFromSidecarLayers(lookup, opts.sidecar, fileName, 'pytorch', sidecar.outputSelection ?? null) ??
    linearStackNetwork(tensors, read, fileName, opts, 'pytorch', 'a PyTorch state dict');
  net.notes.unshift(...notes);
  return net;
}
