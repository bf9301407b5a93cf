// ONNX protobuf helpers shared by the ONNX loader (onnx.ts) and its constant
// folder (onnxFold.ts): int64 and attribute access, and decoding a TensorProto
// (an initializer or a Constant node's value) into float64 values, with its data
// inside the file or in an external data file next to it (TensorProto
// data_location = EXTERNAL: location/offset/length, as PyTorch 2.x and onnx's
// save_as_external_data write them). Sizes are checked before allocating.

import { onnx } from 'onnx-proto';
import { badModel, bfloat16ToNumber, halfToNumber, unsupported } from './common';
import { isPlainRelativeName, quoteName } from '../../protocol';
import { allocFloat64, checkDims } from '../budget';

export const DataType = onnx.TensorProto.DataType;

/** A constant tensor: float64 values, row-major; `int` when its ONNX type is an integer or bool type (shape arithmetic). */
export interface ConstTensor {
  dims: number[];
  values: Float64Array;
  int?: boolean;
}

/** int64 fields arrive as numbers or Long objects ({low, high}); both become numbers. */
export function toInt(v: unknown): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  if (typeof v === 'object' && v !== null) {
    const l = v as { toNumber?: () => number; low?: number; high?: number };
    if (typeof l.toNumber === 'function') return l.toNumber();
    if (typeof l.low === 'number' && typeof l.high === 'number') return l.high * 2 ** 32 + (l.low >>> 0);
  }
  return Number.NaN;
}

export function nodeLabel(node: onnx.INodeProto, index: number): string {
  return node.name ? `${quoteName(node.name)}` : `#${index} (unnamed)`;
}

export function attr(node: onnx.INodeProto, name: string): onnx.IAttributeProto | undefined {
  return (node.attribute ?? []).find((a) => a.name === name);
}

export function intAttr(node: onnx.INodeProto, name: string, dflt: number): number {
  const a = attr(node, name);
  return a ? toInt(a.i) : dflt;
}

/** An ints attribute (e.g. strides), or undefined when absent. */
export function intsAttr(node: onnx.INodeProto, name: string): number[] | undefined {
  const a = attr(node, name);
  return a ? (a.ints ?? []).map(toInt) : undefined;
}

export function floatAttr(node: onnx.INodeProto, name: string, dflt: number): number {
  const a = attr(node, name);
  return a && typeof a.f === 'number' ? a.f : dflt;
}

export function stringAttr(node: onnx.INodeProto, name: string, dflt: string): string {
  const a = attr(node, name);
  if (!a || !a.s) return dflt;
  return typeof a.s === 'string' ? a.s : new TextDecoder().decode(a.s);
}

/**
 * The shortest decimal that rounds to the same float32: ONNX stores float attributes
 * as float32, so epsilon=1e-5 arrives as 9.99999974738e-6; the exporter meant 1e-5.
 */
export function intendedFloat32(f: number): number {
  if (!Number.isFinite(f)) return f;
  for (let digits = 1; digits <= 9; digits++) {
    const v = Number(f.toPrecision(digits));
    if (Math.fround(v) === Math.fround(f)) return v;
  }
  return f;
}

/** Bytes per element of the tensor types DTD Lens decodes. */
const ELEM_BYTES: Record<number, number> = {
  [DataType.FLOAT]: 4, [DataType.DOUBLE]: 8, [DataType.FLOAT16]: 2, [DataType.BFLOAT16]: 2,
  [DataType.INT64]: 8, [DataType.INT32]: 4, [DataType.INT16]: 2, [DataType.INT8]: 1, [DataType.UINT8]: 1, [DataType.BOOL]: 1,
};

const FLOAT_TYPES = new Set<number>([DataType.FLOAT, DataType.DOUBLE, DataType.FLOAT16, DataType.BFLOAT16]);

/** Whether an ONNX element type (TensorProto.DataType) is an integer or bool type. */
export function isIntType(dataType: number): boolean {
  return !FLOAT_TYPES.has(dataType);
}

/**
 * Reads an external data file by its location (a plain relative name in the model's folder):
 * returns its bytes, or throws naming it. Given to decodeTensor by the loader.
 */
export type ExternalReader = (location: string, what: string) => Uint8Array;

/** The location an external-data tensor names, if it is one. */
export function externalLocation(t: onnx.ITensorProto): string | undefined {
  if (t.dataLocation !== onnx.TensorProto.DataLocation.EXTERNAL && (t.externalData ?? []).length === 0) return undefined;
  return (t.externalData ?? []).find((e) => e.key === 'location')?.value ?? '';
}

/** location/offset/length of an external tensor, checked: a plain relative name, non-negative integer offset and length. */
function externalSpan(t: onnx.ITensorProto, what: string, fileName: string): { location: string; offset: number; length: number | null } {
  const entries = new Map<string, string>();
  for (const e of t.externalData ?? []) if (e.key) entries.set(e.key, e.value ?? '');
  const location = entries.get('location') ?? '';
  if (!location) throw badModel(fileName, `${what} stores its data in an external file but names no location.`);
  if (!isPlainRelativeName(location)) {
    throw badModel(fileName, `${what} names the external data file ${quoteName(location)}, which is not a plain name inside the model's folder (no "../", absolute paths or URLs); DTD Lens did not read it.`);
  }
  const num = (key: string): number | null => {
    const s = entries.get(key);
    if (s === undefined) return null;
    if (!/^\d{1,16}$/.test(s) || !Number.isSafeInteger(Number(s))) throw badModel(fileName, `${what} has an external data ${key} of ${quoteName(s)} (not a non-negative integer).`);
    return Number(s);
  };
  return { location, offset: num('offset') ?? 0, length: num('length') };
}

/** Decodes an initializer or Constant tensor into float64 values, checking sizes before allocating. */
export function decodeTensor(t: onnx.ITensorProto, what: string, fileName: string, readExternal?: ExternalReader): ConstTensor {
  const dims = (t.dims ?? []).map(toInt);
  if (!dims.every((d) => Number.isSafeInteger(d) && d >= 0)) throw badModel(fileName, `${what} has invalid dimensions [${dims.join(', ')}].`);
  const size = checkDims(dims, what, (p) => badModel(fileName, p));
  const dataType = t.dataType ?? 0;
  if (!(dataType in ELEM_BYTES)) {
    const typeName = DataType[dataType] ?? String(dataType);
    throw unsupported(fileName, `${what} has data type ${typeName}; DTD Lens reads FLOAT, DOUBLE, FLOAT16, BFLOAT16 and integer or bool tensors.`);
  }
  const elemBytes = ELEM_BYTES[dataType];
  const int = isIntType(dataType);
  let raw: Uint8Array | null = t.rawData && t.rawData.length > 0 ? t.rawData : null;
  if (externalLocation(t) !== undefined) {
    const span = externalSpan(t, what, fileName);
    if (!readExternal) {
      throw unsupported(fileName, `${what} stores its data in the external file ${quoteName(span.location)}, which DTD Lens was given no way to read.`);
    }
    const need = size * elemBytes;
    if (span.length !== null && span.length !== need) {
      throw badModel(fileName, `${what} has shape [${dims.join(', ')}] (${need} bytes) but its external data length is ${span.length} bytes.`);
    }
    const file = readExternal(span.location, what);
    if (span.offset > file.length || need > file.length - span.offset) {
      throw badModel(fileName, `${what} reads bytes ${span.offset}–${span.offset + need} of ${quoteName(span.location)}, which has ${file.length} bytes (truncated or wrong file).`);
    }
    raw = file.subarray(span.offset, span.offset + need);
    if (need === 0) raw = null;
  }
  let values: Float64Array;
  if (raw) {
    if (raw.length !== size * elemBytes) {
      throw badModel(fileName, `${what} has shape [${dims.join(', ')}] (${size} values) but ${raw.length} bytes of data.`);
    }
    const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    values = allocFloat64(size, what, (p) => badModel(fileName, p));
    const scratch = new DataView(new ArrayBuffer(4));
    for (let i = 0; i < size; i++) {
      switch (dataType) {
        case DataType.FLOAT: values[i] = view.getFloat32(4 * i, true); break;
        case DataType.DOUBLE: values[i] = view.getFloat64(8 * i, true); break;
        case DataType.FLOAT16: values[i] = halfToNumber(view.getUint16(2 * i, true)); break;
        case DataType.BFLOAT16: values[i] = bfloat16ToNumber(view.getUint16(2 * i, true), scratch); break;
        case DataType.INT64: values[i] = Number(view.getBigInt64(8 * i, true)); break;
        case DataType.INT32: values[i] = view.getInt32(4 * i, true); break;
        case DataType.INT16: values[i] = view.getInt16(2 * i, true); break;
        case DataType.INT8: values[i] = view.getInt8(i); break;
        default: values[i] = view.getUint8(i); // UINT8, BOOL
      }
    }
  } else {
    let typed: ArrayLike<unknown>;
    switch (dataType) {
      case DataType.FLOAT: typed = t.floatData ?? []; break;
      case DataType.DOUBLE: typed = t.doubleData ?? []; break;
      case DataType.INT64: typed = t.int64Data ?? []; break;
      default: typed = t.int32Data ?? []; // INT32, INT16, INT8, UINT8, BOOL, and FLOAT16/BFLOAT16 bit patterns per the ONNX spec
    }
    if (typed.length !== size) {
      throw badModel(fileName, `${what} has shape [${dims.join(', ')}] (${size} values) but holds ${typed.length} values.`);
    }
    values = allocFloat64(size, what, (p) => badModel(fileName, p));
    const scratch = new DataView(new ArrayBuffer(4));
    for (let i = 0; i < size; i++) {
      const v = toInt(typed[i]);
      if (dataType === DataType.FLOAT16) values[i] = halfToNumber(v);
      else if (dataType === DataType.BFLOAT16) values[i] = bfloat16ToNumber(v, scratch);
      else values[i] = dataType === DataType.FLOAT || dataType === DataType.DOUBLE ? (typed[i] as number) : v;
    }
  }
  return int ? { dims, values, int } : { dims, values };
}

/** The value of a Constant node (value, value_float(s), value_int(s)). */
export function constantNodeValue(n: onnx.INodeProto, i: number, fileName: string, readExternal?: ExternalReader): ConstTensor {
  const a = (n.attribute ?? [])[0];
  const what = `Constant node ${nodeLabel(n, i)}`;
  if (!a) throw badModel(fileName, `is not a valid ONNX model: ${what} has no value.`);
  switch (a.name) {
    case 'value':
      if (!a.t) throw badModel(fileName, `is not a valid ONNX model: ${what} has no tensor.`);
      return decodeTensor(a.t, what, fileName, readExternal);
    case 'value_float':
      return { dims: [], values: Float64Array.of(a.f ?? 0) };
    case 'value_floats':
      checkDims([(a.floats ?? []).length], what, (p) => badModel(fileName, p));
      return { dims: [(a.floats ?? []).length], values: Float64Array.from(a.floats ?? []) };
    case 'value_int':
      return { dims: [], values: Float64Array.of(toInt(a.i)), int: true };
    case 'value_ints':
      checkDims([(a.ints ?? []).length], what, (p) => badModel(fileName, p));
      return { dims: [(a.ints ?? []).length], values: Float64Array.from((a.ints ?? []).map(toInt)), int: true };
    default:
      throw unsupported(fileName, `${what} gives its value as ${quoteName(a.name)}, which DTD Lens does not read.`);
  }
}
