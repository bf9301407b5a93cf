// Loader for PyTorch state dicts saved as safetensors: an 8-byte little-endian
// header length, a JSON header {key: {dtype, shape, data_offsets}}, raw data.
// Parsed by hand (the format is that small) and defensively: every size in the
// header is checked against the file before anything is read or allocated.
// Supported architecture: a stack of nn.Linear layers, keys `layerN.linear.weight`
// (research code), `N.weight` (nn.Sequential) or `fcN.weight`, optionally under
// one common prefix (e.g. `net.0.weight`); ordered by N numerically.
// Any other architecture (convolutions, BatchNorm, pooling) comes from the
// sidecar's "layers" list (schema in layerSpec.ts, docs/formats.md).

import type { Activation, ActivationParams, DenseLayer, Network, Shape3 } from '../network';
import { LIMITS, quoteName, quoteNames, sidecarNameFor } from '../../protocol';
import { allocFloat64, checkDims, checkJsonShape, errorText, preview } from '../budget';
import { type TensorLookup, buildFromLayerSpecs, readArchitecture } from './layerSpec';
import { activationText } from '../activations';
import {
  LoaderOptions,
  badModel,
  bfloat16ToNumber,
  halfToNumber,
  displayName,
  readSidecar,
  shapeSize,
  unsupported,
} from './common';

/** safetensors' limit on the header size; a larger claim is hostile or corrupt. */
const MAX_HEADER_BYTES = LIMITS.safetensorsHeaderBytes;

const DTYPE_BYTES: Record<string, number> = {
  BOOL: 1, U8: 1, I8: 1, F8_E5M2: 1, F8_E4M3: 1, I16: 2, U16: 2, F16: 2, BF16: 2,
  I32: 4, U32: 4, F32: 4, I64: 8, U64: 8, F64: 8,
};
const FLOAT_DTYPES = ['F32', 'F64', 'F16', 'BF16'];

interface TensorEntry {
  key: string;
  dtype: string;
  shape: number[];
  begin: number;
  end: number;
}

interface SafetensorsFile {
  tensors: Map<string, TensorEntry>;
  metadata: Record<string, string> | null;
  /** The data section: bytes after the header. */
  data: Uint8Array;
}

/** Parses header and checks every entry's offsets and sizes; reads no tensor data yet. */
export function parseSafetensors(bytes: Uint8Array, fileName: string): SafetensorsFile {
  const fail = (problem: string) => badModel(fileName, `is not a valid safetensors file: ${problem}`);
  if (bytes.length < 8) throw fail(`the file has ${bytes.length} bytes, fewer than the 8-byte header length.`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLen = view.getBigUint64(0, true);
  if (headerLen > BigInt(bytes.length - 8)) {
    throw fail(`the header claims ${headerLen} bytes but the file has only ${bytes.length - 8} after the length field (truncated or not safetensors).`);
  }
  if (headerLen > BigInt(MAX_HEADER_BYTES)) throw fail(`the header claims ${headerLen} bytes, more than the ${MAX_HEADER_BYTES} allowed.`);
  const n = Number(headerLen);
  let header: unknown;
  try {
    const text = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + n));
    checkJsonShape(text, (p) => fail(`the header: ${p}`));
    header = JSON.parse(text);
  } catch (e) {
    if (e instanceof Error && e.name === 'DtdError') throw e;
    throw fail(`the header is not JSON (${errorText(e)}).`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) throw fail('the header is not a JSON object.');
  const data = bytes.subarray(8 + n);
  const tensors = new Map<string, TensorEntry>();
  let metadata: Record<string, string> | null = null;
  for (const [key, raw] of Object.entries(header as Record<string, unknown>)) {
    if (key === '__metadata__') {
      if (typeof raw === 'object' && raw !== null && !Array.isArray(raw)) metadata = raw as Record<string, string>;
      continue;
    }
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw fail(`the entry for ${quoteName(key)} is not an object.`);
    const { dtype, shape, data_offsets: offsets } = raw as Record<string, unknown>;
    if (typeof dtype !== 'string' || !(dtype in DTYPE_BYTES)) throw fail(`tensor ${quoteName(key)} has unknown dtype ${preview(dtype)}.`);
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw fail(`tensor ${quoteName(key)} has an invalid shape ${preview(shape)}.`);
    }
    checkDims(shape as number[], `tensor ${quoteName(key)}`, fail);
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0) || offsets[0] > offsets[1]) {
      throw fail(`tensor ${quoteName(key)} has invalid data_offsets ${preview(offsets)}.`);
    }
    const [begin, end] = offsets as [number, number];
    if (end > data.length) {
      throw fail(`tensor ${quoteName(key)} has data_offsets [${begin}, ${end}] outside the ${data.length} data bytes (truncated file?).`);
    }
    const expected = shapeSize(shape as number[]) * DTYPE_BYTES[dtype];
    if (expected !== end - begin) {
      throw fail(`tensor ${quoteName(key)} has shape [${shape.join(', ')}] of ${dtype} (${expected} bytes) but its data_offsets span ${end - begin} bytes.`);
    }
    tensors.set(key, { key, dtype, shape: shape as number[], begin, end });
  }
  return { tensors, metadata, data };
}

function readFloats(file: SafetensorsFile, t: TensorEntry, fileName: string): Float64Array {
  if (!FLOAT_DTYPES.includes(t.dtype)) {
    throw badModel(fileName, `tensor ${quoteName(t.key)} has dtype ${t.dtype}; DTD Lens reads weights stored as ${FLOAT_DTYPES.join(', ')}.`);
  }
  const view = new DataView(file.data.buffer, file.data.byteOffset + t.begin, t.end - t.begin);
  const count = shapeSize(t.shape);
  const out = allocFloat64(count, `tensor ${quoteName(t.key)}`, (p) => badModel(fileName, p));
  const scratch = new DataView(new ArrayBuffer(4));
  for (let i = 0; i < count; i++) {
    switch (t.dtype) {
      case 'F32': out[i] = view.getFloat32(4 * i, true); break;
      case 'F64': out[i] = view.getFloat64(8 * i, true); break;
      case 'F16': out[i] = halfToNumber(view.getUint16(2 * i, true)); break;
      default: out[i] = bfloat16ToNumber(view.getUint16(2 * i, true), scratch);
    }
  }
  return out;
}

// prefix (optional, ends with '.'), a name stem ('layer', 'fc', '' for nn.Sequential),
// the layer index, an optional `.linear`, the parameter.
const LINEAR_KEY = /^((?:[^.]+\.)*?)([A-Za-z_]*)(\d+)(\.linear)?\.(weight|bias)$/;

/** What the key-based architecture needs to know about a tensor (safetensors entry, PyTorch tensor). */
export interface KeyedTensor {
  key: string;
  dtype: string;
  shape: number[];
}

interface LinearSlot<T extends KeyedTensor> {
  index: number;
  weight?: T;
  bias?: T;
}

function describeUnsupportedKey(t: KeyedTensor): string {
  const shape = `[${t.shape.join(', ')}]`;
  let guess = '';
  if (/running_mean|running_var|num_batches_tracked/.test(t.key)) guess = ', looks like BatchNorm';
  else if (t.key.endsWith('weight') && t.shape.length >= 3) guess = ', looks like a convolution';
  else if (t.key.endsWith('weight') && t.shape.length === 1) guess = ', looks like a normalisation layer';
  return `${quoteName(t.key)} (${t.dtype} ${shape}${guess})`;
}

/** Tensors of a parsed file by key, as float64 (for the sidecar's layer list). */
function lookup(file: SafetensorsFile, fileName: string): TensorLookup {
  return {
    keys: () => [...file.tensors.keys()],
    get: (key) => {
      const t = file.tensors.get(key);
      return t ? { shape: t.shape, values: readFloats(file, t, fileName) } : undefined;
    },
  };
}

/**
 * Builds from a sidecar's "layers" list. The input is the sidecar's inputShape or inputSize,
 * else the first Linear's in_features; a convolutional network needs inputShape.
 */
export function networkFromSidecarLayers(
  tensors: TensorLookup, sidecar: unknown, fileName: string, format: string, outputSelection: Network['outputSelection'],
): Network | undefined {
  const arch = readArchitecture(sidecar, fileName);
  if (!arch) return undefined;
  readHiddenActivation(sidecar, fileName); // refuses an "activation" next to "layers"

  let input: Shape3 | number | undefined = arch.inputShape ?? arch.inputSize;
  if (input === undefined) {
    const first = arch.layers[0];
    const firstType = typeof first?.type === 'string' ? first.type.toLowerCase() : '';
    const key = typeof first?.module === 'string' ? `${first.module}.weight` : undefined;
    const w = key ? tensors.get(key) : undefined;
    if ((firstType === 'linear' || firstType === 'dense') && w && w.shape.length === 2) input = w.shape[1];
    else throw badModel(fileName, 'the sidecar\'s "layers" start with a layer that needs image data: give "inputShape": [C, H, W] in the sidecar.');
  }
  return buildFromLayerSpecs(arch.layers, input, tensors, fileName, format, 'sidecar', outputSelection);
}

export function loadSafetensors(bytes: Uint8Array, fileName: string, opts: LoaderOptions = {}): Network {
  const file = parseSafetensors(bytes, fileName);
  const sidecar = readSidecar(opts.sidecar, fileName);
  const described = networkFromSidecarLayers(lookup(file, fileName), opts.sidecar, fileName, 'safetensors', sidecar.outputSelection ?? null);
  if (described) return described;
  return linearStackNetwork([...file.tensors.values()], (t) => readFloats(file, t, fileName), fileName, opts, 'safetensors', 'safetensors');
}

/** The note every Linear stack read from key names carries unless the sidecar names the activation. */
export const RELU_ASSUMED_NOTE =
  'activations are not stored in a state dict: ReLU assumed after every hidden layer; give a sidecar with "layers" to say otherwise (or "activation": "leakyrelu" with "negativeSlope" for a stack of Linear layers).';

/** Activations the sidecar's "activation" shorthand accepts (those without tensors; PReLU needs "layers"). */
const SHORTHAND_ACTIVATIONS = ['relu', 'leakyrelu', 'relu6', 'sigmoid', 'tanh', 'elu'] as const;

/**
 * The sidecar's `"activation"` (+ `"negativeSlope"` for leakyrelu, `"alpha"` for elu): the
 * activation after every hidden Linear layer of a key-named stack. undefined when not given.
 */
export function readHiddenActivation(sidecar: unknown, modelFile: string): { act: Activation; params?: ActivationParams } | undefined {
  if (typeof sidecar !== 'object' || sidecar === null || Array.isArray(sidecar)) return undefined;
  const obj = sidecar as Record<string, unknown>;
  const a = obj.activation;
  if (a === undefined || a === null) return undefined;
  const name = sidecarNameFor(modelFile);
  const fail = (problem: string) => badModel(name, problem);
  if (obj.layers !== undefined) throw fail('give either "layers" (every layer, activations included) or "activation" (for a stack of Linear layers), not both.');
  const kind = typeof a === 'string' ? a.toLowerCase() : '';
  if (!(SHORTHAND_ACTIVATIONS as readonly string[]).includes(kind)) {
    throw fail(`"activation" must be one of ${SHORTHAND_ACTIVATIONS.join(', ')} (got ${preview(a)}); for PReLU, hardtanh or different activations per layer give "layers".`);
  }
  const num = (keys: string[], dflt: number, what: string): number => {
    const v = keys.map((k) => obj[k]).find((x) => x !== undefined) ?? dflt;
    if (typeof v !== 'number' || !Number.isFinite(v)) throw fail(`${what} must be a number (got ${preview(v)}).`);
    return v;
  };
  switch (kind) {
    case 'leakyrelu':
      return { act: 'leakyrelu', params: { alpha: num(['negativeSlope', 'negative_slope'], 0.01, '"negativeSlope"') } };
    case 'relu6':
      return { act: 'clip', params: { min: 0, max: 6 } };
    case 'elu':
      return { act: 'elu', params: { alpha: num(['alpha'], 1, '"alpha"') } };
    default:
      return { act: kind as Activation };
  }
}

/**
 * A stack of nn.Linear layers recognised from state-dict key names (see LINEAR_KEY); ReLU
 * between layers (or the sidecar's "activation"), the last one's activation from opts/sidecar
 * (default linear); the notes say what was assumed. Every other key is listed in one
 * 'unsupported' message that points to the sidecar.
 */
export function linearStackNetwork<T extends KeyedTensor>(
  tensors: T[], read: (t: T) => Float64Array, fileName: string, opts: LoaderOptions, format: string, formatLabel: string,
): Network {
  const sidecar = readSidecar(opts.sidecar, fileName);
  const hidden = readHiddenActivation(opts.sidecar, fileName);
  const slots = new Map<string, LinearSlot<T>>();
  const offending: T[] = [];
  const prefixes = new Set<string>();
  for (const t of tensors) {
    const m = LINEAR_KEY.exec(t.key);
    const isWeight = m?.[5] === 'weight';
    if (!m || (isWeight && t.shape.length !== 2) || (!isWeight && t.shape.length !== 1)) {
      offending.push(t);
      continue;
    }
    const family = `${m[1]}${m[2]}N${m[4] ?? ''}`;
    const slotKey = `${family}\u0000${m[3]}`;
    prefixes.add(family);
    const slot: LinearSlot<T> = slots.get(slotKey) ?? { index: Number(m[3]) };
    slot[isWeight ? 'weight' : 'bias'] = t;
    slots.set(slotKey, slot);
  }
  if (offending.length > 0) {
    throw unsupported(
      fileName,
      `DTD Lens supports state dicts of Linear layers only (keys like 'layer1.linear.weight' [out, in] and 'layer1.linear.bias' [out], or '0.weight'/'0.bias' from nn.Sequential); ` +
        `these tensors are not Linear weights or biases: ${offending.slice(0, 5).map(describeUnsupportedKey).join(', ')}${offending.length > 5 ? ` and ${offending.length - 5} more` : ''}. ` +
      `For convolutional networks, describe the layers in a sidecar ${displayName(sidecarNameFor(fileName))} ("inputShape" and "layers"; see docs/formats.md).`,
    );
  }
  if (slots.size === 0) throw badModel(fileName, 'contains no tensors, so there is no network to explain.');
  if (prefixes.size > 1) {
    throw unsupported(fileName, `the Linear layers follow different naming patterns (${quoteNames([...prefixes])}), so their order is ambiguous; DTD Lens supports one stack of Linear layers named like 'layer1.linear.weight' or '0.weight'.`);
  }
  const ordered = [...slots.values()].sort((a, b) => a.index - b.index);

  const layers: DenseLayer[] = [];
  for (let i = 0; i < ordered.length; i++) {
    const slot = ordered[i];
    const name = `layer${i + 1}`;
    if (!slot.weight) throw badModel(fileName, `${quoteName(slot.bias!.key)} has no matching weight tensor.`);
    const [outFeatures, inFeatures] = slot.weight.shape;
    const weight = read(slot.weight);
    let bias: Float64Array;
    if (slot.bias) {
      if (slot.bias.shape[0] !== outFeatures) {
        throw badModel(fileName, `bias ${quoteName(slot.bias.key)} has ${slot.bias.shape[0]} values but weight ${quoteName(slot.weight.key)} has ${outFeatures} rows.`);
      }
      bias = read(slot.bias);
    } else {
      bias = new Float64Array(outFeatures); // nn.Linear(bias=False)
    }
    const act = hidden ?? { act: 'relu' as Activation };
    layers.push({ kind: 'dense', name, inFeatures, outFeatures, weight, bias, activation: act.act, ...(act.params ? { activationParams: { ...act.params } } : {}) });
  }
  const last = layers[layers.length - 1];
  last.activation = opts.finalActivation ?? sidecar.finalActivation ?? 'linear';
  delete last.activationParams;

  const notes: string[] = [];
  if (layers.length > 1) {
    if (!hidden) notes.push(RELU_ASSUMED_NOTE);
    else notes.push(`activation after every hidden layer from the sidecar's "activation": ${activationText(hidden.act, hidden.params)}.`);
  }
  if (opts.finalActivation === undefined && sidecar.finalActivation === undefined) {
    notes.push(`the last layer is read without an activation (${formatLabel} stores none; set "finalActivation" in the sidecar to change this).`);
  }
  // The sidecar's inputShape: the input is an image read flattened (C-major), so images can be given and the input heatmap drawn.
  const shape = sidecar.inputShape;
  if (shape && shape[0] * shape[1] * shape[2] !== layers[0].inFeatures) {
    throw badModel(sidecarNameFor(fileName), `"inputShape" [${shape.join(', ')}] has ${shape[0] * shape[1] * shape[2]} values but the first Linear layer reads ${layers[0].inFeatures}.`);
  }
  return {
    inputSize: layers[0].inFeatures,
    ...(shape ? { inputShape: shape } : {}),
    layers,
    outputSelection: sidecar.outputSelection ?? null,
    source: { format, file: fileName },
    notes,
  };
}
