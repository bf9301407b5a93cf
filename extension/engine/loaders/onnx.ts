// Loader for ONNX models, decoded with onnx-proto (generated protobufjs code).
// Supported graphs are one chain of dense layers from the single input to the
// single output: Gemm, or MatMul + Add (bias), each optionally followed by Relu;
// Flatten/Identity/Dropout pass through; a Slice on the final output becomes the
// network's outputSelection. Constants come from initializers or Constant nodes.
// Everything else is refused up front with one message listing every node DTD
// Lens cannot explain (RelevancePropagation.jl-style), before any math runs.

import { onnx } from 'onnx-proto';
import type { DenseLayer, Network, OutputSelection } from '../network';
import { LoaderOptions, badModel, bfloat16ToNumber, halfToNumber, shapeSize, unsupported } from './common';

export const SUPPORTED_ONNX_OPS = ['Gemm', 'MatMul', 'Add', 'Relu', 'Flatten', 'Identity', 'Dropout', 'Slice'] as const;
/** Constant only produces values (weights, Slice bounds); it is accepted but not listed to users. */
const ACCEPTED_OPS = new Set<string>([...SUPPORTED_ONNX_OPS, 'Constant']);

const DataType = onnx.TensorProto.DataType;

interface ConstTensor {
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
  return node.name ? `'${node.name}'` : `#${index} (unnamed)`;
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
      `${what} stores its data in an external file${loc ? ` ('${loc}')` : ''}; DTD Lens reads models with all weights inside the .onnx file ` +
        `(re-export with onnx.save_model(model, path, save_as_external_data=False)).`,
    );
  }
  const dims = (t.dims ?? []).map(toInt);
  if (!dims.every((d) => Number.isSafeInteger(d) && d >= 0)) throw badModel(fileName, `${what} has invalid dimensions [${dims.join(', ')}].`);
  const size = shapeSize(dims);
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
    values = new Float64Array(size);
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
    values = new Float64Array(size);
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
        throw badModel(fileName, `is not a valid ONNX model: node ${nodeLabel(n, i)} reads '${name}', which no node, input or initializer provides.`);
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

interface PendingLayer {
  layer: DenseLayer;
  /** A Relu has been applied after it (a later Add can no longer be a bias). */
  activated: boolean;
}

export function loadOnnx(bytes: Uint8Array, fileName: string, _opts: LoaderOptions = {}): Network {
  const invalid = (reason: string) => badModel(fileName, `is not a valid ONNX model: ${reason}`);
  if (bytes.length === 0) throw invalid('the file is empty.');
  let model: onnx.ModelProto;
  try {
    model = onnx.ModelProto.decode(bytes);
  } catch (e) {
    throw invalid(`the protobuf data cannot be decoded (${(e as Error).message}); the file is truncated or not ONNX.`);
  }
  const graph = model.graph;
  if (!graph) throw invalid('it contains no graph.');
  const defaultOpset = (model.opsetImport ?? []).find((o) => !o.domain || o.domain === 'ai.onnx');
  if (!defaultOpset) throw invalid('it declares no ONNX operator set (opset_import); the file may be truncated.');
  const opset = toInt(defaultOpset.version);
  const nodes = graph.node ?? [];
  if (nodes.length === 0) throw invalid('its graph has no nodes.');

  // 1. Refuse unsupported operators, all of them in one message.
  const bad = nodes.flatMap((n, i) =>
    ACCEPTED_OPS.has(n.opType ?? '') && (!n.domain || n.domain === 'ai.onnx')
      ? []
      : [`node ${nodeLabel(n, i)} uses operator ${n.domain && n.domain !== 'ai.onnx' ? `${n.domain}.` : ''}${n.opType || '(none)'}`],
  );
  if (bad.length > 0) {
    const list = bad.length === 1 ? bad[0] : `${bad.slice(0, -1).join(', ')} and ${bad[bad.length - 1]}`;
    throw unsupported(
      fileName,
      `${list}, which DTD Lens does not support yet (supported: ${SUPPORTED_ONNX_OPS.join(', ')}).`,
    );
  }

  // 2. Constants: initializers now, Constant nodes (and Identity of constants) as we meet them.
  const constants = new Map<string, ConstTensor>();
  const initializers = new Map<string, onnx.ITensorProto>();
  for (const t of graph.initializer ?? []) if (t.name) initializers.set(t.name, t);
  const getConst = (name: string): ConstTensor | undefined => {
    const c = constants.get(name);
    if (c) return c;
    const t = initializers.get(name);
    if (!t) return undefined;
    const decoded = decodeTensor(t, `initializer '${name}'`, fileName);
    constants.set(name, decoded);
    return decoded;
  };
  const isConst = (name: string) => constants.has(name) || initializers.has(name);

  const inputs = (graph.input ?? []).filter((v) => v.name && !initializers.has(v.name));
  if (inputs.length !== 1) {
    throw unsupported(fileName, `the graph has ${inputs.length} inputs (${inputs.map((v) => `'${v.name}'`).join(', ') || 'none'}); DTD Lens explains models with exactly one input.`);
  }
  const outputs = graph.output ?? [];
  if (outputs.length !== 1 || !outputs[0].name) {
    throw unsupported(fileName, `the graph has ${outputs.length} outputs; DTD Lens explains models with exactly one output.`);
  }
  const inputName = inputs[0].name!;
  const outputName = outputs[0].name;

  const consumers = new Map<string, number>();
  for (const n of nodes) for (const name of n.input ?? []) if (name) consumers.set(name, (consumers.get(name) ?? 0) + 1);

  // 3. Walk the chain from the input in topological order.
  const order = topologicalOrder(nodes, new Set([inputName, ...initializers.keys()]), fileName);
  const layers: DenseLayer[] = [];
  const notes: string[] = [];
  let pending: PendingLayer | null = null;
  let current = inputName;
  let selection: OutputSelection | null = null;
  let width = Number.NaN; // width of `current` once a layer is known

  const chainError = (n: onnx.INodeProto, i: number, why: string) =>
    unsupported(fileName, `node ${nodeLabel(n, i)} (${n.opType}) ${why}; DTD Lens supports one chain of dense layers (Gemm, or MatMul + Add, each optionally followed by Relu).`);

  const newLayer = (n: onnx.INodeProto, i: number, weight: Float64Array, outF: number, inF: number, bias: Float64Array) => {
    if (selection) throw chainError(n, i, 'follows a Slice; Slice is supported only on the final output');
    if (layers.length > 0 && width !== inF) {
      throw badModel(fileName, `node ${nodeLabel(n, i)} expects ${inF} inputs but the previous layer gives ${width}.`);
    }
    const layer: DenseLayer = {
      kind: 'dense', name: layerName(n, layers.length + 1), inFeatures: inF, outFeatures: outF, weight, bias, activation: 'linear',
    };
    layers.push(layer);
    pending = { layer, activated: false };
    width = outF;
  };

  /** Bias vector of length `outF` from a constant of shape [outF], [1, outF], [1] or []. */
  const biasFrom = (c: ConstTensor, outF: number, scale: number, n: onnx.INodeProto, i: number): Float64Array => {
    const bias = new Float64Array(outF);
    if (c.values.length === outF && c.dims.filter((d) => d !== 1).length <= 1) for (let k = 0; k < outF; k++) bias[k] = scale * c.values[k];
    else if (c.values.length === 1) bias.fill(scale * c.values[0]);
    else throw chainError(n, i, `adds a constant of shape [${c.dims.join(', ')}] that is not a bias for ${outF} units`);
    return bias;
  };

  for (const i of order) {
    const n = nodes[i];
    const op = n.opType!;
    const outs = n.output ?? [];
    if (op === 'Constant') {
      constants.set(outs[0], constantNodeValue(n, i, fileName));
      continue;
    }
    const dataInputs = (n.input ?? []).filter((name) => name && !isConst(name));
    if (dataInputs.length === 0) {
      if (op === 'Identity') {
        const c = getConst(n.input![0]);
        if (c) constants.set(outs[0], c);
        continue;
      }
      throw chainError(n, i, 'computes only on constants');
    }
    if (dataInputs.length > 1 || dataInputs[0] !== current) {
      throw chainError(n, i, `reads '${dataInputs.find((d) => d !== current) ?? dataInputs[0]}' where the chain is at '${current}' (a branch or skip connection)`);
    }
    if ((consumers.get(current) ?? 0) > 1) {
      throw unsupported(fileName, `tensor '${current}' feeds ${consumers.get(current)} nodes (a branch); DTD Lens supports one chain of dense layers.`);
    }
    const input0 = n.input![0];
    switch (op) {
      case 'Gemm': {
        if (input0 !== current) throw chainError(n, i, 'multiplies a constant by the data (only data × weight is supported)');
        if (intAttr(n, 'transA', 0) !== 0) throw chainError(n, i, 'has transA=1');
        const B = getConst(n.input![1]);
        if (!B || B.dims.length !== 2) throw chainError(n, i, 'needs a constant 2-D weight matrix B');
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
          const C = getConst(cName);
          if (!C) throw chainError(n, i, 'needs a constant bias C');
          bias = biasFrom(C, outF, beta, n, i);
        }
        newLayer(n, i, weight, outF, inF, bias);
        break;
      }
      case 'MatMul': {
        if (input0 !== current) throw chainError(n, i, 'multiplies a constant by the data (only data × weight is supported)');
        const B = getConst(n.input![1]);
        if (!B || B.dims.length !== 2) throw chainError(n, i, 'needs a constant 2-D weight matrix');
        const [inF, outF] = B.dims;
        const weight = new Float64Array(outF * inF);
        for (let o = 0; o < outF; o++) for (let k = 0; k < inF; k++) weight[o * inF + k] = B.values[k * outF + o];
        newLayer(n, i, weight, outF, inF, new Float64Array(outF));
        break;
      }
      case 'Add': {
        const p = pending as PendingLayer | null;
        if (!p || p.activated || selection) throw chainError(n, i, 'is supported only as the bias right after Gemm or MatMul');
        const other = (n.input ?? []).find((name) => name !== current);
        const C = other ? getConst(other) : undefined;
        if (!C) throw chainError(n, i, 'must add a constant bias');
        const add = biasFrom(C, p.layer.outFeatures, 1, n, i);
        for (let k = 0; k < add.length; k++) p.layer.bias[k] += add[k];
        break;
      }
      case 'Relu': {
        const p = pending as PendingLayer | null;
        if (!p) throw chainError(n, i, 'acts on the raw input before any layer');
        p.layer.activation = 'relu';
        p.activated = true;
        break;
      }
      case 'Flatten': {
        // [batch, ...] → [batch, features]: the engine's input is flat already.
        if (intAttr(n, 'axis', 1) !== 1) throw chainError(n, i, `flattens at axis ${intAttr(n, 'axis', 1)} (only axis 1, keeping the batch axis, is supported)`);
        break;
      }
      case 'Identity':
        break;
      case 'Dropout':
        if ((n.output ?? []).length > 1 && n.output![1] && consumers.has(n.output![1])) throw chainError(n, i, 'has its mask output used');
        notes.push(`Dropout node ${nodeLabel(n, i)} treated as identity (inference).`);
        break;
      case 'Slice': {
        if (layers.length === 0) throw chainError(n, i, 'slices the input (Slice is supported only on the final output)');
        selection = sliceSelection(n, i, opset, width, selection, getConst, fileName, chainError);
        width = selection.stop - selection.start;
        break;
      }
      default:
        throw chainError(n, i, 'is not supported');
    }
    current = outs[0];
  }
  if (layers.length === 0) throw unsupported(fileName, 'the graph has no Gemm or MatMul layer, so there is nothing for DTD to explain.');
  if (current !== outputName) {
    throw unsupported(fileName, `the chain from input '${inputName}' ends at '${current}', not at the graph output '${outputName}'.`);
  }

  // The declared input shape, when fully known, must agree with the first layer.
  const dims = inputs[0].type?.tensorType?.shape?.dim ?? [];
  const featureDims = dims.length >= 2 ? dims.slice(1) : dims;
  if (featureDims.length > 0 && featureDims.every((d) => d.dimValue !== undefined && d.dimValue !== null && !d.dimParam)) {
    const declared = shapeSize(featureDims.map((d) => toInt(d.dimValue)));
    if (declared !== layers[0].inFeatures) {
      throw badModel(fileName, `input '${inputName}' has ${declared} features but the first layer expects ${layers[0].inFeatures}.`);
    }
  }
  return {
    inputSize: layers[0].inFeatures,
    layers,
    outputSelection: selection,
    source: { format: 'onnx', file: fileName },
    notes,
  };
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
      throw unsupported(fileName, `${what} gives its value as '${a.name}', which DTD Lens does not read.`);
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
