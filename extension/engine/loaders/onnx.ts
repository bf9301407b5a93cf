// Loader for ONNX models, decoded with onnx-proto (generated protobufjs code).
// Supported graphs are one chain of layers from the single input to the single
// output: Conv (bias, strides, pads/auto_pad, dilations, group 1), Gemm, or
// MatMul + Add (bias), each optionally followed by BatchNormalization (folded
// into it, CONV.md §3) and Relu; MaxPool, AveragePool (unpadded),
// GlobalAveragePool; Flatten/Reshape-to-[batch, features] (C-major: no-op on the
// IR's flat NCHW data); Identity/Dropout pass through; an all-zero Pad (torch's
// AvgPool export) is skipped and a zero Pad right before a Conv merges into its
// padding; a final Softmax/LogSoftmax is dropped (the logit is explained, with a
// note) and a final Slice becomes the network's outputSelection. A 4-D input
// [batch, C, H, W] sets Network.inputShape. Constants come from initializers or
// Constant nodes.
// Each operator has its handler in ONNX_OP_HANDLERS, the one list of supported
// operators. Everything else is refused up front with one message listing every
// node DTD Lens cannot explain (RelevancePropagation.jl-style) and the table's
// operators, before any math runs.

import { onnx } from 'onnx-proto';
import type { Network, OutputSelection, Shape3 } from '../network';
import { NetworkBuilder, unsupportedList } from './builder';
import { LoaderOptions, badModel, bfloat16ToNumber, halfToNumber, shapeSize, unsupported } from './common';
import { escapeName, LIMITS, quoteName, quoteNames } from '../../protocol';
import { allocFloat64, checkDims, errorText } from '../budget';

const DataType = onnx.TensorProto.DataType;

/** Thrown by the decoders below past LIMITS.protobufDepth nested messages. */
class NestingTooDeep extends Error {}

/**
 * onnx-proto's generated decoders call each other recursively for nested messages
 * (Graph → Node → Attribute → Graph …, TypeProto → Sequence → TypeProto …) with no
 * depth limit. They call one another through the exported classes' `decode`
 * properties, so wrapping every one once with a depth counter bounds the recursion
 * at LIMITS.protobufDepth before the stack overflows.
 */
function limitDecodeDepth(): void {
  let depth = 0;
  const seen = new Set<unknown>();
  const wrap = (ns: Record<string, unknown>, level: number): void => {
    for (const value of Object.values(ns)) {
      if (typeof value !== 'function' || seen.has(value)) continue;
      seen.add(value);
      const cls = value as unknown as { decode?: (r: unknown, l?: number) => unknown } & Record<string, unknown>;
      const original = cls.decode;
      if (typeof original === 'function') {
        cls.decode = function decode(this: unknown, reader: unknown, length?: number) {
          if (depth >= LIMITS.protobufDepth) throw new NestingTooDeep(`protobuf messages nested more than ${LIMITS.protobufDepth} deep`);
          depth++;
          try {
            return original.call(this, reader, length);
          } finally {
            depth--;
          }
        };
      }
      if (level < 3) wrap(cls, level + 1); // nested message types (TypeProto.Sequence, …)
    }
  };
  wrap(onnx as unknown as Record<string, unknown>, 0);
}
limitDecodeDepth();

export interface ConstTensor {
  dims: number[];
  values: Float64Array;
}

/** int64 fields arrive as numbers or Long objects ({low, high}); both become numbers. */
function toInt(v: unknown): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  if (typeof v === 'object' && v !== null) {
    const l = v as { toNumber?: () => number; low?: number; high?: number };
    if (typeof l.toNumber === 'function') return l.toNumber();
    if (typeof l.low === 'number' && typeof l.high === 'number') return l.high * 2 ** 32 + (l.low >>> 0);
  }
  return Number.NaN;
}

function nodeLabel(node: onnx.INodeProto, index: number): string {
  return node.name ? `${quoteName(node.name)}` : `#${index} (unnamed)`;
}

/**
 * A short display name: the weight initializer's module path ("layer1.linear.weight" → "layer1",
 * as PyTorch exports name them), else a plain node name, else layerN. Path-like node names
 * ("/layer1/linear/Gemm") stay in messages.
 */
function layerName(node: onnx.INodeProto, index: number): string {
  const m = /^(.*?)(?:\.linear)?\.weight$/.exec(node.input?.[1] ?? '');
  if (m && m[1] && !/^\d+$/.test(m[1])) return m[1];
  return node.name && !node.name.includes('/') ? node.name : `layer${index}`;
}

function attr(node: onnx.INodeProto, name: string): onnx.IAttributeProto | undefined {
  return (node.attribute ?? []).find((a) => a.name === name);
}

function intAttr(node: onnx.INodeProto, name: string, dflt: number): number {
  const a = attr(node, name);
  return a ? toInt(a.i) : dflt;
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

function floatAttr(node: onnx.INodeProto, name: string, dflt: number): number {
  const a = attr(node, name);
  return a && typeof a.f === 'number' ? a.f : dflt;
}

/** Decodes an initializer or Constant tensor into float64 values, checking sizes. */
function decodeTensor(t: onnx.ITensorProto, what: string, fileName: string): ConstTensor {
  if (t.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL || (t.externalData ?? []).length > 0) {
    const loc = (t.externalData ?? []).find((e) => e.key === 'location')?.value;
    throw unsupported(
      fileName,
      `${what} stores its data in an external file${loc ? ` (${quoteName(loc)})` : ''}; DTD Lens reads models with all weights inside the .onnx file ` +
        `(re-export with onnx.save_model(model, path, save_as_external_data=False)).`,
    );
  }
  const dims = (t.dims ?? []).map(toInt);
  if (!dims.every((d) => Number.isSafeInteger(d) && d >= 0)) throw badModel(fileName, `${what} has invalid dimensions [${dims.join(', ')}].`);
  const size = checkDims(dims, what, (p) => badModel(fileName, p));
  const raw = t.rawData && t.rawData.length > 0 ? t.rawData : null;
  const dataType = t.dataType ?? 0;
  const elemBytes: Record<number, number> = {
    [DataType.FLOAT]: 4, [DataType.DOUBLE]: 8, [DataType.FLOAT16]: 2, [DataType.BFLOAT16]: 2, [DataType.INT64]: 8, [DataType.INT32]: 4,
  };
  if (!(dataType in elemBytes)) {
    const typeName = DataType[dataType] ?? String(dataType);
    throw unsupported(fileName, `${what} has data type ${typeName}; DTD Lens reads FLOAT, DOUBLE, FLOAT16, BFLOAT16, INT64 and INT32 tensors.`);
  }
  let values: Float64Array;
  if (raw) {
    if (raw.length !== size * elemBytes[dataType]) {
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
        default: values[i] = view.getInt32(4 * i, true);
      }
    }
  } else {
    let typed: ArrayLike<unknown>;
    switch (dataType) {
      case DataType.FLOAT: typed = t.floatData ?? []; break;
      case DataType.DOUBLE: typed = t.doubleData ?? []; break;
      case DataType.INT64: typed = t.int64Data ?? []; break;
      default: typed = t.int32Data ?? []; // INT32, and FLOAT16/BFLOAT16 bit patterns per the ONNX spec
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
  return { dims, values };
}

/** Kahn's algorithm; nodes in a valid ONNX file are sorted already, but we do not rely on it. */
function topologicalOrder(nodes: onnx.INodeProto[], available: Set<string>, fileName: string): number[] {
  const producer = new Map<string, number>();
  nodes.forEach((n, i) => (n.output ?? []).forEach((o) => o && producer.set(o, i)));
  const indegree = nodes.map(() => 0);
  const dependents = nodes.map(() => [] as number[]);
  nodes.forEach((n, i) => {
    for (const name of n.input ?? []) {
      if (!name || available.has(name)) continue;
      const p = producer.get(name);
      if (p === undefined) {
        throw badModel(fileName, `is not a valid ONNX model: node ${nodeLabel(n, i)} reads ${quoteName(name)}, which no node, input or initializer provides.`);
      }
      indegree[i]++;
      dependents[p].push(i);
    }
  });
  const order: number[] = [];
  const ready = indegree.flatMap((d, i) => (d === 0 ? [i] : []));
  while (ready.length > 0) {
    const i = ready.shift()!;
    order.push(i);
    for (const j of dependents[i]) if (--indegree[j] === 0) ready.push(j);
  }
  if (order.length !== nodes.length) throw badModel(fileName, 'is not a valid ONNX model: its graph has a cycle.');
  return order;
}

/** Reads ints attribute (e.g. strides) or the default. */
function intsAttr(node: onnx.INodeProto, name: string): number[] | undefined {
  const a = attr(node, name);
  return a ? (a.ints ?? []).map(toInt) : undefined;
}

function stringAttr(node: onnx.INodeProto, name: string, dflt: string): string {
  const a = attr(node, name);
  if (!a || !a.s) return dflt;
  return typeof a.s === 'string' ? a.s : new TextDecoder().decode(a.s);
}

/** [top, left, bottom, right] for Conv/MaxPool from pads or auto_pad (SAME_UPPER puts the extra at the end). */
function windowPads(
  n: onnx.INodeProto, inHW: [number, number], kernel: [number, number], stride: [number, number], dilation: [number, number],
  fail: (why: string) => Error,
): [number, number, number, number] {
  const auto = stringAttr(n, 'auto_pad', 'NOTSET');
  if (auto === 'NOTSET') {
    const pads = intsAttr(n, 'pads') ?? [0, 0, 0, 0];
    if (pads.length !== 4) throw fail(`has pads [${pads.join(', ')}] (expected 4 values for a 2-D window)`);
    return [pads[0], pads[1], pads[2], pads[3]];
  }
  if (auto === 'VALID') return [0, 0, 0, 0];
  if (auto !== 'SAME_UPPER' && auto !== 'SAME_LOWER') throw fail(`has auto_pad ${auto}`);
  const pad = [0, 1].map((a) => {
    const out = Math.ceil(inHW[a] / stride[a]);
    const total = Math.max((out - 1) * stride[a] + (kernel[a] - 1) * dilation[a] + 1 - inHW[a], 0);
    const small = Math.floor(total / 2);
    return auto === 'SAME_UPPER' ? [small, total - small] : [total - small, small];
  });
  return [pad[0][0], pad[1][0], pad[0][1], pad[1][1]];
}


// ---------------------------------------------------------------------------
// Operator handlers: one function per ONNX operator, listed once in
// ONNX_OP_HANDLERS. That table is what DTD Lens supports: the up-front check
// accepts exactly its operators (plus Constant), and the unsupported-operator
// message lists its keys.
// ---------------------------------------------------------------------------

/** Zero padding from a Pad node, waiting to be merged into the Conv right after it. */
interface PendingPad {
  pads: [number, number, number, number];
  node: string;
}

/** The walk along the chain from the input: its state, and the helpers the operator handlers share. */
export class OnnxChain {
  /** Set from the declared input when it is an image, else by the first dense layer (needBuilder). */
  builder: NetworkBuilder | null;
  /** The last conv/dense may still take an Add as its bias (nothing applied after it yet). */
  biasOpen = false;
  /** The tensor the chain has reached. */
  current: string;
  selection: OutputSelection | null = null;
  pendingPad: PendingPad | null = null;

  constructor(
    readonly fileName: string,
    readonly opset: number,
    readonly inputName: string,
    readonly outputName: string,
    /** Describes the declared input shape, for the message when a Conv needs it. */
    private readonly declaredInput: () => string,
    imageShape: Shape3 | null,
    readonly getConst: (name: string) => ConstTensor | undefined,
  ) {
    this.builder = imageShape ? new NetworkBuilder(fileName, imageShape) : null;
    this.current = inputName;
  }

  chainError(n: onnx.INodeProto, i: number, why: string): Error {
    return unsupported(this.fileName, `node ${nodeLabel(n, i)} (${escapeName(n.opType)}) ${why}; DTD Lens supports one chain of layers (Conv, Gemm, or MatMul + Add, each optionally followed by BatchNormalization and Relu; pooling; Flatten).`);
  }

  needBuilder(n: onnx.INodeProto, i: number, inF?: number): NetworkBuilder {
    if (this.builder) return this.builder;
    if (inF === undefined) {
      throw unsupported(this.fileName, `node ${nodeLabel(n, i)} (${n.opType}) needs the image shape of input ${quoteName(this.inputName)}, but the graph declares it as [${this.declaredInput()}]; DTD Lens needs a known [batch, C, H, W] input for convolutional models.`);
    }
    this.builder = new NetworkBuilder(this.fileName, inF);
    return this.builder;
  }

  lastLayer() {
    return this.builder?.layers[this.builder.layers.length - 1];
  }

  /** Bias vector of length `outF` from a constant of shape [outF], [1, outF], [1, outF, 1, 1], [1] or []. */
  biasFrom(c: ConstTensor, outF: number, scale: number, n: onnx.INodeProto, i: number): Float64Array {
    const bias = new Float64Array(outF);
    if (c.values.length === outF && c.dims.filter((d) => d !== 1).length <= 1) for (let k = 0; k < outF; k++) bias[k] = scale * c.values[k];
    else if (c.values.length === 1) bias.fill(scale * c.values[0]);
    else throw this.chainError(n, i, `adds a constant of shape [${c.dims.join(', ')}] that is not a bias for ${outF} units`);
    return bias;
  }

  constVector(n: onnx.INodeProto, i: number, k: number, what: string): Float64Array {
    const c = this.getConst(n.input?.[k] ?? '');
    if (!c) throw this.chainError(n, i, `needs a constant ${what}`);
    return c.values;
  }
}

/** Adds node n (index i), whose one data input is chain.current, to the chain. */
export type OpHandler = (chain: OnnxChain, n: onnx.INodeProto, i: number) => void;

function gemmOp(chain: OnnxChain, n: onnx.INodeProto, i: number): void {
  const fail = (why: string) => chain.chainError(n, i, why);
  if (n.input![0] !== chain.current) throw fail('multiplies a constant by the data (only data × weight is supported)');
  if (intAttr(n, 'transA', 0) !== 0) throw fail('has transA=1');
  const B = chain.getConst(n.input![1]);
  if (!B || B.dims.length !== 2) throw fail('needs a constant 2-D weight matrix B');
  const transB = intAttr(n, 'transB', 0) !== 0;
  const alpha = floatAttr(n, 'alpha', 1);
  const beta = floatAttr(n, 'beta', 1);
  const [outF, inF] = transB ? B.dims : [B.dims[1], B.dims[0]];
  const weight = new Float64Array(outF * inF);
  for (let o = 0; o < outF; o++) {
    for (let k = 0; k < inF; k++) weight[o * inF + k] = alpha * (transB ? B.values[o * inF + k] : B.values[k * outF + o]);
  }
  const cName = n.input![2];
  let bias: Float64Array = new Float64Array(outF);
  if (cName) {
    const C = chain.getConst(cName);
    if (!C) throw fail('needs a constant bias C');
    bias = chain.biasFrom(C, outF, beta, n, i);
  }
  const b = chain.needBuilder(n, i, inF);
  b.flatten();
  b.dense(layerName(n, b.layers.length + 1), weight, bias, outF, inF);
  chain.biasOpen = true;
}

function matMulOp(chain: OnnxChain, n: onnx.INodeProto, i: number): void {
  const fail = (why: string) => chain.chainError(n, i, why);
  if (n.input![0] !== chain.current) throw fail('multiplies a constant by the data (only data × weight is supported)');
  const B = chain.getConst(n.input![1]);
  if (!B || B.dims.length !== 2) throw fail('needs a constant 2-D weight matrix');
  const [inF, outF] = B.dims;
  const weight = new Float64Array(outF * inF);
  for (let o = 0; o < outF; o++) for (let k = 0; k < inF; k++) weight[o * inF + k] = B.values[k * outF + o];
  const b = chain.needBuilder(n, i, inF);
  if (b.currentShape) throw fail('multiplies image-shaped data (add a Flatten before it)');
  b.dense(layerName(n, b.layers.length + 1), weight, null, outF, inF);
  chain.biasOpen = true;
}

/** Add: only as the bias of the Gemm/MatMul/Conv right before it. */
function addOp(chain: OnnxChain, n: onnx.INodeProto, i: number): void {
  const fail = (why: string) => chain.chainError(n, i, why);
  const last = chain.lastLayer();
  if (!last || !chain.biasOpen || !('bias' in last)) throw fail('is supported only as the bias right after Gemm, MatMul or Conv');
  const other = (n.input ?? []).find((name) => name !== chain.current);
  const C = other ? chain.getConst(other) : undefined;
  if (!C) throw fail('must add a constant bias');
  const channels = last.kind === 'conv2d' ? last.outShape[0] : last.outFeatures;
  const add = chain.biasFrom(C, channels, 1, n, i);
  for (let k = 0; k < add.length; k++) last.bias[k] += add[k];
}

function reluOp(chain: OnnxChain, n: onnx.INodeProto, i: number): void {
  if (!chain.builder) throw chain.chainError(n, i, 'acts on the raw input before any layer');
  chain.builder.relu(n.name || `#${i}`);
  chain.biasOpen = false;
}

function convOp(chain: OnnxChain, n: onnx.INodeProto, i: number): void {
  const fail = (why: string) => chain.chainError(n, i, why);
  const b = chain.needBuilder(n, i);
  const shape = b.currentShape;
  if (!shape) throw fail('acts on flat data; a Conv needs [batch, C, H, W] data');
  const Wt = chain.getConst(n.input![1]);
  if (!Wt || Wt.dims.length !== 4) throw fail('needs a constant 4-D weight [O, C, kh, kw] (only 2-D convolutions are supported)');
  const kernel: [number, number] = [Wt.dims[2], Wt.dims[3]];
  const ks = intsAttr(n, 'kernel_shape');
  if (ks && (ks.length !== 2 || ks[0] !== kernel[0] || ks[1] !== kernel[1])) throw badModel(chain.fileName, `node ${nodeLabel(n, i)} has kernel_shape [${ks.join(', ')}] but its weight is ${kernel.join('×')}.`);
  const stride = (intsAttr(n, 'strides') ?? [1, 1]) as [number, number];
  const dilation = (intsAttr(n, 'dilations') ?? [1, 1]) as [number, number];
  if (stride.length !== 2 || dilation.length !== 2) throw fail('is not a 2-D convolution');
  const padding = windowPads(n, [shape[1], shape[2]], kernel, stride, dilation, fail);
  if (chain.pendingPad) for (let k = 0; k < 4; k++) padding[k] += chain.pendingPad.pads[k];
  chain.pendingPad = null;
  const bias = n.input![2] ? Float64Array.from(chain.constVector(n, i, 2, 'bias')) : null;
  b.conv2d(layerName(n, b.layers.length + 1), { weight: Float64Array.from(Wt.values), bias, outChannels: Wt.dims[0], kernel, stride, padding, dilation });
  chain.biasOpen = true;
}

/** MaxPool and AveragePool. */
function poolOp(chain: OnnxChain, n: onnx.INodeProto, i: number): void {
  const fail = (why: string) => chain.chainError(n, i, why);
  const b = chain.needBuilder(n, i);
  const shape = b.currentShape;
  if (!shape) throw fail('acts on flat data');
  const ks = intsAttr(n, 'kernel_shape');
  if (!ks || ks.length !== 2) throw fail('needs a 2-D kernel_shape');
  const kernel = ks as [number, number];
  const stride = (intsAttr(n, 'strides') ?? [1, 1]) as [number, number];
  const padding = windowPads(n, [shape[1], shape[2]], kernel, stride, [1, 1], fail);
  if (intAttr(n, 'ceil_mode', 0) !== 0) {
    const floorOut = [0, 1].map((a) => Math.floor((shape[a + 1] + padding[a] + padding[a + 2] - kernel[a]) / stride[a]) + 1);
    const ceilOut = [0, 1].map((a) => Math.ceil((shape[a + 1] + padding[a] + padding[a + 2] - kernel[a]) / stride[a]) + 1);
    if (floorOut[0] !== ceilOut[0] || floorOut[1] !== ceilOut[1]) throw fail('uses ceil_mode where it changes the output size (only floor mode is supported)');
  }
  b.pool2d(n.opType === 'MaxPool' ? 'maxpool2d' : 'avgpool2d', layerName(n, b.layers.length + 1), kernel, stride, padding);
  chain.biasOpen = false;
}

function globalAveragePoolOp(chain: OnnxChain, n: onnx.INodeProto, i: number): void {
  const b = chain.needBuilder(n, i);
  b.globalAvgPool(layerName(n, b.layers.length + 1));
  chain.biasOpen = false;
}

/** Folded into the layer before it by the builder (CONV.md §3). */
function batchNormalizationOp(chain: OnnxChain, n: onnx.INodeProto, i: number): void {
  const b = chain.needBuilder(n, i);
  const [gamma, beta, mean, variance] = [1, 2, 3, 4].map((k) => chain.constVector(n, i, k, ['scale', 'B', 'mean', 'var'][k - 1]));
  b.batchNorm(n.name || `#${i}`, gamma, beta, mean, variance, intendedFloat32(floatAttr(n, 'epsilon', 1e-5)));
}

/** [batch, ...] → [batch, features]: C-major, a no-op on the IR's flat NCHW data. */
function flattenOp(chain: OnnxChain, n: onnx.INodeProto, i: number): void {
  if (intAttr(n, 'axis', 1) !== 1) throw chain.chainError(n, i, `flattens at axis ${intAttr(n, 'axis', 1)} (only axis 1, keeping the batch axis, is supported)`);
  chain.builder?.flatten();
}

/** Only a flatten to [batch, features]: [0|-1|1|N, -1|features]. */
function reshapeOp(chain: OnnxChain, n: onnx.INodeProto, i: number): void {
  const target = Array.from(chain.constVector(n, i, 1, 'target shape'));
  const size = chain.builder ? chain.builder.currentSize : null;
  const ok = target.length === 2 && [0, -1, 1].includes(target[0]) && (target[1] === -1 || (size !== null && target[1] === size)) && !(target[0] === -1 && target[1] === -1);
  if (!ok) throw chain.chainError(n, i, `reshapes to [${target.join(', ')}] (only a flatten to [batch, features] is supported)`);
  chain.builder?.flatten();
}

/** Identity passes the data through (an Identity of constants is a constant, handled by the walk). */
function identityOp(): void {}

function dropoutOp(chain: OnnxChain, n: onnx.INodeProto, i: number): void {
  chain.builder?.notes.push(`Dropout node ${nodeLabel(n, i)} treated as identity (inference).`);
}

/** An all-zero Pad is skipped (torch's AvgPool export); zero H/W padding is kept for the Conv right after it. */
function padOp(chain: OnnxChain, n: onnx.INodeProto, i: number): void {
  const opset = chain.opset;
  const mode = stringAttr(n, 'mode', 'constant');
  let pads: number[] | undefined = intsAttr(n, 'pads'); // opset < 11
  if (opset >= 11) pads = n.input?.[1] ? Array.from(chain.constVector(n, i, 1, 'pads')) : undefined;
  const value = opset >= 11 ? (n.input?.[2] ? chain.constVector(n, i, 2, 'constant_value')[0] : 0) : floatAttr(n, 'value', 0);
  if (!pads || pads.length !== 8) throw chain.chainError(n, i, 'needs 8 constant pads for [batch, C, H, W] data');
  if (pads.every((p) => p === 0)) return; // torch exports AvgPool2d(count_include_pad) with an all-zero Pad: a no-op
  if (mode !== 'constant' || value !== 0 || pads[0] || pads[1] || pads[4] || pads[5] || pads.some((p) => p < 0)) {
    throw chain.chainError(n, i, `pads with mode ${quoteName(mode)}, value ${value} and pads [${pads.join(', ')}] (only zero padding of H and W, right before a Conv, is supported)`);
  }
  chain.pendingPad = { pads: [pads[2], pads[3], pads[6], pads[7]], node: n.name || `#${i}` };
}

/** Softmax and LogSoftmax, only as the final node: dropped, the logit is explained (with a note). */
function finalSoftmaxOp(chain: OnnxChain, n: onnx.INodeProto, i: number): void {
  const fail = (why: string) => chain.chainError(n, i, why);
  const b = chain.builder;
  if (!b || b.layers.length === 0) throw fail('acts on the raw input');
  if (b.currentShape) throw fail('acts on image-shaped data');
  if ((n.output ?? [])[0] !== chain.outputName) throw fail('is not the last node (a Softmax is supported only on the final output)');
  const axis = intAttr(n, 'axis', chain.opset >= 13 ? -1 : 1);
  if (axis !== 1 && axis !== -1) throw fail(`normalises axis ${axis}`);
  b.finalSoftmax(n.name || `#${i}`, n.opType!);
  chain.biasOpen = false;
}

/** A final Slice becomes the network's outputSelection. */
function sliceOp(chain: OnnxChain, n: onnx.INodeProto, i: number): void {
  const fail = (why: string) => chain.chainError(n, i, why);
  const b = chain.builder;
  if (!b || b.layers.length === 0) throw fail('slices the input (Slice is supported only on the final output)');
  if (b.currentShape) throw fail('slices image-shaped data (Slice is supported only on the final output)');
  chain.selection = sliceSelection(n, i, chain.opset, b.currentSize, chain.selection, chain.getConst, chain.fileName, (m, j, why) => chain.chainError(m, j, why));
  chain.biasOpen = false;
}

/**
 * Every ONNX operator DTD Lens supports (default domain), with its handler. The
 * order is the order the unsupported-operator message lists them in.
 */
export const ONNX_OP_HANDLERS = {
  Gemm: gemmOp,
  MatMul: matMulOp,
  Add: addOp,
  Relu: reluOp,
  Conv: convOp,
  MaxPool: poolOp,
  AveragePool: poolOp,
  GlobalAveragePool: globalAveragePoolOp,
  BatchNormalization: batchNormalizationOp,
  Flatten: flattenOp,
  Reshape: reshapeOp,
  Identity: identityOp,
  Dropout: dropoutOp,
  Pad: padOp,
  Softmax: finalSoftmaxOp,
  LogSoftmax: finalSoftmaxOp,
  Slice: sliceOp,
} as const satisfies Record<string, OpHandler>;

export type SupportedOnnxOp = keyof typeof ONNX_OP_HANDLERS;

/** The supported operators, as the unsupported-operator message lists them: the keys of ONNX_OP_HANDLERS. */
export const SUPPORTED_ONNX_OPS: readonly SupportedOnnxOp[] = Object.keys(ONNX_OP_HANDLERS) as SupportedOnnxOp[];

/** Constant only produces values (weights, Slice bounds); it is accepted but not listed to users. */
const CONSTANT_OP = 'Constant';

/** The handler for a default-domain operator, or undefined when DTD Lens does not support it. */
export function onnxOpHandler(opType: string): OpHandler | undefined {
  return Object.hasOwn(ONNX_OP_HANDLERS, opType) ? ONNX_OP_HANDLERS[opType as SupportedOnnxOp] : undefined;
}

function isAcceptedOp(n: onnx.INodeProto): boolean {
  if (n.domain && n.domain !== 'ai.onnx') return false;
  const op = n.opType ?? '';
  return op === CONSTANT_OP || onnxOpHandler(op) !== undefined;
}

// Operator-level problems that need no shapes (grouped conv, used pool indices, ...), for the up-front list.

/** `label` names the node; usedOutput(k) says whether the node's output k feeds another node. */
type AttributeCheck = (n: onnx.INodeProto, label: string, usedOutput: (k: number) => boolean) => string[];

const allOnes = (n: onnx.INodeProto, name: string) => (intsAttr(n, name) ?? []).every((v) => v === 1);
const allZeros = (n: onnx.INodeProto, name: string) => (intsAttr(n, name) ?? []).every((v) => v === 0);

const ATTRIBUTE_CHECKS: Partial<Record<SupportedOnnxOp, AttributeCheck>> = {
  Conv: (n, label) => [
    ...(intAttr(n, 'group', 1) !== 1 ? [`${label} is a grouped convolution (group ${intAttr(n, 'group', 1)}; only group 1)`] : []),
    ...((n.input?.[1] ?? '') === '' ? [`${label} has no weight input`] : []),
  ],
  MaxPool: (n, label, usedOutput) => [
    ...(!allOnes(n, 'dilations') ? [`${label} is a dilated max pooling`] : []),
    ...(usedOutput(1) ? [`${label} has its Indices output used`] : []),
  ],
  AveragePool: (n, label) =>
    !allZeros(n, 'pads') || !['NOTSET', 'VALID'].includes(stringAttr(n, 'auto_pad', 'NOTSET')) ? [`${label} is a padded average pooling`] : [],
  BatchNormalization: (n, label, usedOutput) => [
    ...(intAttr(n, 'training_mode', 0) !== 0 ? [`${label} runs in training mode`] : []),
    ...(usedOutput(1) || usedOutput(2) ? [`${label} has its running statistics outputs used`] : []),
  ],
  Dropout: (_n, label, usedOutput) => (usedOutput(1) ? [`${label} has its mask output used`] : []),
};

function attributeProblems(n: onnx.INodeProto, i: number, consumers: Map<string, number>): string[] {
  const check = Object.hasOwn(ATTRIBUTE_CHECKS, n.opType ?? '') ? ATTRIBUTE_CHECKS[n.opType as SupportedOnnxOp] : undefined;
  if (!check) return [];
  return check(n, `node ${nodeLabel(n, i)} (${escapeName(n.opType)})`, (k) => !!n.output?.[k] && consumers.has(n.output[k]));
}

export function loadOnnx(bytes: Uint8Array, fileName: string, _opts: LoaderOptions = {}): Network {
  const invalid = (reason: string) => badModel(fileName, `is not a valid ONNX model: ${reason}`);
  if (bytes.length === 0) throw invalid('the file is empty.');
  let model: onnx.ModelProto;
  try {
    model = onnx.ModelProto.decode(bytes);
  } catch (e) {
    if (e instanceof NestingTooDeep || (e instanceof RangeError && /call stack/.test(e.message))) {
      throw invalid(`its protobuf messages are nested more than ${LIMITS.protobufDepth} levels deep; refused (hostile or corrupt).`);
    }
    throw invalid(`the protobuf data cannot be decoded (${errorText(e)}); the file is truncated or not ONNX.`);
  }
  const graph = model.graph;
  if (!graph) throw invalid('it contains no graph.');
  const defaultOpset = (model.opsetImport ?? []).find((o) => !o.domain || o.domain === 'ai.onnx');
  if (!defaultOpset) throw invalid('it declares no ONNX operator set (opset_import); the file may be truncated.');
  const opset = toInt(defaultOpset.version);
  const nodes = graph.node ?? [];
  if (nodes.length === 0) throw invalid('its graph has no nodes.');

  const consumers = new Map<string, number>();
  for (const n of nodes) for (const name of n.input ?? []) if (name) consumers.set(name, (consumers.get(name) ?? 0) + 1);

  // 1. Refuse unsupported operators and attributes, all of them in one message.
  const bad = nodes.flatMap((n, i) =>
    isAcceptedOp(n)
      ? attributeProblems(n, i, consumers)
      : [`node ${nodeLabel(n, i)} uses operator ${escapeName(`${n.domain && n.domain !== 'ai.onnx' ? `${n.domain}.` : ''}${n.opType || '(none)'}`)}`],
  );
  if (bad.length > 0) throw unsupportedList(fileName, bad, SUPPORTED_ONNX_OPS);

  // 2. Constants: initializers now, Constant nodes (and Identity of constants) as we meet them.
  const constants = new Map<string, ConstTensor>();
  const initializers = new Map<string, onnx.ITensorProto>();
  for (const t of graph.initializer ?? []) if (t.name) initializers.set(t.name, t);
  const getConst = (name: string): ConstTensor | undefined => {
    const c = constants.get(name);
    if (c) return c;
    const t = initializers.get(name);
    if (!t) return undefined;
    const decoded = decodeTensor(t, `initializer ${quoteName(name)}`, fileName);
    constants.set(name, decoded);
    return decoded;
  };
  const isConst = (name: string) => constants.has(name) || initializers.has(name);

  const inputs = (graph.input ?? []).filter((v) => v.name && !initializers.has(v.name));
  if (inputs.length !== 1) {
    throw unsupported(fileName, `the graph has ${inputs.length} inputs (${quoteNames(inputs.map((v) => v.name)) || 'none'}); DTD Lens explains models with exactly one input.`);
  }
  const outputs = graph.output ?? [];
  if (outputs.length !== 1 || !outputs[0].name) {
    throw unsupported(fileName, `the graph has ${outputs.length} outputs; DTD Lens explains models with exactly one output.`);
  }
  const inputName = inputs[0].name!;
  const outputName = outputs[0].name;

  // Declared input dims without the batch axis; null entries are symbolic.
  const dims = inputs[0].type?.tensorType?.shape?.dim ?? [];
  const known = (d: onnx.TensorShapeProto.IDimension) => d.dimValue !== undefined && d.dimValue !== null && !d.dimParam && toInt(d.dimValue) > 0;
  const featureDims = (dims.length >= 2 ? dims.slice(1) : dims).map((d) => (known(d) ? toInt(d.dimValue) : null));
  const imageShape: Shape3 | null = featureDims.length === 3 && featureDims.every((d) => d !== null) ? (featureDims as Shape3) : null;

  // 3. Walk the chain from the input in topological order; each operator's handler adds its node.
  const order = topologicalOrder(nodes, new Set([inputName, ...initializers.keys()]), fileName);
  const declaredInput = () => dims.map((d) => (known(d) ? toInt(d.dimValue) : d.dimParam || '?')).join(', ');
  const chain = new OnnxChain(fileName, opset, inputName, outputName, declaredInput, imageShape, getConst);

  for (const i of order) {
    const n = nodes[i];
    const op = n.opType!;
    const outs = n.output ?? [];
    if (op === CONSTANT_OP) {
      constants.set(outs[0], constantNodeValue(n, i, fileName));
      continue;
    }
    const current = chain.current;
    const dataInputs = (n.input ?? []).filter((name) => name && !isConst(name));
    if (dataInputs.length === 0) {
      if (op === 'Identity') {
        const c = getConst(n.input![0]);
        if (c) constants.set(outs[0], c);
        continue;
      }
      throw chain.chainError(n, i, 'computes only on constants');
    }
    if (dataInputs.length > 1 || dataInputs[0] !== current) {
      throw chain.chainError(n, i, `reads ${quoteName(dataInputs.find((d) => d !== current) ?? dataInputs[0])} where the chain is at ${quoteName(current)} (a branch or skip connection)`);
    }
    if ((consumers.get(current) ?? 0) > 1) {
      throw unsupported(fileName, `tensor ${quoteName(current)} feeds ${consumers.get(current)} nodes (a branch); DTD Lens supports one chain of layers.`);
    }
    if (chain.selection && op !== 'Identity' && op !== 'Slice') throw chain.chainError(n, i, 'follows a Slice; Slice is supported only on the final output');
    if (chain.pendingPad && op !== 'Conv') throw chain.chainError(n, i, `follows Pad node ${quoteName(chain.pendingPad.node)}, whose non-zero padding is supported only right before a Conv`);
    const handle = onnxOpHandler(op);
    if (!handle) throw chain.chainError(n, i, 'is not supported');
    handle(chain, n, i);
    chain.current = outs[0];
  }
  const b = chain.builder;
  if (!b || b.layers.length === 0) throw unsupported(fileName, 'the graph has no Conv, Gemm or MatMul layer, so there is nothing for DTD to explain.');
  if (chain.current !== outputName) {
    throw unsupported(fileName, `the chain from input ${quoteName(inputName)} ends at ${quoteName(chain.current)}, not at the graph output ${quoteName(outputName)}.`);
  }
  if (chain.pendingPad) throw unsupported(fileName, `Pad node ${quoteName(chain.pendingPad.node)} is not followed by a Conv.`);

  // The declared input shape, when fully known, must agree with the first layer.
  if (!imageShape && featureDims.length > 0 && featureDims.every((d) => d !== null)) {
    const declared = shapeSize(featureDims as number[]);
    if (declared !== b.layers[0].inFeatures) {
      throw badModel(fileName, `input ${quoteName(inputName)} has ${declared} features but the first layer expects ${b.layers[0].inFeatures}.`);
    }
  }
  return b.build('onnx', chain.selection);
}

function constantNodeValue(n: onnx.INodeProto, i: number, fileName: string): ConstTensor {
  const a = (n.attribute ?? [])[0];
  const what = `Constant node ${nodeLabel(n, i)}`;
  if (!a) throw badModel(fileName, `is not a valid ONNX model: ${what} has no value.`);
  switch (a.name) {
    case 'value':
      if (!a.t) throw badModel(fileName, `is not a valid ONNX model: ${what} has no tensor.`);
      return decodeTensor(a.t, what, fileName);
    case 'value_float':
      return { dims: [], values: Float64Array.of(a.f ?? 0) };
    case 'value_floats':
      return { dims: [(a.floats ?? []).length], values: Float64Array.from(a.floats ?? []) };
    case 'value_int':
      return { dims: [], values: Float64Array.of(toInt(a.i)) };
    case 'value_ints':
      return { dims: [(a.ints ?? []).length], values: Float64Array.from((a.ints ?? []).map(toInt)) };
    default:
      throw unsupported(fileName, `${what} gives its value as ${quoteName(a.name)}, which DTD Lens does not read.`);
  }
}

/** Turns a Slice on the feature axis into [start, stop) of the current output, composing with an earlier selection. */
function sliceSelection(
  n: onnx.INodeProto,
  i: number,
  opset: number,
  width: number,
  previous: OutputSelection | null,
  getConst: (name: string) => ConstTensor | undefined,
  fileName: string,
  chainError: (n: onnx.INodeProto, i: number, why: string) => Error,
): OutputSelection {
  let starts: number[];
  let ends: number[];
  let axes: number[] | null = null;
  let steps: number[] | null = null;
  if (opset < 10 || attr(n, 'starts')) {
    starts = (attr(n, 'starts')?.ints ?? []).map(toInt);
    ends = (attr(n, 'ends')?.ints ?? []).map(toInt);
    const ax = attr(n, 'axes');
    if (ax) axes = (ax.ints ?? []).map(toInt);
  } else {
    const read = (k: number, what: string): number[] | null => {
      const name = n.input?.[k];
      if (!name) return null;
      const c = getConst(name);
      if (!c) throw chainError(n, i, `takes its ${what} from a computed tensor (only constants are supported)`);
      return Array.from(c.values);
    };
    starts = read(1, 'starts') ?? [];
    ends = read(2, 'ends') ?? [];
    axes = read(3, 'axes');
    steps = read(4, 'steps');
  }
  axes ??= starts.map((_, k) => k);
  if (starts.length !== ends.length || axes.length !== starts.length || (steps && steps.length !== starts.length)) {
    throw badModel(fileName, `Slice node ${nodeLabel(n, i)} has starts, ends, axes and steps of different lengths.`);
  }
  let start = 0;
  let stop = width;
  for (let k = 0; k < starts.length; k++) {
    const axis = axes[k];
    const step = steps ? steps[k] : 1;
    const clamp = (v: number, dim: number) => Math.min(Math.max(v < 0 ? v + dim : v, 0), dim);
    if (axis === 0 || axis === -2) {
      // Batch axis: only the full range leaves every sample in place.
      if (clamp(starts[k], Number.MAX_SAFE_INTEGER) === 0 && ends[k] >= 2 ** 31 - 1 && step === 1) continue;
      throw chainError(n, i, 'slices the batch axis');
    }
    if (axis !== 1 && axis !== -1) throw chainError(n, i, `slices axis ${axis} (only the feature axis 1 is supported)`);
    if (step !== 1) throw chainError(n, i, `uses step ${step} (only step 1 is supported)`);
    start = clamp(starts[k], width);
    stop = clamp(ends[k], width);
  }
  if (stop <= start) throw badModel(fileName, `Slice node ${nodeLabel(n, i)} selects no outputs ([${start}, ${stop}) of ${width}).`);
  const offset = previous ? previous.start : 0;
  return { start: offset + start, stop: offset + stop };
}
