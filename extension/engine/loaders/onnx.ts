// Loader for ONNX models, decoded with onnx-proto (generated protobufjs code).
// The graph is walked in topological order; every ONNX tensor name maps to a
// constant (initializers, Constant nodes and everything folded from them,
// onnxFold.ts) or to a data tensor of the network being built (a TensorRef of
// NetworkBuilder, with its ONNX shape, the batch dimension taken as 1). Layer
// operators become layers: Conv (groups, pads/auto_pad, strides, dilations),
// ConvTranspose, Gemm, MatMul (+ Add as its bias), BatchNormalization (folded
// into the conv/dense before it when nothing else reads that, else a
// per-channel affine layer), MaxPool (padded, ceil_mode), AveragePool (pads,
// count_include_pad), GlobalAveragePool, GlobalMaxPool, the activations Relu,
// LeakyRelu, PRelu, Clip (ReLU6), Sigmoid, Tanh, Elu, and the joins Add/Sum of
// two data tensors (residual) and Concat on the channel axis. Add/Sub/Mul/Div
// with a per-channel constant fold into the conv/dense before them, or become
// an affine layer. Shape-only operators (Flatten, Reshape, Squeeze, Unsqueeze,
// Identity, Dropout, Cast, a Transpose that moves only size-1 axes) keep the
// flat C-major data and change only its recorded shape. A channels-last input
// read only through Transpose perm [0,3,1,2] becomes an NCHW input (note). A
// final Softmax/LogSoftmax/Sigmoid is dropped (the logit is explained, note)
// and a final Slice becomes the network's outputSelection. Weights may live in
// an external data file next to the model (onnxProto.ts; read through
// opts.files / opts.readSibling, confined to the model's folder by the shells).
// ONNX_OP_HANDLERS is the one list of supported (data) operators; ONNX_FOLD_OPS
// (onnxFold.ts) the one list of operators folded on constants. Everything else
// is refused up front with one message, operators grouped, before any math runs.

import { onnx } from 'onnx-proto';
import type { Activation, ActivationParams, Network, OutputSelection, Shape3 } from '../network';
import { NetworkBuilder, type Pad4, type TensorRef, unsupportedList } from './builder';
import { LoaderOptions, badModel, shapeSize, unsupported } from './common';
import { escapeName, isPlainRelativeName, LIMITS, quoteName, quoteNames } from '../../protocol';
import { errorText } from '../budget';
import {
  type ConstTensor, type ExternalReader, attr, constantNodeValue, decodeTensor, externalLocation, floatAttr, intAttr, intendedFloat32, intsAttr,
  nodeLabel, stringAttr, toInt,
} from './onnxProto';
import { FOLDABLE_ONNX_OPS, axesOf, foldContext, foldOp, foldShape, reshapeTarget, sliceArgs, squeezeDims, unsqueezeDims } from './onnxFold';

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
  const order = indegree.flatMap((d, i) => (d === 0 ? [i] : []));
  // `order` doubles as the queue: nodes are appended when ready and visited in turn.
  for (let head = 0; head < order.length; head++) {
    for (const j of dependents[order[head]]) if (--indegree[j] === 0) order.push(j);
  }
  if (order.length !== nodes.length) throw badModel(fileName, 'is not a valid ONNX model: its graph has a cycle.');
  return order;
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
// The values of the graph: constants, and data tensors of the network built.
// ---------------------------------------------------------------------------

/** A tensor computed from the input: a tensor of the network being built. */
export interface DataValue {
  kind: 'data';
  ref: TensorRef;
  /** Its ONNX shape with the batch dimension as 1; null: the input, whose feature count is not known yet (a dense net with a symbolic input). */
  dims: number[] | null;
  /** The ONNX tensor that made `ref` (the layer's output, or the op that changed it in place): who else reads it decides whether a BatchNorm or activation may fuse into that layer. */
  root: string;
  /** The channels-last input before its Transpose to NCHW. */
  nhwc?: boolean;
  /** Zero padding [top, left, bottom, right] of a Pad, waiting for the Conv (or AveragePool) that reads it. */
  pad?: { pads: Pad4; node: string };
  /** Set on a Slice of the network's output: the output selection. */
  selection?: OutputSelection;
}

interface ConstValue {
  kind: 'const';
  c: ConstTensor;
}

type Value = DataValue | ConstValue;

/** Operators that only pass their first input through (or change its recorded shape): a reader of their output reads the same data. */
const PASS_THROUGH = new Set(['Identity', 'Dropout', 'Cast', 'Flatten', 'Reshape', 'Squeeze', 'Unsqueeze', 'Transpose', 'Pad']);

/** Operators that read only a tensor's shape, never its values. */
const SHAPE_READERS = new Set(['Shape', 'Size']);

/** [C, H, W] for an ONNX shape [1, C, H, W] or [1, C, L] (as [C, L, 1]); the size for [1, F] and [1, F, 1, …]. */
function viewOf(dims: number[]): Shape3 | number {
  if (dims.length === 4) return [dims[1], dims[2], dims[3]];
  if (dims.length >= 3 && dims.slice(2).every((d) => d === 1)) return shapeSize(dims);
  if (dims.length === 3) return [dims[1], dims[2], 1];
  return shapeSize(dims);
}

const show = (dims: number[] | null) => (dims ? `[${dims.join(', ')}]` : '[batch, ?]');

/**
 * One value per channel (axis 1) from a constant that broadcasts against data of shape
 * `dims` without changing it and varies at most along axis 1; null otherwise.
 */
function perChannel(c: ConstTensor, dims: number[]): Float64Array | null {
  if (dims.length < 2 || c.dims.length > dims.length) return null;
  const aligned = [...new Array<number>(dims.length - c.dims.length).fill(1), ...c.dims];
  if (aligned.some((d, k) => d !== 1 && (k !== 1 || d !== dims[1]))) return null;
  const C = dims[1];
  const out = new Float64Array(C);
  if (aligned[1] === 1) out.fill(c.values[0]);
  else out.set(c.values.subarray(0, C));
  return out;
}

/** Display name of a layer with weights: the module path from the weight's initializer ("layer1.linear.weight" → "layer1") or from a path-like node name ("/layer1/layer1.0/conv1/Conv" → "layer1.0.conv1"), else the node name, else layerN. */
function layerName(node: onnx.INodeProto, index: number): string {
  const m = /^(.*?)(?:\.linear)?\.weight$/.exec(node.input?.[1] ?? '');
  if (m && m[1] && !/^\d+$/.test(m[1])) return m[1];
  const name = node.name ?? '';
  if (name && !name.includes('/')) return name;
  const path = modulePath(name);
  return path || `layer${index}`;
}

/**
 * The module path in torch.onnx's node names: "/layer1/layer1.0/conv1/Conv" → "layer1.0.conv1",
 * "/layer2/layer2.0/downsample/downsample.0/Conv" → "layer2.0.downsample.0" (a segment repeats
 * the name of the module it is in); "" when there is none.
 */
function modulePath(name: string): string {
  const parts = name.split('/').filter(Boolean).slice(0, -1);
  let path = '';
  for (const p of parts) {
    const last = path.slice(path.lastIndexOf('.') + 1);
    path = !path ? p : p.startsWith(`${last}.`) ? `${path}${p.slice(last.length)}` : `${path}.${p}`;
  }
  return path;
}

/** Display name of a layer without weights: the node's name ("/layer1/layer1.0/Add" → "layer1.0.Add"), else #index. */
function opName(n: onnx.INodeProto, i: number): string {
  const name = n.name ?? '';
  if (!name.includes('/')) return name || `#${i}`;
  const op = name.split('/').filter(Boolean).pop() ?? '';
  const path = modulePath(name);
  return path ? `${path}.${op}` : op || `#${i}`;
}

/** The walk over the graph: its values, the builder, and the helpers the operator handlers share. */
export class OnnxGraph {
  builder: NetworkBuilder | null = null;
  readonly values = new Map<string, Value>();
  /** Tensors whose only readers lead to the graph output through pass-through operators. */
  private readonly finalNames = new Set<string>();
  private readonly readers = new Map<string, number>();

  constructor(
    readonly fileName: string,
    readonly opset: number,
    readonly inputName: string,
    readonly outputName: string,
    nodes: onnx.INodeProto[],
    /** The nodes' topological order. */
    order: number[],
    /** Describes the declared input shape, for messages. */
    readonly declaredInput: () => string,
  ) {
    const consumers = new Map<string, onnx.INodeProto[]>();
    for (const n of nodes) {
      for (const name of n.input ?? []) {
        if (!name) continue;
        const list = consumers.get(name);
        if (list) list.push(n);
        else consumers.set(name, [n]);
      }
    }
    const producer = new Map<string, onnx.INodeProto>();
    for (const n of nodes) for (const o of n.output ?? []) if (o) producer.set(o, n);
    // Data readers of each tensor, seen through pass-through operators (which are not readers themselves),
    // counted from the last node back so that a pass-through node's output is counted before its input.
    const count = (name: string): number => {
      let c = name === outputName ? 1 : 0;
      for (const n of consumers.get(name) ?? []) {
        if (SHAPE_READERS.has(n.opType ?? '')) continue;
        const out = n.output?.[0];
        c += PASS_THROUGH.has(n.opType ?? '') && n.input?.[0] === name && out ? (this.readers.get(out) ?? 1) : 1;
      }
      return c;
    };
    for (let k = order.length - 1; k >= 0; k--) for (const o of nodes[order[k]].output ?? []) if (o) this.readers.set(o, count(o));
    this.readers.set(inputName, count(inputName));
    // The graph output and what reaches it only through pass-through operators.
    let name: string | undefined = outputName;
    while (name && !this.finalNames.has(name)) {
      this.finalNames.add(name);
      const p = producer.get(name);
      name = p && PASS_THROUGH.has(p.opType ?? '') && p.opType !== 'Pad' ? p.input?.[0] : undefined;
    }
  }

  /** An unsupported-node error: "node 'n' (Op) <why>". */
  fail(n: onnx.INodeProto, i: number, why: string): Error {
    return unsupported(this.fileName, `node ${nodeLabel(n, i)} (${escapeName(n.opType)}) ${why}.`);
  }

  bad(n: onnx.INodeProto, i: number, why: string): Error {
    return badModel(this.fileName, `node ${nodeLabel(n, i)} (${escapeName(n.opType)}) ${why}.`);
  }

  /** Whether nothing but the node at hand reads the data that made `v` (so it may change that layer in place). */
  exclusive(v: DataValue): boolean {
    return (this.readers.get(v.root) ?? 0) <= 1;
  }

  /** Whether `name` reaches the graph output through pass-through operators only, and nothing else reads it. */
  isFinal(name: string): boolean {
    return this.finalNames.has(name) && (this.readers.get(name) ?? 0) <= 1;
  }

  konst(name: string | undefined): ConstTensor | undefined {
    const v = name ? this.values.get(name) : undefined;
    return v?.kind === 'const' ? v.c : undefined;
  }

  /** A required constant input. */
  needConst(n: onnx.INodeProto, i: number, k: number, what: string): ConstTensor {
    const c = this.konst(n.input?.[k]);
    if (!c) throw this.fail(n, i, `needs a constant ${what}${this.values.get(n.input?.[k] ?? '')?.kind === 'data' ? ' (it is computed from the input)' : ''}`);
    return c;
  }

  /** Input k as a data tensor, refusing a pending Pad or an output Slice where they cannot go. */
  data(n: onnx.INodeProto, i: number, k = 0, opts: { pad?: boolean; selection?: boolean; nhwc?: boolean; unknown?: boolean } = {}): DataValue {
    const v = this.values.get(n.input?.[k] ?? '');
    if (!v || v.kind !== 'data') throw this.fail(n, i, `needs input ${k + 1} to be computed from the network input`);
    if (v.selection && !opts.selection) throw this.fail(n, i, 'follows a Slice; Slice is supported only on the final output');
    if (v.pad && !opts.pad) throw this.fail(n, i, `follows Pad node ${quoteName(v.pad.node)}, whose non-zero padding is supported only right before a Conv or AveragePool`);
    if (v.nhwc && !opts.nhwc) throw this.fail(n, i, `reads the channels-last input ${quoteName(this.inputName)} before its Transpose to NCHW`);
    if (!v.dims && !opts.unknown) throw this.fail(n, i, `needs the shape of input ${quoteName(this.inputName)}, but the graph declares it as [${this.declaredInput()}]; DTD Lens needs a known [batch, C, H, W] or [batch, features] input`);
    return v;
  }

  /** The builder, made on the first dense layer when the input's feature count was not declared. */
  needBuilder(n: onnx.INodeProto, i: number, inF?: number): NetworkBuilder {
    if (this.builder) return this.builder;
    if (inF === undefined) throw this.fail(n, i, `needs the shape of input ${quoteName(this.inputName)}, but the graph declares it as [${this.declaredInput()}]`);
    this.builder = new NetworkBuilder(this.fileName, inF);
    return this.builder;
  }

  /** Makes `v` the builder's current tensor, with the shape its ONNX dims give (flat, or [C, H, W]). */
  use(v: DataValue, name: string, flat = false): NetworkBuilder {
    const b = this.builder!;
    b.use(v.ref);
    const view = flat ? shapeSize(v.dims ?? [b.currentSize]) : viewOf(v.dims ?? [1, b.currentSize]);
    const cur = b.currentShape;
    if (typeof view === 'number') {
      if (cur) b.flatten();
    } else if (!cur || cur.some((d, k) => d !== view[k])) {
      b.reshape(name, view);
    }
    return b;
  }

  /** Sets the node's (first) output. */
  set(n: onnx.INodeProto, v: Value): void {
    const out = n.output?.[0];
    if (out) this.values.set(out, v);
  }

  /** The node's output is the builder's current tensor (a new layer, or the one the node changed in place). */
  produced(n: onnx.INodeProto, dims: number[]): void {
    this.set(n, { kind: 'data', ref: this.builder!.current, dims, root: n.output?.[0] ?? '' });
  }

  /** The node's output is its input with another recorded shape. */
  alias(n: onnx.INodeProto, v: DataValue, changes: Partial<DataValue> = {}): void {
    const next: DataValue = { ...v, ...changes };
    this.set(n, next);
  }

  /** An elementwise activation on `v` (fused into the layer that made it when nothing else reads that). */
  activation(n: onnx.INodeProto, i: number, act: Activation, params?: ActivationParams): void {
    const v = this.data(n, i);
    const b = this.use(v, opName(n, i));
    b.activation(opName(n, i), act, params, this.exclusive(v));
    this.produced(n, v.dims!);
  }
}

/** Adds node n (index i) to the network; its inputs are in graph.values. */
export type OpHandler = (g: OnnxGraph, n: onnx.INodeProto, i: number) => void;

// ---------------------------------------------------------------------------
// Operator handlers: one function per ONNX operator, listed once in
// ONNX_OP_HANDLERS. That table is what DTD Lens supports on data; the
// up-front check accepts its operators, the foldable ones and Constant.
// ---------------------------------------------------------------------------

function gemmOp(g: OnnxGraph, n: onnx.INodeProto, i: number): void {
  const A = g.data(n, i, 0, { unknown: true });
  if (g.values.get(n.input?.[1] ?? '')?.kind === 'data') throw g.fail(n, i, 'multiplies two tensors computed from the input (only data × constant weight is supported)');
  if (intAttr(n, 'transA', 0) !== 0) throw g.fail(n, i, 'has transA=1');
  const B = g.needConst(n, i, 1, 'weight matrix B');
  if (B.dims.length !== 2) throw g.fail(n, i, `has a weight of shape [${B.dims.join(', ')}] (2-D needed)`);
  const transB = intAttr(n, 'transB', 0) !== 0;
  const alpha = floatAttr(n, 'alpha', 1);
  const beta = floatAttr(n, 'beta', 1);
  const [outF, inF] = transB ? B.dims : [B.dims[1], B.dims[0]];
  const weight = new Float64Array(outF * inF);
  for (let o = 0; o < outF; o++) {
    for (let k = 0; k < inF; k++) weight[o * inF + k] = alpha * (transB ? B.values[o * inF + k] : B.values[k * outF + o]);
  }
  let bias: Float64Array | null = null;
  if (n.input?.[2]) {
    const C = g.needConst(n, i, 2, 'bias C');
    bias = biasVector(g, n, i, C, outF, beta);
  }
  const dims = A.dims ?? [1, inF];
  if (dims.length !== 2) throw g.fail(n, i, `multiplies a tensor of shape ${show(dims)} (Gemm needs [batch, features]; add a Flatten)`);
  checkFeatures(g, n, i, A, dims, inF);
  const b = g.needBuilder(n, i, inF);
  g.use({ ...A, dims }, opName(n, i), true);
  b.dense(layerName(n, b.layers.length + 1), weight, bias, outF, inF);
  g.produced(n, [1, outF]);
}

/** The data's feature count must be the weight's input count. */
function checkFeatures(g: OnnxGraph, n: onnx.INodeProto, i: number, A: DataValue, dims: number[], inF: number): void {
  const F = dims[dims.length - 1];
  if (F === inF) return;
  if (A.ref === 0) throw badModel(g.fileName, `input ${quoteName(g.inputName)} has ${F} features but the first layer expects ${inF}.`);
  throw g.bad(n, i, `multiplies ${F} features by a weight for ${inF}`);
}

/** A bias of `outF` values from a constant of shape [outF], [1, outF], [1] or [] (times `scale`). */
function biasVector(g: OnnxGraph, n: onnx.INodeProto, i: number, c: ConstTensor, outF: number, scale: number): Float64Array {
  const bias = new Float64Array(outF);
  if (c.values.length === outF && c.dims.filter((d) => d !== 1).length <= 1) for (let k = 0; k < outF; k++) bias[k] = scale * c.values[k];
  else if (c.values.length === 1) bias.fill(scale * c.values[0]);
  else throw g.fail(n, i, `adds a constant of shape [${c.dims.join(', ')}] that is not a bias for ${outF} units`);
  return bias;
}

function matMulOp(g: OnnxGraph, n: onnx.INodeProto, i: number): void {
  if (g.values.get(n.input?.[0] ?? '')?.kind !== 'data') throw g.fail(n, i, 'multiplies a constant by the data (only data × constant weight is supported)');
  const A = g.data(n, i, 0, { unknown: true });
  if (g.values.get(n.input?.[1] ?? '')?.kind === 'data') throw g.fail(n, i, 'multiplies two tensors computed from the input (only data × constant weight is supported)');
  const B = g.needConst(n, i, 1, 'weight matrix');
  if (B.dims.length !== 2) throw g.fail(n, i, `has a weight of shape [${B.dims.join(', ')}] (2-D needed)`);
  const [inF, outF] = B.dims;
  const dims = A.dims ?? [1, inF];
  if (dims.length < 2 || dims.slice(0, -1).some((d) => d !== 1)) throw g.fail(n, i, `multiplies a tensor of shape ${show(dims)} (only [batch, features] is supported)`);
  const weight = new Float64Array(outF * inF);
  for (let o = 0; o < outF; o++) for (let k = 0; k < inF; k++) weight[o * inF + k] = B.values[k * outF + o];
  checkFeatures(g, n, i, A, dims, inF);
  const b = g.needBuilder(n, i, inF);
  g.use({ ...A, dims }, opName(n, i), true);
  b.dense(layerName(n, b.layers.length + 1), weight, null, outF, inF);
  g.produced(n, [...dims.slice(0, -1), outF]);
}

/**
 * The layer that made `v`, when a per-channel scale or shift can go into its weights and bias:
 * a conv/dense whose output nothing else reads, with no activation yet, seen with its own channels.
 */
function openLayer(g: OnnxGraph, v: DataValue) {
  const b = g.builder;
  if (!b || v.ref === 0 || !g.exclusive(v) || !v.dims) return null;
  const layer = b.layers[v.ref - 1];
  if (layer.activation !== 'linear') return null;
  if (layer.kind === 'dense') return v.dims[1] === layer.outFeatures && v.dims.slice(2).every((d) => d === 1) ? layer : null;
  if (layer.kind === 'conv2d' || layer.kind === 'convtranspose2d') return v.dims.length === 4 && v.dims[1] === layer.outShape[0] ? layer : null;
  if (layer.kind === 'affine') return layer.shape[0] === v.dims[1] && layer.shape.length === Math.min(v.dims.length - 1, 3) ? layer : null;
  return null;
}

/** y = scale[c]·x + shift[c] on data `v`: into the conv/dense before it when possible, else an affine layer. */
function channelAffine(g: OnnxGraph, n: onnx.INodeProto, i: number, v: DataValue, scale: Float64Array | null, shift: Float64Array | null): void {
  const layer = openLayer(g, v);
  if (layer?.kind === 'affine') {
    // s·(a·x + b) + t = (s·a)·x + (s·b + t)
    for (let c = 0; c < layer.scale.length; c++) {
      if (scale) {
        layer.scale[c] *= scale[c];
        layer.shift[c] *= scale[c];
      }
      if (shift) layer.shift[c] += shift[c];
    }
    g.set(n, { ...v, root: n.output?.[0] ?? v.root });
    return;
  }
  if (layer) {
    const O = layer.kind === 'dense' ? layer.outFeatures : layer.outShape[0];
    if (scale) {
      if (layer.kind === 'convtranspose2d') {
        const C = layer.inShape[0];
        const per = layer.kernel[0] * layer.kernel[1];
        for (let c = 0; c < C; c++) for (let o = 0; o < O; o++) for (let k = 0; k < per; k++) layer.weight[(c * O + o) * per + k] *= scale[o];
      } else {
        const per = layer.weight.length / O;
        for (let o = 0; o < O; o++) for (let k = 0; k < per; k++) layer.weight[o * per + k] *= scale[o];
      }
      for (let o = 0; o < O; o++) layer.bias[o] *= scale[o];
    }
    if (shift) for (let o = 0; o < O; o++) layer.bias[o] += shift[o];
    g.set(n, { ...v, root: n.output?.[0] ?? v.root });
    return;
  }
  const b = g.use(v, opName(n, i));
  const C = v.dims![1];
  b.affine(opName(n, i), scale ?? new Float64Array(C).fill(1), shift ?? new Float64Array(C));
  g.produced(n, v.dims!);
}

/** Add, Sub, Mul, Div: of two data tensors (Add: a residual join), or of data and a per-channel constant. */
function arithmeticOp(g: OnnxGraph, n: onnx.INodeProto, i: number): void {
  const op = n.opType!;
  const ins = (n.input ?? []).slice(0, 2).map((name) => g.values.get(name));
  const dataAt = ins.map((v) => v?.kind === 'data');
  if (dataAt[0] && dataAt[1]) {
    if (op !== 'Add') throw g.fail(n, i, `${op === 'Mul' ? 'multiplies' : op === 'Div' ? 'divides' : 'subtracts'} two tensors computed from the input (only Add joins two branches)`);
    joinAdd(g, n, i, [0, 1]);
    return;
  }
  const k = dataAt[0] ? 0 : 1;
  const v = g.data(n, i, k);
  const c = g.needConst(n, i, 1 - k, 'operand');
  const vec = perChannel(c, v.dims!);
  if (!vec) throw g.fail(n, i, `combines data of shape ${show(v.dims)} with a constant of shape [${c.dims.join(', ')}] (only one value per channel, or one for all, is supported)`);
  const C = vec.length;
  if (op === 'Add') {
    if (vec.every((x) => x === 0)) return g.alias(n, v);
    return channelAffine(g, n, i, v, null, vec);
  }
  if (op === 'Sub') {
    if (k === 0) return channelAffine(g, n, i, v, null, vec.map((x) => -x));
    return channelAffine(g, n, i, v, new Float64Array(C).fill(-1), vec);
  }
  if (op === 'Mul') {
    if (vec.every((x) => x === 1)) return g.alias(n, v);
    return channelAffine(g, n, i, v, vec, null);
  }
  // Div
  if (k === 1) throw g.fail(n, i, 'divides a constant by data (only data ÷ constant is supported)');
  if (vec.some((x) => x === 0)) throw g.bad(n, i, 'divides by zero');
  if (vec.every((x) => x === 1)) return g.alias(n, v);
  return channelAffine(g, n, i, v, vec.map((x) => 1 / x), null);
}

/** A residual join: the sum of data tensors of one shape. */
function joinAdd(g: OnnxGraph, n: onnx.INodeProto, i: number, ks: number[]): void {
  const vs = ks.map((k) => g.data(n, i, k));
  const dims = vs[0].dims!;
  for (const v of vs) {
    if (v.dims!.length !== dims.length || v.dims!.some((d, k) => d !== dims[k])) {
      throw g.fail(n, i, `adds tensors of shapes ${vs.map((x) => show(x.dims)).join(' and ')} (DTD Lens adds tensors of one shape, without broadcasting)`);
    }
  }
  const b = g.use(vs[0], opName(n, i));
  // The other inputs are seen with their recorded shapes: make them agree when only the view differs.
  for (const v of vs.slice(1)) {
    const sh = b.shapeOf(v.ref);
    const want = viewOf(v.dims!);
    if ((typeof want === 'number') !== !sh || (sh && typeof want !== 'number' && sh.some((d, k) => d !== want[k]))) {
      throw g.fail(n, i, `adds tensors of shapes ${vs.map((x) => show(x.dims)).join(' and ')} that the network holds in different layouts`);
    }
  }
  b.add(opName(n, i), vs.map((v) => v.ref));
  g.produced(n, dims);
}

function sumOp(g: OnnxGraph, n: onnx.INodeProto, i: number): void {
  const names = (n.input ?? []).filter(Boolean);
  if (names.length === 1) return g.alias(n, g.data(n, i, 0));
  if (names.some((name) => g.values.get(name)?.kind !== 'data')) throw g.fail(n, i, 'sums data and constants (only Sum of tensors computed from the input is supported)');
  joinAdd(g, n, i, names.map((_, k) => k));
}

function reluOp(g: OnnxGraph, n: onnx.INodeProto, i: number): void {
  g.activation(n, i, 'relu');
}

function leakyReluOp(g: OnnxGraph, n: onnx.INodeProto, i: number): void {
  g.activation(n, i, 'leakyrelu', { alpha: intendedFloat32(floatAttr(n, 'alpha', 0.01)) });
}

function preluOp(g: OnnxGraph, n: onnx.INodeProto, i: number): void {
  const v = g.data(n, i);
  const slope = g.needConst(n, i, 1, 'slope');
  const vec = perChannel(slope, v.dims!);
  if (!vec) throw g.fail(n, i, `has a slope of shape [${slope.dims.join(', ')}] for data of shape ${show(v.dims)} (one slope per channel, or one for all, is supported)`);
  const slopes = vec.every((s) => s === vec[0]) ? Float64Array.of(vec[0]) : vec;
  g.activation(n, i, 'leakyrelu', { slopes });
}

/** float32's largest value: the "no bound" default of Clip's attributes before opset 11. */
const FLOAT32_MAX = 3.4028234663852886e38;

function clipOp(g: OnnxGraph, n: onnx.INodeProto, i: number): void {
  let lo: number;
  let hi: number;
  if (g.opset < 11) {
    lo = floatAttr(n, 'min', -Infinity);
    hi = floatAttr(n, 'max', Infinity);
  } else {
    lo = n.input?.[1] ? g.needConst(n, i, 1, 'min').values[0] : -Infinity;
    hi = n.input?.[2] ? g.needConst(n, i, 2, 'max').values[0] : Infinity;
  }
  if (lo <= -FLOAT32_MAX) lo = -Infinity;
  if (hi >= FLOAT32_MAX) hi = Infinity;
  if (Number.isNaN(lo) || Number.isNaN(hi) || lo > hi) throw g.bad(n, i, `clips to [${lo}, ${hi}]`);
  if (lo === -Infinity && hi === Infinity) return g.alias(n, g.data(n, i));
  if (lo === 0 && hi === Infinity) return g.activation(n, i, 'relu');
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) throw g.fail(n, i, `clips to [${lo}, ${hi}] (only two finite bounds, or [0, ∞) as ReLU, are supported)`);
  const params = { min: intendedFloat32(lo), max: intendedFloat32(hi) };
  // torch writes F.relu6 as Relu then Clip(0, 6): clip(relu(z), lo, hi) = clip(z, lo, hi) for lo ≥ 0, one activation.
  const v = g.data(n, i);
  const layer = v.ref > 0 && g.exclusive(v) ? g.builder?.layers[v.ref - 1] : undefined;
  if (layer && layer.activation === 'relu' && lo >= 0) {
    layer.activation = 'clip';
    layer.activationParams = params;
    return g.set(n, { ...v, root: n.output?.[0] ?? v.root });
  }
  g.activation(n, i, 'clip', params);
}

function sigmoidOp(g: OnnxGraph, n: onnx.INodeProto, i: number): void {
  if (n.output?.[0] && g.isFinal(n.output[0])) return finalSoftmaxOp(g, n, i);
  g.activation(n, i, 'sigmoid');
}

function tanhOp(g: OnnxGraph, n: onnx.INodeProto, i: number): void {
  g.activation(n, i, 'tanh');
}

function eluOp(g: OnnxGraph, n: onnx.INodeProto, i: number): void {
  g.activation(n, i, 'elu', { alpha: intendedFloat32(floatAttr(n, 'alpha', 1)) });
}

/** Kernel, strides and dilations of a 2-D window operator. */
function window2d(g: OnnxGraph, n: onnx.INodeProto, i: number, kernel: [number, number]) {
  const stride = intsAttr(n, 'strides') ?? [1, 1];
  const dilation = intsAttr(n, 'dilations') ?? [1, 1];
  if (stride.length !== 2 || dilation.length !== 2 || kernel.length !== 2) throw g.fail(n, i, 'is not a 2-D operator (only [batch, C, H, W] data is supported)');
  return { stride: stride as [number, number], dilation: dilation as [number, number] };
}

function imageOf(g: OnnxGraph, n: onnx.INodeProto, i: number, v: DataValue): [number, number, number] {
  const d = v.dims!;
  if (d.length !== 4) throw g.fail(n, i, `acts on data of shape ${show(d)}; it needs [batch, C, H, W]`);
  return [d[1], d[2], d[3]];
}

function convOp(g: OnnxGraph, n: onnx.INodeProto, i: number): void {
  const v = g.data(n, i, 0, { pad: true });
  const [, H, W] = imageOf(g, n, i, v);
  const Wt = g.needConst(n, i, 1, 'weight');
  if (Wt.dims.length !== 4) throw g.fail(n, i, `has a weight of shape [${Wt.dims.join(', ')}] (only 2-D convolutions, [O, C/groups, kh, kw], are supported)`);
  const kernel: [number, number] = [Wt.dims[2], Wt.dims[3]];
  const ks = intsAttr(n, 'kernel_shape');
  if (ks && (ks.length !== 2 || ks[0] !== kernel[0] || ks[1] !== kernel[1])) throw g.bad(n, i, `has kernel_shape [${ks.join(', ')}] but its weight is ${kernel.join('×')}`);
  const { stride, dilation } = window2d(g, n, i, kernel);
  const inH = H - (v.pad ? v.pad.pads[0] + v.pad.pads[2] : 0);
  const inW = W - (v.pad ? v.pad.pads[1] + v.pad.pads[3] : 0);
  const padding = windowPads(n, [H, W], kernel, stride, dilation, (why) => g.fail(n, i, why));
  if (v.pad) for (let k = 0; k < 4; k++) padding[k] += v.pad.pads[k];
  const bias = n.input?.[2] ? Float64Array.from(g.needConst(n, i, 2, 'bias').values) : null;
  const groups = intAttr(n, 'group', 1);
  const b = g.use({ ...v, dims: [1, v.dims![1], inH, inW], pad: undefined }, opName(n, i));
  b.conv2d(layerName(n, b.layers.length + 1), { weight: Float64Array.from(Wt.values), bias, outChannels: Wt.dims[0], kernel, stride, padding, dilation, groups });
  g.produced(n, [1, ...b.currentShape!]);
}

function convTransposeOp(g: OnnxGraph, n: onnx.INodeProto, i: number): void {
  const v = g.data(n, i);
  imageOf(g, n, i, v);
  const Wt = g.needConst(n, i, 1, 'weight');
  if (Wt.dims.length !== 4) throw g.fail(n, i, `has a weight of shape [${Wt.dims.join(', ')}] (only 2-D transposed convolutions, [C, O, kh, kw], are supported)`);
  const kernel: [number, number] = [Wt.dims[2], Wt.dims[3]];
  const ks = intsAttr(n, 'kernel_shape');
  if (ks && (ks.length !== 2 || ks[0] !== kernel[0] || ks[1] !== kernel[1])) throw g.bad(n, i, `has kernel_shape [${ks.join(', ')}] but its weight is ${kernel.join('×')}`);
  const { stride, dilation } = window2d(g, n, i, kernel);
  const auto = stringAttr(n, 'auto_pad', 'NOTSET');
  if (auto !== 'NOTSET' && auto !== 'VALID') throw g.fail(n, i, `has auto_pad ${auto} (only explicit pads are supported)`);
  const pads = auto === 'VALID' ? [0, 0, 0, 0] : intsAttr(n, 'pads') ?? [0, 0, 0, 0];
  if (pads.length !== 4) throw g.bad(n, i, `has pads [${pads.join(', ')}] (4 values needed)`);
  const op = intsAttr(n, 'output_padding') ?? [0, 0];
  if (op.length !== 2) throw g.bad(n, i, `has output_padding [${op.join(', ')}]`);
  const bias = n.input?.[2] ? Float64Array.from(g.needConst(n, i, 2, 'bias').values) : null;
  const b = g.use(v, opName(n, i));
  b.convTranspose2d(layerName(n, b.layers.length + 1), {
    weight: Float64Array.from(Wt.values), bias, outChannels: Wt.dims[1], kernel, stride, padding: pads as Pad4, dilation, outputPadding: op as [number, number],
  });
  g.produced(n, [1, ...b.currentShape!]);
}

/**
 * Extra bottom/right padding that makes a floor-mode window count equal ceil_mode's (PyTorch's rule:
 * the last window starts inside the input or its top/left padding); 0 where they agree.
 */
function ceilExtra(size: number, k: number, s: number, before: number, after: number): number {
  let out = Math.ceil((size + before + after - k) / s) + 1;
  if ((out - 1) * s >= size + before) out--;
  return Math.max(0, (out - 1) * s + k - (size + before + after));
}

function maxPoolOp(g: OnnxGraph, n: onnx.INodeProto, i: number): void {
  const v = g.data(n, i);
  const [, H, W] = imageOf(g, n, i, v);
  const ks = intsAttr(n, 'kernel_shape');
  if (!ks || ks.length !== 2) throw g.fail(n, i, 'needs a 2-D kernel_shape');
  const kernel = ks as [number, number];
  const { stride } = window2d(g, n, i, kernel);
  const padding = windowPads(n, [H, W], kernel, stride, [1, 1], (why) => g.fail(n, i, why));
  const b = g.use(v, opName(n, i));
  if (intAttr(n, 'ceil_mode', 0) !== 0) {
    const extra = [ceilExtra(H, kernel[0], stride[0], padding[0], padding[2]), ceilExtra(W, kernel[1], stride[1], padding[1], padding[3])];
    if (extra[0] || extra[1]) {
      padding[2] += extra[0];
      padding[3] += extra[1];
      b.notes.push(`MaxPool ${quoteName(opName(n, i))} uses ceil_mode: its last windows reach past the input; they are computed with ${extra[0]} extra row(s) and ${extra[1]} extra column(s) of padding, which never wins a maximum.`);
    }
  }
  b.pool2d('maxpool2d', layerName(n, b.layers.length + 1), kernel, stride, padding);
  g.produced(n, [1, ...b.currentShape!]);
}

function averagePoolOp(g: OnnxGraph, n: onnx.INodeProto, i: number): void {
  const v = g.data(n, i, 0, { pad: true });
  const [, H, W] = imageOf(g, n, i, v);
  const ks = intsAttr(n, 'kernel_shape');
  if (!ks || ks.length !== 2) throw g.fail(n, i, 'needs a 2-D kernel_shape');
  const kernel = ks as [number, number];
  const { stride } = window2d(g, n, i, kernel);
  const own = windowPads(n, [H, W], kernel, stride, [1, 1], (why) => g.fail(n, i, why));
  let countIncludePad = intAttr(n, 'count_include_pad', 0) !== 0;
  const padding: Pad4 = [...own];
  let dims = v.dims!;
  if (v.pad) {
    // A zero Pad before an unpadded AveragePool: torch's AvgPool2d(padding, count_include_pad=True).
    if (own.some((p) => p !== 0)) throw g.fail(n, i, `follows Pad node ${quoteName(v.pad.node)} and pads itself (only one of the two is supported)`);
    for (let k = 0; k < 4; k++) padding[k] = v.pad.pads[k];
    countIncludePad = true;
    dims = [1, dims[1], H - v.pad.pads[0] - v.pad.pads[2], W - v.pad.pads[1] - v.pad.pads[3]];
  }
  if (intAttr(n, 'ceil_mode', 0) !== 0) {
    const [h, w] = [dims[2], dims[3]];
    if (ceilExtra(h, kernel[0], stride[0], padding[0], padding[2]) || ceilExtra(w, kernel[1], stride[1], padding[1], padding[3])) {
      throw g.fail(n, i, 'uses ceil_mode where it changes the output size (frameworks disagree on the divisor of the partial windows; only floor mode is supported)');
    }
  }
  const b = g.use({ ...v, dims, pad: undefined }, opName(n, i));
  b.pool2d('avgpool2d', layerName(n, b.layers.length + 1), kernel, stride, padding, padding.some((p) => p > 0) ? countIncludePad : undefined);
  g.produced(n, [1, ...b.currentShape!]);
}

function globalAveragePoolOp(g: OnnxGraph, n: onnx.INodeProto, i: number): void {
  const v = g.data(n, i);
  imageOf(g, n, i, v);
  const b = g.use(v, opName(n, i));
  b.globalAvgPool(layerName(n, b.layers.length + 1));
  g.produced(n, [1, ...b.currentShape!]);
}

function globalMaxPoolOp(g: OnnxGraph, n: onnx.INodeProto, i: number): void {
  const v = g.data(n, i);
  const [, H, W] = imageOf(g, n, i, v);
  const b = g.use(v, opName(n, i));
  b.pool2d('maxpool2d', layerName(n, b.layers.length + 1), [H, W], [H, W]);
  g.produced(n, [1, ...b.currentShape!]);
}

/** Folded into the conv/dense before it when nothing else reads that (CONV.md §3), else an affine layer. */
function batchNormalizationOp(g: OnnxGraph, n: onnx.INodeProto, i: number): void {
  const v = g.data(n, i);
  const [gamma, beta, mean, variance] = [1, 2, 3, 4].map((k) => g.needConst(n, i, k, ['scale', 'B', 'mean', 'var'][k - 1]).values);
  if (v.dims!.length < 2) throw g.fail(n, i, `normalises data of shape ${show(v.dims)}`);
  const b = g.use(v, opName(n, i));
  b.batchNorm(opName(n, i), gamma, beta, mean, variance, intendedFloat32(floatAttr(n, 'epsilon', 1e-5)), g.exclusive(v));
  g.produced(n, v.dims!);
}

function concatOp(g: OnnxGraph, n: onnx.INodeProto, i: number): void {
  const names = (n.input ?? []).filter(Boolean);
  if (names.some((name) => g.values.get(name)?.kind !== 'data')) throw g.fail(n, i, 'concatenates constants with data (only tensors computed from the input are supported)');
  const vs = names.map((_, k) => g.data(n, i, k));
  const rank = vs[0].dims!.length;
  const raw = intAttr(n, 'axis', 1);
  const axis = raw < 0 ? raw + rank : raw;
  if (axis !== 1) throw g.fail(n, i, `concatenates along axis ${raw} of data of shape ${show(vs[0].dims)} (only the channel axis 1 is supported)`);
  for (const v of vs) {
    if (v.dims!.length !== rank || v.dims!.some((d, k) => k !== 1 && d !== vs[0].dims![k])) throw g.fail(n, i, `concatenates tensors of shapes ${vs.map((x) => show(x.dims)).join(', ')}`);
  }
  const dims = [...vs[0].dims!];
  dims[1] = vs.reduce((a, v) => a + v.dims![1], 0);
  if (vs.length === 1) return g.alias(n, vs[0]);
  const b = g.use(vs[0], opName(n, i));
  for (const v of vs.slice(1)) {
    const want = viewOf(v.dims!);
    const sh = b.shapeOf(v.ref);
    if ((typeof want === 'number') !== !sh || (sh && typeof want !== 'number' && sh.some((d, k) => d !== want[k]))) throw g.fail(n, i, 'concatenates tensors that the network holds in different layouts');
  }
  b.concat(opName(n, i), vs.map((v) => v.ref));
  g.produced(n, dims);
}

/** Flatten at axis 1: [batch, …] → [batch, features]. C-major, a no-op on the IR's flat NCHW data. */
function flattenOp(g: OnnxGraph, n: onnx.INodeProto, i: number): void {
  const v = g.data(n, i, 0, { unknown: true });
  const axis = intAttr(n, 'axis', 1);
  const rank = v.dims?.length ?? 2;
  if (axis !== 1 && axis !== 1 - rank) throw g.fail(n, i, `flattens at axis ${axis} (only axis 1, keeping the batch axis, is supported)`);
  g.alias(n, v, { dims: v.dims ? [1, shapeSize(v.dims.slice(1))] : null });
}

/** A reshape keeps the flat data: only its recorded shape changes. The batch axis must stay first. */
function reshapeOp(g: OnnxGraph, n: onnx.INodeProto, i: number): void {
  const v = g.data(n, i, 0, { unknown: true });
  const target = Array.from(g.needConst(n, i, 1, 'target shape').values);
  if (!v.dims) {
    // The input's size is not known yet: only a flatten to [batch, features].
    if (target.length === 2 && [0, 1, -1].includes(target[0]) && target[1] === -1) return g.alias(n, v);
    throw g.fail(n, i, `reshapes input ${quoteName(g.inputName)} of unknown size to [${target.join(', ')}]`);
  }
  const dims = reshapeTarget(v.dims, target, intAttr(n, 'allowzero', 0) !== 0, (why) => g.fail(n, i, why));
  if (dims.length < 2 || dims[0] !== 1) throw g.fail(n, i, `reshapes ${show(v.dims)} to [${target.join(', ')}], moving the batch axis`);
  g.alias(n, v, { dims });
}

function squeezeOp(g: OnnxGraph, n: onnx.INodeProto, i: number): void {
  const v = g.data(n, i);
  const ctx = { opset: g.opset, fail: (why: string) => g.fail(n, i, why) };
  let axes = axesOf(n, (n.input ?? []).map((name) => g.konst(name)), ctx);
  if (!axes) axes = v.dims!.flatMap((d, k) => (k > 0 && d === 1 ? [k] : []));
  if (axes.some((a) => a === 0 || a === -v.dims!.length)) throw g.fail(n, i, 'squeezes the batch axis');
  const dims = squeezeDims(v.dims!, axes, ctx.fail);
  if (dims.length < 2) throw g.fail(n, i, `squeezes ${show(v.dims)} to [${dims.join(', ')}] (the batch axis and one more are needed)`);
  g.alias(n, v, { dims });
}

function unsqueezeOp(g: OnnxGraph, n: onnx.INodeProto, i: number): void {
  const v = g.data(n, i);
  const ctx = { opset: g.opset, fail: (why: string) => g.fail(n, i, why) };
  const axes = axesOf(n, (n.input ?? []).map((name) => g.konst(name)), ctx);
  if (!axes) throw g.fail(n, i, 'has no axes');
  const rank = v.dims!.length + axes.length;
  if (axes.some((a) => a === 0 || a === -rank)) throw g.fail(n, i, 'inserts an axis before the batch axis');
  g.alias(n, v, { dims: unsqueezeDims(v.dims!, axes, ctx.fail) });
}

/** The channels-last input's Transpose to NCHW, or a Transpose that moves only axes of size 1 (the flat data stays as it is). */
function transposeOp(g: OnnxGraph, n: onnx.INodeProto, i: number): void {
  const v = g.data(n, i, 0, { nhwc: true });
  const rank = v.dims!.length;
  const perm = intsAttr(n, 'perm') ?? Array.from({ length: rank }, (_, k) => rank - 1 - k);
  if (perm.length !== rank || new Set(perm).size !== rank || perm.some((p) => p < 0 || p >= rank)) throw g.bad(n, i, `has perm [${perm.join(', ')}] for data of rank ${rank}`);
  const dims = perm.map((p) => v.dims![p]);
  if (v.nhwc) {
    if (perm.join() !== '0,3,1,2') throw g.fail(n, i, `transposes the channels-last input with perm [${perm.join(', ')}] (only [0, 3, 1, 2], to NCHW, is supported)`);
    return g.alias(n, v, { dims, nhwc: undefined });
  }
  const moved = perm.filter((p) => v.dims![p] !== 1);
  if (perm[0] !== 0 || moved.some((p, k) => k > 0 && p < moved[k - 1])) {
    throw g.fail(n, i, `transposes data of shape ${show(v.dims)} with perm [${perm.join(', ')}] (DTD Lens keeps NCHW data; only a channels-last input's Transpose [0, 3, 1, 2] and Transposes of size-1 axes are supported)`);
  }
  g.alias(n, v, { dims });
}

/** Identity passes the data through. */
function identityOp(g: OnnxGraph, n: onnx.INodeProto, i: number): void {
  g.alias(n, g.data(n, i, 0, { unknown: true, selection: true, pad: true, nhwc: true }));
}

function dropoutOp(g: OnnxGraph, n: onnx.INodeProto, i: number): void {
  g.alias(n, g.data(n, i, 0, { unknown: true, selection: true }));
}

const FLOAT_CASTS = new Set<number>([onnx.TensorProto.DataType.FLOAT, onnx.TensorProto.DataType.DOUBLE, onnx.TensorProto.DataType.FLOAT16, onnx.TensorProto.DataType.BFLOAT16]);

function castOp(g: OnnxGraph, n: onnx.INodeProto, i: number): void {
  const v = g.data(n, i, 0, { unknown: true, selection: true });
  const to = intAttr(n, 'to', onnx.TensorProto.DataType.FLOAT);
  if (!FLOAT_CASTS.has(to)) throw g.fail(n, i, `casts data to ${onnx.TensorProto.DataType[to] ?? to} (only casts between float types are supported)`);
  g.alias(n, v);
}

/** An all-zero Pad is skipped (torch's AvgPool export); zero H/W padding is kept for the Conv or AveragePool that reads it. */
function padOp(g: OnnxGraph, n: onnx.INodeProto, i: number): void {
  const v = g.data(n, i);
  const mode = stringAttr(n, 'mode', 'constant');
  let pads: number[] | undefined = intsAttr(n, 'pads'); // opset < 11
  if (g.opset >= 11) pads = n.input?.[1] ? Array.from(g.needConst(n, i, 1, 'pads').values) : undefined;
  const value = g.opset >= 11 ? (n.input?.[2] ? g.needConst(n, i, 2, 'constant_value').values[0] : 0) : floatAttr(n, 'value', 0);
  const rank = v.dims!.length;
  if (!pads || pads.length !== 2 * rank) throw g.fail(n, i, `needs ${2 * rank} constant pads for data of shape ${show(v.dims)}`);
  if (pads.every((p) => p === 0)) return g.alias(n, v); // torch exports AvgPool2d(count_include_pad) with an all-zero Pad: a no-op
  if (rank !== 4 || mode !== 'constant' || value !== 0 || pads[0] || pads[1] || pads[4] || pads[5] || pads.some((p) => p < 0 || !Number.isSafeInteger(p))) {
    throw g.fail(n, i, `pads with mode ${quoteName(mode)}, value ${value} and pads [${pads.join(', ')}] (only zero padding of H and W, right before a Conv or AveragePool, is supported)`);
  }
  if (v.pad) throw g.fail(n, i, `follows Pad node ${quoteName(v.pad.node)}`);
  const p: Pad4 = [pads[2], pads[3], pads[6], pads[7]];
  const dims = [1, v.dims![1], v.dims![2] + p[0] + p[2], v.dims![3] + p[1] + p[3]];
  g.alias(n, v, { dims, pad: { pads: p, node: opName(n, i) } });
}

/** Softmax, LogSoftmax and a final Sigmoid, only on the graph's output: dropped, the logit is explained (with a note). */
function finalSoftmaxOp(g: OnnxGraph, n: onnx.INodeProto, i: number): void {
  const op = n.opType!;
  const v = g.data(n, i);
  const b = g.builder;
  if (!b || v.ref === 0) throw g.fail(n, i, 'acts on the raw input');
  if (!n.output?.[0] || !g.isFinal(n.output[0])) throw g.fail(n, i, `is not the last node (a ${op} is supported only on the final output)`);
  if (op !== 'Sigmoid') {
    const dims = v.dims!;
    if (dims.length !== 2) throw g.fail(n, i, `acts on data of shape ${show(dims)} (only on [batch, classes])`);
    const axis = intAttr(n, 'axis', g.opset >= 13 ? -1 : 1);
    if (axis !== 1 && axis !== -1) throw g.fail(n, i, `normalises axis ${axis}`);
  }
  g.use(v, opName(n, i));
  b.finalSoftmax(opName(n, i), op);
  g.alias(n, v);
}

/** A final Slice of the features becomes the network's outputSelection. */
function sliceOp(g: OnnxGraph, n: onnx.INodeProto, i: number): void {
  const v = g.data(n, i, 0, { selection: true });
  if (!g.builder || v.ref === 0) throw g.fail(n, i, 'slices the input (Slice is supported only on the final output)');
  const dims = v.dims!;
  if (dims.length !== 2) throw g.fail(n, i, `slices data of shape ${show(dims)} (Slice is supported only on the final output, [batch, features])`);
  const width = dims[1];
  const ctx = { opset: g.opset, fail: (why: string) => g.fail(n, i, why) };
  for (const k of [1, 2, 3, 4]) if (n.input?.[k] && !g.konst(n.input[k])) throw g.fail(n, i, 'takes its bounds from a computed tensor (only constants are supported)');
  const { starts, ends, axes: ax, steps } = sliceArgs(n, (n.input ?? []).map((name) => g.konst(name)), ctx);
  const axes = ax ?? starts.map((_, k) => k);
  if (starts.length !== ends.length || axes.length !== starts.length || (steps && steps.length !== starts.length)) throw g.bad(n, i, 'has starts, ends, axes and steps of different lengths');
  let start = 0;
  let stop = width;
  for (let k = 0; k < starts.length; k++) {
    const axis = axes[k];
    const step = steps ? steps[k] : 1;
    const clamp = (x: number, dim: number) => Math.min(Math.max(x < 0 ? x + dim : x, 0), dim);
    if (axis === 0 || axis === -2) {
      // Batch axis: only the full range leaves every sample in place.
      if (clamp(starts[k], Number.MAX_SAFE_INTEGER) === 0 && ends[k] >= 2 ** 31 - 1 && step === 1) continue;
      throw g.fail(n, i, 'slices the batch axis');
    }
    if (axis !== 1 && axis !== -1) throw g.fail(n, i, `slices axis ${axis} (only the feature axis 1 is supported)`);
    if (step !== 1) throw g.fail(n, i, `uses step ${step} (only step 1 is supported)`);
    start = clamp(starts[k], width);
    stop = clamp(ends[k], width);
  }
  if (stop <= start) throw badModel(g.fileName, `Slice node ${nodeLabel(n, i)} selects no outputs ([${start}, ${stop}) of ${width}).`);
  const offset = v.selection ? v.selection.start : 0;
  g.alias(n, v, { dims: [1, stop - start], selection: { start: offset + start, stop: offset + stop } });
}

/**
 * Every ONNX operator DTD Lens supports on data (default domain), with its handler. The
 * order is the order the unsupported-operator message lists them in.
 */
export const ONNX_OP_HANDLERS = {
  Conv: convOp,
  ConvTranspose: convTransposeOp,
  Gemm: gemmOp,
  MatMul: matMulOp,
  BatchNormalization: batchNormalizationOp,
  Relu: reluOp,
  LeakyRelu: leakyReluOp,
  PRelu: preluOp,
  Clip: clipOp,
  Sigmoid: sigmoidOp,
  Tanh: tanhOp,
  Elu: eluOp,
  MaxPool: maxPoolOp,
  AveragePool: averagePoolOp,
  GlobalAveragePool: globalAveragePoolOp,
  GlobalMaxPool: globalMaxPoolOp,
  Add: arithmeticOp,
  Sum: sumOp,
  Sub: arithmeticOp,
  Mul: arithmeticOp,
  Div: arithmeticOp,
  Concat: concatOp,
  Flatten: flattenOp,
  Reshape: reshapeOp,
  Squeeze: squeezeOp,
  Unsqueeze: unsqueezeOp,
  Transpose: transposeOp,
  Identity: identityOp,
  Dropout: dropoutOp,
  Cast: castOp,
  Pad: padOp,
  Softmax: finalSoftmaxOp,
  LogSoftmax: finalSoftmaxOp,
  Slice: sliceOp,
} as const satisfies Record<string, OpHandler>;

export type SupportedOnnxOp = keyof typeof ONNX_OP_HANDLERS;

/** The supported operators, as the unsupported-operator message lists them: the keys of ONNX_OP_HANDLERS. */
export const SUPPORTED_ONNX_OPS: readonly SupportedOnnxOp[] = Object.keys(ONNX_OP_HANDLERS) as SupportedOnnxOp[];

/** What the unsupported-operator message says after the list of supported operators. */
const FOLDED_TEXT = 'constant subgraphs (folded)';

/** Constant only produces values (weights, Slice bounds); it is accepted but not listed to users. */
const CONSTANT_OP = 'Constant';

/** The handler for a default-domain operator, or undefined when DTD Lens does not support it on data. */
export function onnxOpHandler(opType: string): OpHandler | undefined {
  return Object.hasOwn(ONNX_OP_HANDLERS, opType) ? ONNX_OP_HANDLERS[opType as SupportedOnnxOp] : undefined;
}

function isAcceptedOp(n: onnx.INodeProto): boolean {
  if (n.domain && n.domain !== 'ai.onnx') return false;
  const op = n.opType ?? '';
  return op === CONSTANT_OP || onnxOpHandler(op) !== undefined || foldOp(op) !== undefined;
}

// Operator-level problems that need no shapes (used pool indices, training-mode BN, ...), for the up-front list.

/** `label` names the node; usedOutput(k) says whether the node's output k feeds another node. */
type AttributeCheck = (n: onnx.INodeProto, label: string, usedOutput: (k: number) => boolean) => string[];

const allOnes = (n: onnx.INodeProto, name: string) => (intsAttr(n, name) ?? []).every((v) => v === 1);

const ATTRIBUTE_CHECKS: Partial<Record<SupportedOnnxOp, AttributeCheck>> = {
  Conv: (n, label) => ((n.input?.[1] ?? '') === '' ? [`${label} has no weight input`] : []),
  ConvTranspose: (n, label) => [
    ...(intAttr(n, 'group', 1) !== 1 ? [`${label} is a grouped transposed convolution (group ${intAttr(n, 'group', 1)}; only group 1)`] : []),
    ...(attr(n, 'output_shape') ? [`${label} gives output_shape (only pads and output_padding are supported)`] : []),
    ...((n.input?.[1] ?? '') === '' ? [`${label} has no weight input`] : []),
  ],
  MaxPool: (n, label, usedOutput) => [
    ...(!allOnes(n, 'dilations') ? [`${label} is a dilated max pooling`] : []),
    ...(usedOutput(1) ? [`${label} has its Indices output used`] : []),
  ],
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

/** Unsupported operators, one entry per operator ("node 'a' uses operator Tanh", "operator Tanh ×12 (nodes 'a', 'b', …)"). */
function groupedOperators(nodes: onnx.INodeProto[]): string[] {
  const byOp = new Map<string, number[]>();
  nodes.forEach((n, i) => {
    if (isAcceptedOp(n)) return;
    const op = `${n.domain && n.domain !== 'ai.onnx' ? `${n.domain}.` : ''}${n.opType || '(none)'}`;
    const at = byOp.get(op);
    if (at) at.push(i);
    else byOp.set(op, [i]);
  });
  return [...byOp].map(([op, at]) => {
    if (at.length === 1) return `node ${nodeLabel(nodes[at[0]], at[0])} uses operator ${escapeName(op)}`;
    const names = at.slice(0, 2).map((i) => nodeLabel(nodes[i], i));
    return `operator ${escapeName(op)} ×${at.length} (nodes ${names.join(', ')}${at.length > 2 ? ', …' : ''})`;
  });
}

/** The one message refusing unsupported operators and attributes, kept short: at most 4 entries. */
function refuseOperators(fileName: string, offenders: string[]): Error {
  const shown = offenders.length > 4 ? [...offenders.slice(0, 3), `${offenders.length - 3} more`] : offenders;
  return unsupportedList(fileName, shown, [...SUPPORTED_ONNX_OPS, FOLDED_TEXT]);
}

/** Parses an ONNX model into the network IR (see the top of this file). */
export function loadOnnx(bytes: Uint8Array, fileName: string, opts: LoaderOptions = {}): Network {
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
  const bad = [...groupedOperators(nodes), ...nodes.flatMap((n, i) => (isAcceptedOp(n) ? attributeProblems(n, i, consumers) : []))];
  if (bad.length > 0) throw refuseOperators(fileName, bad);

  // 2. External data files: every one the tensors name is asked for before any is decoded
  //    (the engine child collects the names in one pass and the host reads them all).
  const externalFiles = new Map<string, Uint8Array>();
  const readExternal: ExternalReader = (location, what) => {
    const rel = location.replace(/^(\.\/)+/, '');
    let data = externalFiles.get(rel);
    if (!data) {
      data = (opts.files && Object.hasOwn(opts.files, rel) ? opts.files[rel] : undefined) ?? opts.readSibling?.(rel);
      if (!data) throw badModel(fileName, `${what} stores its data in ${quoteName(rel)}, which must lie next to the model; it was not provided or could not be read.`);
      externalFiles.set(rel, data);
    }
    return data;
  };
  const tensorsInFile: [onnx.ITensorProto, string][] = [
    ...(graph.initializer ?? []).map((t): [onnx.ITensorProto, string] => [t, `initializer ${quoteName(t.name ?? '')}`]),
    ...nodes.flatMap((n, i) => (n.opType === CONSTANT_OP ? (n.attribute ?? []).flatMap((a): [onnx.ITensorProto, string][] => (a.t ? [[a.t, `Constant node ${nodeLabel(n, i)}`]] : [])) : [])),
  ];
  const locations = new Map<string, string>();
  for (const [t, what] of tensorsInFile) {
    const loc = externalLocation(t);
    if (loc && isPlainRelativeName(loc) && !locations.has(loc.replace(/^(\.\/)+/, ''))) locations.set(loc.replace(/^(\.\/)+/, ''), what);
  }
  if (locations.size > LIMITS.siblingFiles) throw badModel(fileName, `names more than ${LIMITS.siblingFiles} external data files.`);
  for (const [loc, what] of locations) readExternal(loc, what);

  // 3. Constants: initializers are decoded when a node first reads them.
  const initializers = new Map<string, onnx.ITensorProto>();
  for (const t of graph.initializer ?? []) if (t.name) initializers.set(t.name, t);

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

  // 4. The input: [batch, C, H, W] (an image), [batch, H, W, C] read only through Transpose [0,3,1,2]
  //    (channels-last), [batch, features…]; a symbolic feature count waits for the first dense layer.
  const dims = inputs[0].type?.tensorType?.shape?.dim ?? [];
  const known = (d: onnx.TensorShapeProto.IDimension) => d.dimValue !== undefined && d.dimValue !== null && !d.dimParam && toInt(d.dimValue) > 0;
  const featureDims = dims.slice(1).map((d) => (known(d) ? toInt(d.dimValue) : null));
  const declaredInput = () => dims.map((d) => (known(d) ? toInt(d.dimValue) : d.dimParam || '?')).join(', ');
  const order = topologicalOrder(nodes, new Set([inputName, ...initializers.keys()]), fileName);
  const g = new OnnxGraph(fileName, opset, inputName, outputName, nodes, order, declaredInput);
  const loaderNotes: string[] = [];
  if (dims.length >= 2 && featureDims.every((d): d is number => d !== null)) {
    const readers = nodes.filter((n) => (n.input ?? []).includes(inputName));
    const nhwc = featureDims.length === 3 && readers.length > 0 && readers.every((n) => n.opType === 'Transpose' && (intsAttr(n, 'perm') ?? []).join() === '0,3,1,2');
    if (nhwc) {
      const [H, W, C] = featureDims;
      g.builder = new NetworkBuilder(fileName, [C, H, W]);
      g.values.set(inputName, { kind: 'data', ref: 0, dims: [1, H, W, C], root: inputName, nhwc: true });
      loaderNotes.push(
        `Input ${quoteName(inputName)} is channels-last [batch, ${H}, ${W}, ${C}] in the file, read through a Transpose to NCHW: DTD Lens takes the input channels-first, ` +
          `as [${C}, ${H}, ${W}] (images are decoded so; transpose channels-last data with perm [2, 0, 1] first).`,
      );
    } else {
      g.builder = new NetworkBuilder(fileName, featureDims.length === 3 ? (featureDims as Shape3) : shapeSize(featureDims));
      g.values.set(inputName, { kind: 'data', ref: 0, dims: [1, ...featureDims], root: inputName });
    }
  } else {
    g.values.set(inputName, { kind: 'data', ref: 0, dims: null, root: inputName });
  }

  // 5. Walk the graph in topological order: fold what depends on constants only, build layers from the rest.
  const folded = new Map<string, number>();
  let shapeOfData = false;
  for (const i of order) {
    const n = nodes[i];
    const op = n.opType!;
    const outs = n.output ?? [];
    if (op === CONSTANT_OP) {
      if (outs[0]) g.values.set(outs[0], { kind: 'const', c: constantNodeValue(n, i, fileName, readExternal) });
      continue;
    }
    for (const name of n.input ?? []) {
      if (name && !g.values.has(name) && initializers.has(name)) {
        g.values.set(name, { kind: 'const', c: decodeTensor(initializers.get(name)!, `initializer ${quoteName(name)}`, fileName, readExternal) });
      }
    }
    const ins = (n.input ?? []).map((name) => (name ? g.values.get(name) : undefined));
    (n.input ?? []).forEach((name, k) => {
      if (name && !ins[k]) throw g.fail(n, i, `reads ${quoteName(name)}, an output DTD Lens does not compute`);
    });
    const first = ins[0];
    if ((op === 'Shape' || op === 'Size') && first?.kind === 'data') {
      if (!first.dims) throw g.fail(n, i, `reads the shape of input ${quoteName(inputName)}, which the graph declares as [${declaredInput()}]`);
      if (outs[0]) g.values.set(outs[0], { kind: 'const', c: foldShape(n, first.dims) });
      folded.set(op, (folded.get(op) ?? 0) + 1);
      shapeOfData = true;
      continue;
    }
    if (!ins.some((v) => v?.kind === 'data')) {
      const fold = foldOp(op);
      if (!fold) throw g.fail(n, i, `computes only on constants (DTD Lens folds ${FOLDABLE_ONNX_OPS.length} shape and arithmetic operators, not ${escapeName(op)})`);
      const out = fold(n, ins.map((v) => (v?.kind === 'const' ? v.c : undefined)), foldContext(fileName, opset, (why) => g.fail(n, i, why)));
      out.forEach((c, k) => outs[k] && g.values.set(outs[k], { kind: 'const', c }));
      folded.set(op, (folded.get(op) ?? 0) + 1);
      continue;
    }
    const handle = onnxOpHandler(op);
    if (!handle) {
      const dataName = (n.input ?? []).find((name, k) => name && ins[k]?.kind === 'data');
      throw g.fail(n, i, `computes on ${quoteName(dataName ?? '')}, a tensor computed from the input (DTD Lens folds ${escapeName(op)} only on constants)`);
    }
    if (op === 'Dropout') loaderNotes.push(`Dropout node ${nodeLabel(n, i)} treated as identity (inference).`);
    handle(g, n, i);
  }

  const b = g.builder;
  if (!b || b.layers.length === 0) throw unsupported(fileName, 'the graph has no Conv, ConvTranspose, Gemm or MatMul layer, so there is nothing for DTD to explain.');
  const out = g.values.get(outputName);
  if (!out || out.kind !== 'data') throw unsupported(fileName, `the graph output ${quoteName(outputName)} does not depend on input ${quoteName(inputName)}.`);
  if (out.pad) throw unsupported(fileName, `Pad node ${quoteName(out.pad.node)} is not followed by a Conv.`);
  if (out.ref !== b.layers.length) {
    throw unsupported(fileName, `the graph output ${quoteName(outputName)} is not the last layer computed (${b.layers.length - out.ref} layer(s) after it lead nowhere); DTD Lens explains graphs whose every branch reaches the output.`);
  }
  const net = b.build('onnx', out.selection ?? null);
  if (folded.size > 0) {
    const total = [...folded.values()].reduce((a, c) => a + c, 0);
    const list = [...folded].map(([op, c]) => (c > 1 ? `${op} ×${c}` : op)).join(', ');
    net.notes.push(
      `${total} constant node${total === 1 ? '' : 's'} (${list}) folded into constants: computed once in float64${shapeOfData ? ', with the batch dimension taken as 1' : ''}.`,
    );
  }
  net.notes.unshift(...loaderNotes);
  return net;
}
