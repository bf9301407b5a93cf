// Keras layer configs (TensorFlow.js Layers model.json, Keras .keras config.json,
// legacy .h5 model_config) → the graph IR through NetworkBuilder. Keras is
// channels-last (NHWC); the IR is NCHW flattened C-major, so:
//   * an input [H, W, C] becomes inputShape [C, H, W] (inputs are given/decoded as CHW);
//     an input [H, W] (no channel axis, e.g. the MNIST tutorial's Flatten(input_shape=(28, 28)))
//     becomes a one-channel image [1, H, W] (the same row-major values); [features] stays a vector;
//   * Conv2D kernels [kh, kw, in, out] (HWIO) are transposed to [out, in, kh, kw] (OIHW);
//     DepthwiseConv2D kernels [kh, kw, C, M] become a grouped conv (groups = C, output c·M + m);
//     SeparableConv2D is that depthwise conv followed by a 1×1 pointwise conv (two IR layers);
//   * a flat vector remembers, per Keras feature, where the IR keeps it (`perm`): a Flatten of
//     [H, W, C] data orders features h·W·C + w·C + c while the IR keeps c·H·W + h·W + w, so the
//     next Dense's kernel rows (or a BatchNorm's parameters, a Concatenate's blocks) are permuted;
//   * a Reshape of a flat vector to [H, W, C] reorders nothing in Keras but would in the IR: it
//     is supported when the order does not change (C = 1, H·W = 1, or undoing a Flatten), and
//     right after a Dense read by nothing else (its output units are reordered to channels-first);
//   * "same" padding is TensorFlow's: total max((⌈n/s⌉ − 1)·s + (k − 1)·d + 1 − n, 0), the extra
//     pixel at the end (bottom/right); ZeroPadding2D is merged into the next convolution.
// Sequential models (the {layers: [...]} config and the list form of Keras ≤ 2.1 / early
// tfjs-layers) and Functional models (inbound_nodes of Keras 2, tfjs-layers and Keras 3: a
// DAG with Add / Concatenate joins; one input, one output, no shared layers).

import type { Activation, ActivationParams, Network, Shape3 } from '../network';
import { NetworkBuilder, type Pad4, type TensorRef, unsupportedList } from './builder';
import { badModel, unsupported } from './common';
import { escapeName, LIMITS, quoteName, quoteNames } from '../../protocol';

export const SUPPORTED_KERAS_LAYERS = [
  'InputLayer', 'Dense', 'Conv2D', 'DepthwiseConv2D', 'SeparableConv2D', 'ZeroPadding2D (before a conv)', 'MaxPooling2D', 'AveragePooling2D',
  'GlobalAveragePooling2D', 'GlobalMaxPooling2D', 'Flatten', 'Reshape', 'Dropout', 'BatchNormalization', 'Add', 'Concatenate (channels)',
  'Activation (relu, relu6, leaky_relu, elu, tanh, sigmoid; softmax/sigmoid last)', 'ReLU (max_value, negative_slope)', 'LeakyReLU', 'PReLU', 'ELU', 'Softmax (last)',
] as const;

/** Layers that make no IR layer: their output is (a view of) their input. */
const PASS_THROUGH = new Set(['InputLayer', 'Dropout', 'SpatialDropout1D', 'SpatialDropout2D', 'GaussianNoise', 'GaussianDropout', 'AlphaDropout', 'ActivityRegularization', 'Flatten', 'Reshape', 'ZeroPadding2D']);

const LAYER_CLASSES = new Set([
  ...PASS_THROUGH, 'Dense', 'Conv2D', 'Convolution2D', 'DepthwiseConv2D', 'SeparableConv2D', 'SeparableConvolution2D', 'MaxPooling2D', 'MaxPool2D', 'AveragePooling2D', 'AvgPool2D',
  'GlobalAveragePooling2D', 'GlobalAvgPool2D', 'GlobalMaxPooling2D', 'GlobalMaxPool2D', 'BatchNormalization', 'Activation', 'ReLU', 'LeakyReLU', 'PReLU', 'ELU', 'Softmax',
  'Add', 'Concatenate',
]);

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

export interface KerasWeight {
  shape: number[];
  values: Float64Array;
}

/** (layer name, variable: kernel | bias | gamma | beta | moving_mean | moving_variance | depthwise_kernel | pointwise_kernel | alpha, position) → weight. */
export type KerasWeightLookup = (layer: string, variable: string, index: number) => KerasWeight | undefined;

export interface KerasLayer {
  className: string;
  name: string;
  config: Obj;
  /** The layers whose outputs this layer reads, in order ([] = the model input). */
  inbound: string[];
}

export interface KerasModel {
  modelClass: string;
  /** In the file's order. */
  layers: KerasLayer[];
  /** The layer whose output is the model's output. */
  output: string;
  /** Problems found while reading the graph (shared layers, several inputs/outputs, ...), reported with the layer problems. */
  graphProblems: string[];
}

/** The layers of a Sequential or Functional model and how they are connected. */
export function kerasModelOf(modelConfig: unknown, fileName: string): KerasModel {
  let top = modelConfig;
  if (isObj(top) && isObj(top.model_config)) top = top.model_config; // tfjs converter / h5 wrapper
  if (!isObj(top) || typeof top.class_name !== 'string' || !(isObj(top.config) || Array.isArray(top.config))) {
    throw badModel(fileName, 'has no Keras model config (expected {"class_name": "Sequential" or "Functional", "config": {"layers": [...]}}).');
  }
  const modelClass = top.class_name;
  const cfg = top.config;
  // Keras ≤ 2.1 and early tfjs-layers: a Sequential's config is the list of layers itself.
  const raw = Array.isArray(cfg) ? cfg : Array.isArray(cfg.layers) ? cfg.layers : null;
  if (!raw || !raw.every(isObj)) throw badModel(fileName, `the ${escapeName(modelClass)} config has no "layers" list.`);
  const names = new Set<string>();
  const layers: KerasLayer[] = (raw as Obj[]).map((l, i) => {
    const config = isObj(l.config) ? l.config : {};
    const name = typeof config.name === 'string' ? config.name : typeof l.name === 'string' ? l.name : `layer${i}`;
    if (names.has(name)) throw badModel(fileName, `has two layers named ${quoteName(name)}.`);
    names.add(name);
    return { className: String(l.class_name), name, config, inbound: [] };
  });
  if (layers.length === 0) throw unsupported(fileName, 'the model has no layers, so there is nothing for DTD to explain.');
  const graphProblems: string[] = [];
  if (modelClass === 'Sequential') {
    layers.forEach((l, i) => (l.inbound = i === 0 ? [] : [layers[i - 1].name]));
    return { modelClass, layers, output: layers[layers.length - 1].name, graphProblems };
  }
  if (modelClass !== 'Model' && modelClass !== 'Functional') {
    throw badModel(fileName, `the model class ${quoteName(modelClass)} is not a Keras Sequential or Functional model.`);
  }
  (raw as Obj[]).forEach((l, i) => {
    const layer = layers[i];
    const nodes = Array.isArray(l.inbound_nodes) ? l.inbound_nodes : [];
    if (nodes.length > 1) graphProblems.push(`layer ${quoteName(layer.name)} is called ${nodes.length} times (shared layers are not supported)`);
    const refs = nodes.length ? inboundRefs(nodes[0], (p) => badModel(fileName, `layer ${quoteName(layer.name)}: ${p}`)) : [];
    for (const r of refs) {
      if (!names.has(r.layer)) throw badModel(fileName, `layer ${quoteName(layer.name)} reads the unknown layer ${quoteName(r.layer)}.`);
      if (r.node !== 0 || r.tensor !== 0) graphProblems.push(`layer ${quoteName(layer.name)} reads output ${r.tensor} of call ${r.node} of ${quoteName(r.layer)} (shared or multi-output layers are not supported)`);
    }
    layer.inbound = refs.map((r) => r.layer);
    if (!layer.inbound.length && layer.className !== 'InputLayer') graphProblems.push(`layer ${quoteName(layer.name)} reads no tensor`);
  });
  const inputs = layers.filter((l) => l.className === 'InputLayer');
  if (inputs.length !== 1) graphProblems.push(`the model has ${inputs.length} inputs (${quoteNames(inputs.map((l) => l.name))}); DTD Lens explains models with one input`);
  const outs = refList(isObj(cfg) ? cfg.output_layers : undefined);
  if (outs.length > 1) graphProblems.push(`the model has ${outs.length} outputs (${quoteNames(outs)}); DTD Lens explains models with one output`);
  const output = outs[0] ?? layers[layers.length - 1].name;
  if (!names.has(output)) throw badModel(fileName, `names the unknown output layer ${quoteName(output)}.`);
  return { modelClass, layers, output, graphProblems };
}

/** [[name, 0, 0], ...] or [name, 0, 0] (output_layers / input_layers) → layer names. */
function refList(v: unknown): string[] {
  if (!Array.isArray(v)) return [];
  if (typeof v[0] === 'string') return [v[0]];
  return v.filter((x): x is unknown[] => Array.isArray(x) && typeof x[0] === 'string').map((x) => x[0] as string);
}

interface InboundRef {
  layer: string;
  node: number;
  tensor: number;
}

/**
 * The tensors one call of a layer reads, in order: Keras 2 / tfjs-layers `[[name, node, tensor, kwargs], ...]`,
 * Keras 3 `{args: [...keras tensors with keras_history...], kwargs}`. Iterative and at most LIMITS.jsonDepth
 * levels deep (a config reaches here parsed, possibly from an HDF5 attribute, so its depth is checked again).
 */
function inboundRefs(node: unknown, fail: (problem: string) => Error): InboundRef[] {
  const out: InboundRef[] = [];
  const start = isObj(node) && 'args' in node ? node.args : node;
  const stack: { v: unknown; depth: number }[] = [{ v: start, depth: 0 }];
  while (stack.length > 0) {
    const { v, depth } = stack.pop()!;
    if (depth > LIMITS.jsonDepth) throw fail(`its inbound_nodes are nested more than ${LIMITS.jsonDepth} levels deep; refused (hostile or corrupt).`);
    if (Array.isArray(v)) {
      if (v.length >= 3 && typeof v[0] === 'string' && typeof v[1] === 'number' && typeof v[2] === 'number') out.push({ layer: v[0], node: v[1], tensor: v[2] });
      else for (let i = v.length - 1; i >= 0; i--) stack.push({ v: v[i], depth: depth + 1 });
    } else if (isObj(v)) {
      const h = isObj(v.config) ? v.config.keras_history : v.keras_history;
      if (Array.isArray(h) && typeof h[0] === 'string') out.push({ layer: h[0], node: typeof h[1] === 'number' ? h[1] : 0, tensor: typeof h[2] === 'number' ? h[2] : 0 });
    }
  }
  return out;
}

function pairOf(v: unknown, dflt: [number, number]): [number, number] {
  if (typeof v === 'number') return [v, v];
  if (Array.isArray(v) && v.length === 2 && v.every((x) => typeof x === 'number')) return [v[0], v[1]];
  return dflt;
}

function samePads(inHW: [number, number], kernel: [number, number], stride: [number, number], dilation: [number, number]): Pad4 {
  const p = [0, 1].map((a) => {
    const out = Math.ceil(inHW[a] / stride[a]);
    const total = Math.max((out - 1) * stride[a] + (kernel[a] - 1) * dilation[a] + 1 - inHW[a], 0);
    return [Math.floor(total / 2), total - Math.floor(total / 2)];
  });
  return [p[0][0], p[1][0], p[0][1], p[1][1]];
}

function activationName(c: Obj): string {
  const a = c.activation;
  if (a === undefined || a === null) return 'linear';
  if (typeof a === 'string') return a;
  if (isObj(a) && typeof a.class_name === 'string') return isObj(a.config) && typeof a.config.name === 'string' ? a.config.name : a.class_name; // Keras 3 serialised function
  return String(a);
}

type ActSpec = { act: Activation; params?: ActivationParams } | { final: 'Softmax' | 'Sigmoid' } | { problem: string };

/** A Keras activation name → the IR's activation, a final op that is dropped, or why it is refused. */
function activationSpec(name: string, isFinal: boolean): ActSpec {
  switch (name) {
    case 'linear':
      return { act: 'linear' };
    case 'relu':
      return { act: 'relu' };
    case 'relu6':
      return { act: 'clip', params: { min: 0, max: 6 } };
    case 'leaky_relu':
      return { act: 'leakyrelu', params: { alpha: 0.2 } };
    case 'elu':
      return { act: 'elu', params: { alpha: 1 } };
    case 'tanh':
      return { act: 'tanh' };
    case 'sigmoid':
      return isFinal ? { final: 'Sigmoid' } : { act: 'sigmoid' };
    case 'softmax':
      return isFinal ? { final: 'Softmax' } : { problem: "with activation 'softmax' before the last layer" };
    default:
      return { problem: `with activation ${quoteName(name)}` };
  }
}

/** The activation a whole layer (Activation, ReLU, LeakyReLU, ELU, Softmax) applies; PReLU is handled with its weights. */
function layerActivation(l: KerasLayer, isFinal: boolean): ActSpec | null {
  const c = l.config;
  const num = (v: unknown, d: number) => (typeof v === 'number' ? v : d);
  switch (l.className) {
    case 'Activation':
      return activationSpec(activationName(c), isFinal);
    case 'ReLU': {
      const max = c.max_value ?? null, slope = num(c.negative_slope, 0), threshold = num(c.threshold, 0);
      if (threshold !== 0) return { problem: 'with a threshold' };
      if (max !== null && typeof max !== 'number') return { problem: `with max_value ${JSON.stringify(max)}` };
      if (max !== null && slope !== 0) return { problem: 'with both max_value and negative_slope' };
      if (max !== null) return { act: 'clip', params: { min: 0, max } };
      return slope !== 0 ? { act: 'leakyrelu', params: { alpha: slope } } : { act: 'relu' };
    }
    case 'LeakyReLU':
      return { act: 'leakyrelu', params: { alpha: num(c.alpha, num(c.negative_slope, 0.3)) } };
    case 'ELU':
      return { act: 'elu', params: { alpha: num(c.alpha, 1) } };
    case 'Softmax':
      return isFinal ? { final: 'Softmax' } : { problem: 'before the last layer' };
    default:
      return activationName(c) === 'linear' || !('activation' in c) ? null : activationSpec(activationName(c), isFinal);
  }
}

/** Layer name → the layers that read it (a layer reading one tensor twice counts twice). */
function consumersOf(layers: KerasLayer[]): Map<string, KerasLayer[]> {
  const m = new Map<string, KerasLayer[]>();
  for (const l of layers) {
    for (const src of l.inbound) {
      const list = m.get(src);
      if (list) list.push(l);
      else m.set(src, [l]);
    }
  }
  return m;
}

/** The ancestors of the output, in an order where every layer follows the layers it reads. */
function buildOrder(model: KerasModel, fileName: string): KerasLayer[] {
  const byName = new Map(model.layers.map((l) => [l.name, l]));
  const needed = new Set<string>();
  const stack = [model.output];
  while (stack.length) {
    const n = stack.pop()!;
    if (needed.has(n)) continue;
    needed.add(n);
    for (const s of byName.get(n)!.inbound) stack.push(s);
  }
  // Kahn's algorithm over the needed layers (file order among the ready ones).
  const waiting = new Map<string, number>();
  const readers = new Map<string, KerasLayer[]>();
  const queue: KerasLayer[] = [];
  for (const l of model.layers) {
    if (!needed.has(l.name)) continue;
    waiting.set(l.name, l.inbound.length);
    if (l.inbound.length === 0) queue.push(l);
    for (const s of l.inbound) {
      const list = readers.get(s);
      if (list) list.push(l);
      else readers.set(s, [l]);
    }
  }
  const order: KerasLayer[] = [];
  for (let q = 0; q < queue.length; q++) {
    const l = queue[q];
    order.push(l);
    for (const r of readers.get(l.name) ?? []) {
      const left = waiting.get(r.name)! - 1;
      waiting.set(r.name, left);
      if (left === 0) queue.push(r);
    }
  }
  if (order.length < needed.size) throw badModel(fileName, 'its layers read each other in a cycle (not a Keras model graph).');
  return order;
}

/** Whether a layer's output is the model output, possibly through pass-through layers, and read by nothing else. */
function finalLayers(model: KerasModel, order: KerasLayer[]): Set<string> {
  const consumers = consumersOf(order);
  const out = new Set<string>();
  for (let i = order.length - 1; i >= 0; i--) {
    const l = order[i];
    const cs = consumers.get(l.name) ?? [];
    if (l.name === model.output ? cs.length === 0 : cs.length === 1 && PASS_THROUGH.has(cs[0].className) && cs[0].className !== 'ZeroPadding2D' && out.has(cs[0].name)) out.add(l.name);
  }
  return out;
}

function inputDims(l: KerasLayer): unknown[] | null {
  const s = l.config.batch_input_shape ?? l.config.batch_shape ?? l.config.batchInputShape;
  return Array.isArray(s) ? s.slice(1) : Array.isArray(l.config.input_shape) ? l.config.input_shape : null;
}

/** Every unsupported layer, activation or option, for the up-front message. */
function problems(model: KerasModel, order: KerasLayer[]): string[] {
  const out: string[] = [];
  const finals = finalLayers(model, order);
  for (const l of order) {
    const c = l.config;
    const label = `layer ${quoteName(l.name)} (${escapeName(l.className)})`;
    if (!LAYER_CLASSES.has(l.className)) {
      out.push(label);
      continue;
    }
    const spec = layerActivation(l, finals.has(l.name));
    if (spec && 'problem' in spec) out.push(`${label} ${spec.problem}`);
    if (c.data_format !== undefined && c.data_format !== null && c.data_format !== 'channels_last') out.push(`${label} with data_format ${quoteName(String(c.data_format))}`);
    if (l.className === 'BatchNormalization') {
      const axis = Array.isArray(c.axis) && c.axis.length === 1 ? c.axis[0] : c.axis;
      if (![-1, 1, 3, undefined].includes(axis as number | undefined)) out.push(`${label} on axis ${JSON.stringify(c.axis)} (only the channel axis)`);
    }
    if (l.className === 'Concatenate' && ![-1, 1, 3, undefined].includes(c.axis as number | undefined)) out.push(`${label} on axis ${JSON.stringify(c.axis)} (only the channel axis, -1)`);
    if (isObj(c.dtype) && c.dtype.class_name === 'DTypePolicy' && isObj(c.dtype.config) && String(c.dtype.config.name).startsWith('int')) out.push(`${label} quantized`);
  }
  return out;
}

/** Refuses unsupported layers/activations/options and graph shapes, all in one message, before any weight is read. */
export function checkKerasModel(model: KerasModel, fileName: string): void {
  const bad = [...model.graphProblems, ...problems(model, buildOrder(model, fileName))];
  if (bad.length) throw unsupportedList(fileName, bad, SUPPORTED_KERAS_LAYERS);
}

/** A Keras tensor during the build: the IR tensor holding it, its Keras shape (batch dropped), where a flat vector's features are, and pending zero padding. */
interface KT {
  ref: TensorRef;
  /** [H, W, C], [H, W] or [features]. */
  kshape: number[];
  /** Flat vectors only: perm[r] = the IR position of Keras feature r (null: the same order). */
  perm: Int32Array | null;
  /** A ZeroPadding2D not applied yet: [top, left, bottom, right] (merged into the next convolution). */
  pad: Pad4 | null;
}

/** The IR view of a Keras shape: [H, W, C] → [C, H, W], [H, W] → [1, H, W], [n] → flat. */
function viewOf(kshape: number[]): Shape3 | null {
  if (kshape.length === 3) return [kshape[2], kshape[0], kshape[1]];
  if (kshape.length === 2) return [1, kshape[0], kshape[1]];
  return null;
}

const sizeOfShape = (s: number[]) => s.reduce((a, b) => a * b, 1);

/** Where the IR keeps feature r of a channels-last [H, W, C] tensor read in Keras (row-major NHWC) order; null when the orders agree. */
function nhwcPerm(kshape: number[]): Int32Array | null {
  if (kshape.length !== 3) return null;
  const [H, W, C] = kshape;
  if (C === 1 || H * W === 1) return null;
  const p = new Int32Array(H * W * C);
  for (let h = 0; h < H; h++) for (let w = 0; w < W; w++) for (let c = 0; c < C; c++) p[(h * W + w) * C + c] = c * H * W + h * W + w;
  return p;
}

function samePerm(a: Int32Array | null, b: Int32Array | null): boolean {
  if (!a || !b) return !a && !b;
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/** Values in Keras feature order → IR order. */
function toIr(values: Float64Array, perm: Int32Array | null): Float64Array {
  if (!perm) return values;
  const out = new Float64Array(values.length);
  for (let r = 0; r < values.length; r++) out[perm[r]] = values[r];
  return out;
}

/** Builds the IR from a Keras model and a weight lookup (format: 'tfjs' | 'keras'). */
export function networkFromKerasModel(model: KerasModel, weights: KerasWeightLookup, fileName: string, format: string): Network {
  checkKerasModel(model, fileName);
  const order = buildOrder(model, fileName);
  const finals = finalLayers(model, order);
  const consumers = consumersOf(order);
  const byName = new Map(order.map((x) => [x.name, x]));
  const first = order[0];
  const dims = inputDims(first);
  if (!dims || !dims.every((d) => Number.isSafeInteger(d) && (d as number) > 0)) {
    throw badModel(fileName, 'the first layer does not give a complete input shape (batch_input_shape / batch_shape with known H, W, C or features).');
  }
  const inDims = dims as number[];
  if (inDims.length < 1 || inDims.length > 3) throw badModel(fileName, `the input shape [${inDims.join(', ')}] is not [H, W, C], [H, W] or [features]; DTD Lens reads images and vectors.`);
  const inView = viewOf(inDims);
  const b = new NetworkBuilder(fileName, inView ?? inDims[0]);
  const tensors = new Map<string, KT>();
  const input: KT = { ref: 0, kshape: [...inDims], perm: null, pad: null };

  const need = (l: KerasLayer, variable: string, index: number): KerasWeight => {
    const w = weights(l.name, variable, index);
    if (!w) throw badModel(fileName, `layer ${quoteName(l.name)} has no ${quoteName(variable)} weight in the weights file.`);
    return w;
  };
  const describe = (l: KerasLayer) => `${escapeName(l.className)} ${quoteName(l.name)}`;
  /** Makes kt the builder's current tensor, viewed with kt's shape. */
  const enter = (kt: KT, l: KerasLayer) => {
    b.use(kt.ref);
    const rec = b.shapeOf(kt.ref);
    const v = viewOf(kt.kshape);
    if (!v) {
      if (rec) b.flatten();
    } else if (!rec || rec.some((d, i) => d !== v[i])) b.reshape(l.name, v);
  };
  /** Whether nothing but this layer reads kt's IR tensor (so an activation or BatchNorm may fuse into its producer). */
  const exclusive = (l: KerasLayer): boolean => {
    let src = l.inbound[0];
    // Through pass-through layers to the layer that made the IR tensor; each must have one reader.
    for (;;) {
      if (src === undefined) return false;
      if (src === model.output || (consumers.get(src) ?? []).length !== 1) return false;
      const s = byName.get(src)!;
      if (!PASS_THROUGH.has(s.className) || s.className === 'InputLayer') return true;
      src = s.inbound[0];
    }
  };
  const noPad = (kt: KT, l: KerasLayer) => {
    if (kt.pad) throw unsupported(fileName, `a ZeroPadding2D is followed by ${describe(l)}; DTD Lens merges ZeroPadding2D only into the next Conv2D, DepthwiseConv2D or SeparableConv2D (or a MaxPooling2D of non-negative data).`);
  };
  const image = (kt: KT, l: KerasLayer): [number, number, number] => {
    if (kt.kshape.length !== 3) throw unsupported(fileName, `${describe(l)} reads data of shape [${kt.kshape.join(', ')}]; it needs [H, W, C] images${kt.kshape.length === 2 ? ' (1-D convolutions and pooling over [steps, features] are not supported)' : ' (add a Reshape or use an image input)'}.`);
    return kt.kshape as [number, number, number];
  };
  const applyActivation = (l: KerasLayer, spec: ActSpec | null, excl: boolean) => {
    if (!spec) return;
    if ('problem' in spec) throw unsupportedList(fileName, [`layer ${quoteName(l.name)} (${escapeName(l.className)}) ${spec.problem}`], SUPPORTED_KERAS_LAYERS);
    if ('final' in spec) {
      b.finalSoftmax(l.name, spec.final);
      return;
    }
    b.activation(l.name, spec.act, spec.params, excl);
  };
  /** Conv geometry with a pending ZeroPadding2D merged and TF's "same" padding (computed on the padded size). */
  const convGeometry = (kt: KT, l: KerasLayer, kernel: [number, number]) => {
    const [H, W] = image(kt, l);
    const c = l.config;
    const stride = pairOf(c.strides, [1, 1]);
    const dilation = pairOf(c.dilation_rate, [1, 1]);
    const pend = kt.pad ?? [0, 0, 0, 0];
    if (c.padding !== 'same' && c.padding !== 'valid' && c.padding !== undefined) throw badModel(fileName, `${describe(l)} has padding ${JSON.stringify(c.padding)}.`);
    const padding: Pad4 = c.padding === 'same' ? samePads([H + pend[0] + pend[2], W + pend[1] + pend[3]], kernel, stride, dilation) : [0, 0, 0, 0];
    for (let q = 0; q < 4; q++) padding[q] += pend[q];
    return { stride, dilation, padding };
  };
  const biasOf = (l: KerasLayer, index: number) => (l.config.use_bias === false ? null : Float64Array.from(need(l, 'bias', index).values));
  const outKt = (kshape: number[], perm: Int32Array | null = null): KT => ({ ref: b.current, kshape, perm, pad: null });

  for (const l of order) {
    const c = l.config;
    const ins = l.inbound.map((s) => tensors.get(s)!);
    const x = ins[0] ?? input;
    const spec = layerActivation(l, finals.has(l.name));
    let out: KT;
    switch (l.className) {
      case 'InputLayer':
      case 'Dropout':
      case 'SpatialDropout1D':
      case 'SpatialDropout2D':
      case 'GaussianNoise':
      case 'GaussianDropout':
      case 'AlphaDropout':
      case 'ActivityRegularization':
        out = x;
        break;
      case 'ZeroPadding2D': {
        image(x, l);
        const p = c.padding;
        let pads: Pad4;
        if (typeof p === 'number') pads = [p, p, p, p];
        else if (Array.isArray(p) && p.length === 2 && p.every((v) => typeof v === 'number')) pads = [p[0], p[1], p[0], p[1]];
        else if (Array.isArray(p) && p.length === 2 && p.every((v) => Array.isArray(v) && v.length === 2 && v.every((n) => typeof n === 'number'))) pads = [p[0][0], p[1][0], p[0][1], p[1][1]];
        else throw badModel(fileName, `ZeroPadding2D ${quoteName(l.name)} has padding ${JSON.stringify(p)}.`);
        if (!pads.every((v) => Number.isSafeInteger(v) && v >= 0)) throw badModel(fileName, `ZeroPadding2D ${quoteName(l.name)} has padding ${JSON.stringify(p)}.`);
        const prev = x.pad ?? [0, 0, 0, 0];
        // kshape stays the unpadded shape of the IR tensor; the padding waits for the next convolution.
        out = { ...x, pad: prev.map((v, q) => v + pads[q]) as Pad4 };
        break;
      }
      case 'Flatten':
      case 'Reshape': {
        noPad(x, l);
        const size = sizeOfShape(x.kshape);
        let target: number[];
        if (l.className === 'Flatten') target = [size];
        else {
          const t = c.target_shape ?? c.targetShape;
          if (!Array.isArray(t) || !t.every((d) => Number.isSafeInteger(d) && (d > 0 || d === -1)) || t.filter((d) => d === -1).length > 1) throw badModel(fileName, `Reshape ${quoteName(l.name)} has target_shape ${JSON.stringify(t)}.`);
          const known = sizeOfShape((t as number[]).filter((d) => d !== -1));
          target = (t as number[]).map((d) => (d === -1 ? size / known : d));
          if (!target.every((d) => Number.isSafeInteger(d) && d > 0) || sizeOfShape(target) !== size) throw badModel(fileName, `Reshape ${quoteName(l.name)} to [${(t as number[]).join(', ')}] does not keep the ${size} values of its input [${x.kshape.join(', ')}].`);
          if (target.length > 3) throw unsupported(fileName, `Reshape ${quoteName(l.name)} to [${target.join(', ')}] makes a tensor of rank ${target.length}; DTD Lens reads [H, W, C] images and vectors.`);
        }
        // Where the IR keeps Keras feature r (row-major over the Keras shape) of the input and of the output.
        const inPerm = x.kshape.length === 1 ? x.perm : nhwcPerm(x.kshape);
        if (target.length === 1) {
          out = { ref: x.ref, kshape: target, perm: inPerm, pad: null };
          break;
        }
        const outPerm = nhwcPerm(target);
        if (!samePerm(inPerm, outPerm)) {
          const producer = x.ref > 0 ? b.layers[x.ref - 1] : null;
          if (!(producer && producer.kind === 'dense' && exclusive(l) && x.kshape.length === 1 && !inPerm && !producer.activationParams?.slopes)) {
            throw unsupported(fileName, `Reshape ${quoteName(l.name)} turns [${x.kshape.join(', ')}] into channels-last [${target.join(', ')}], which reorders the values in DTD Lens' channels-first layout; it is supported right after a Dense layer (whose units are then reordered) or when the order does not change (one channel, or undoing a Flatten).`);
          }
          // Dense unit r (Keras feature r of the reshaped tensor) moves to the IR position outPerm[r].
          const n = producer.outFeatures, I = producer.inFeatures;
          const weight = new Float64Array(producer.weight.length), bias = new Float64Array(n);
          for (let r = 0; r < n; r++) {
            const j = outPerm![r];
            weight.set(producer.weight.subarray(r * I, (r + 1) * I), j * I);
            bias[j] = producer.bias[r];
          }
          producer.weight = weight;
          producer.bias = bias;
          b.notes.push(`Reshape ${quoteName(l.name)} to channels-last [${target.join(', ')}]: the output units of Dense ${quoteName(producer.name)} were reordered to DTD Lens' channels-first layout [${viewOf(target)!.join(', ')}].`);
        }
        out = { ref: x.ref, kshape: target, perm: null, pad: null };
        break;
      }
      case 'Dense': {
        noPad(x, l);
        if (x.kshape.length !== 1) throw unsupported(fileName, `Dense ${quoteName(l.name)} reads data of shape [${x.kshape.join(', ')}] and would apply to its last axis only; DTD Lens needs a Flatten before a Dense.`);
        enter(x, l);
        const k = need(l, 'kernel', 0);
        if (k.shape.length !== 2) throw badModel(fileName, `Dense ${quoteName(l.name)} has a kernel of shape [${k.shape.join(', ')}], not [in, out].`);
        const [I, O] = k.shape;
        if (I !== x.kshape[0]) throw badModel(fileName, `Dense ${quoteName(l.name)} has a kernel for ${I} inputs but reads ${x.kshape[0]} values.`);
        const weight = new Float64Array(O * I);
        // Row r of the Keras kernel multiplies Keras feature r; put it at the IR's position of that feature.
        for (let r = 0; r < I; r++) {
          const j = x.perm ? x.perm[r] : r;
          for (let o = 0; o < O; o++) weight[o * I + j] = k.values[r * O + o];
        }
        b.dense(l.name, weight, biasOf(l, 1), O, I);
        applyActivation(l, spec, true);
        out = outKt([O]);
        break;
      }
      case 'Conv2D':
      case 'Convolution2D': {
        const [, , C] = image(x, l);
        const k = need(l, 'kernel', 0);
        if (k.shape.length !== 4) throw badModel(fileName, `Conv2D ${quoteName(l.name)} has a kernel of shape [${k.shape.join(', ')}], not [kh, kw, in, out].`);
        const [kh, kw, I, O] = k.shape;
        const groups = I > 0 && C % I === 0 ? C / I : NaN;
        const weight = new Float64Array(O * I * kh * kw);
        for (let u = 0; u < kh; u++) for (let v = 0; v < kw; v++) for (let i = 0; i < I; i++) for (let o = 0; o < O; o++) {
          weight[((o * I + i) * kh + u) * kw + v] = k.values[((u * kw + v) * I + i) * O + o];
        }
        const g = convGeometry(x, l, [kh, kw]);
        enter(x, l);
        b.conv2d(l.name, { weight, bias: biasOf(l, 1), outChannels: O, kernel: [kh, kw], ...g, ...(groups > 1 ? { groups } : {}) });
        applyActivation(l, spec, true);
        out = outKt(outShape(b.currentShape!));
        break;
      }
      case 'DepthwiseConv2D':
      case 'SeparableConv2D':
      case 'SeparableConvolution2D': {
        const [, , C] = image(x, l);
        const k = need(l, 'depthwise_kernel', 0);
        if (k.shape.length !== 4 || k.shape[2] !== C) throw badModel(fileName, `${describe(l)} has a depthwise kernel of shape [${k.shape.join(', ')}], not [kh, kw, ${C}, multiplier].`);
        const [kh, kw, , M] = k.shape;
        // Output channel c·M + m (TensorFlow's order) reads input channel c with kernel [:, :, c, m].
        const weight = new Float64Array(C * M * kh * kw);
        for (let u = 0; u < kh; u++) for (let v = 0; v < kw; v++) for (let ch = 0; ch < C; ch++) for (let m = 0; m < M; m++) {
          weight[((ch * M + m) * kh + u) * kw + v] = k.values[((u * kw + v) * C + ch) * M + m];
        }
        const g = convGeometry(x, l, [kh, kw]);
        enter(x, l);
        const separable = l.className !== 'DepthwiseConv2D';
        b.conv2d(separable ? `${l.name}/depthwise` : l.name, { weight, bias: separable ? null : biasOf(l, 1), outChannels: C * M, kernel: [kh, kw], ...g, groups: C });
        if (separable) {
          const p = need(l, 'pointwise_kernel', 1);
          if (p.shape.length !== 4 || p.shape[0] !== 1 || p.shape[1] !== 1 || p.shape[2] !== C * M) throw badModel(fileName, `${describe(l)} has a pointwise kernel of shape [${p.shape.join(', ')}], not [1, 1, ${C * M}, filters].`);
          const O = p.shape[3];
          const pw = new Float64Array(O * C * M);
          for (let i = 0; i < C * M; i++) for (let o = 0; o < O; o++) pw[o * C * M + i] = p.values[i * O + o];
          b.conv2d(l.name, { weight: pw, bias: biasOf(l, 2), outChannels: O, kernel: [1, 1], stride: [1, 1], padding: [0, 0, 0, 0], dilation: [1, 1] });
          b.notes.push(`SeparableConv2D ${quoteName(l.name)} is shown as two layers: ${quoteName(`${l.name}/depthwise`)} (a grouped convolution, one group per input channel) and the 1×1 pointwise convolution ${quoteName(l.name)}.`);
        }
        applyActivation(l, spec, true);
        out = outKt(outShape(b.currentShape!));
        break;
      }
      case 'MaxPooling2D':
      case 'MaxPool2D':
      case 'AveragePooling2D':
      case 'AvgPool2D': {
        const [H, W] = image(x, l);
        const kernel = pairOf(c.pool_size, [2, 2]);
        const stride = c.strides === null || c.strides === undefined ? kernel : pairOf(c.strides, kernel);
        const max = l.className.startsWith('Max');
        let padding: Pad4 = [0, 0, 0, 0];
        if (x.pad) {
          // Zeros never win a max over non-negative values (a ReLU's output), so the padding may be ignored as the IR's max pooling does.
          const producer = x.ref > 0 ? b.layers[x.ref - 1] : null;
          const nonNegative = producer && (producer.activation === 'relu' || (producer.activation === 'clip' && (producer.activationParams?.min ?? 0) >= 0));
          if (!max || !nonNegative || c.padding === 'same') noPad(x, l);
          padding = [...x.pad!] as Pad4;
          b.notes.push(`ZeroPadding2D before ${describe(l)} merged into the pooling: its input is non-negative (after a ReLU), so the zeros never win the maximum.`);
        } else if (c.padding === 'same') {
          // TF's average pooling leaves padding out of the mean, as the IR's does (countIncludePad false).
          padding = samePads([H, W], kernel, stride, [1, 1]);
        }
        enter(x, l);
        b.pool2d(max ? 'maxpool2d' : 'avgpool2d', l.name, kernel, stride, padding);
        out = outKt(outShape(b.currentShape!));
        break;
      }
      case 'GlobalAveragePooling2D':
      case 'GlobalAvgPool2D':
      case 'GlobalMaxPooling2D':
      case 'GlobalMaxPool2D': {
        noPad(x, l);
        const [H, W, C] = image(x, l);
        enter(x, l);
        if (l.className.includes('Max')) b.pool2d('maxpool2d', l.name, [H, W], [H, W]);
        else b.globalAvgPool(l.name);
        out = outKt(c.keepdims === true ? [1, 1, C] : [C]);
        break;
      }
      case 'BatchNormalization': {
        noPad(x, l);
        if (x.kshape.length === 2) throw unsupported(fileName, `BatchNormalization ${quoteName(l.name)} normalises the last axis of [${x.kshape.join(', ')}] data, which DTD Lens has no channel for.`);
        let idx = 0;
        const gamma = c.scale === false ? null : need(l, 'gamma', idx++).values;
        const beta = c.center === false ? null : need(l, 'beta', idx++).values;
        const mean = need(l, 'moving_mean', idx++).values;
        const variance = need(l, 'moving_variance', idx++).values;
        const eps = typeof c.epsilon === 'number' ? c.epsilon : 1e-3;
        const n = mean.length;
        const perm = x.kshape.length === 1 ? x.perm : null;
        enter(x, l);
        b.batchNorm(l.name, toIr(gamma ?? new Float64Array(n).fill(1), perm), toIr(beta ?? new Float64Array(n), perm), toIr(mean, perm), toIr(variance, perm), eps, exclusive(l));
        out = outKt([...x.kshape], x.kshape.length === 1 ? x.perm : null);
        break;
      }
      case 'Activation':
      case 'ReLU':
      case 'LeakyReLU':
      case 'ELU':
      case 'Softmax':
        noPad(x, l);
        enter(x, l);
        applyActivation(l, spec, exclusive(l));
        out = { ...x, ref: spec && 'final' in spec ? x.ref : b.current };
        break;
      case 'PReLU': {
        noPad(x, l);
        const a = need(l, 'alpha', 0);
        const slopes = preluSlopes(a, x, l);
        enter(x, l);
        b.activation(l.name, 'leakyrelu', { slopes }, exclusive(l));
        out = { ...x, ref: b.current };
        break;
      }
      case 'Add': {
        if (ins.length < 2) throw badModel(fileName, `Add ${quoteName(l.name)} has ${ins.length} input.`);
        ins.forEach((t) => noPad(t, l));
        const same = ins.every((t) => t.kshape.length === x.kshape.length && t.kshape.every((d, i) => d === x.kshape[i]));
        if (!same) throw unsupported(fileName, `Add ${quoteName(l.name)} sums tensors of shapes ${ins.map((t) => `[${t.kshape.join(', ')}]`).join(' and ')}; DTD Lens supports sums of equal shapes (no broadcasting).`);
        if (!ins.every((t) => samePerm(t.perm, x.perm))) throw unsupported(fileName, `Add ${quoteName(l.name)} sums flattened tensors whose values DTD Lens keeps in different orders.`);
        b.use(x.ref);
        b.add(l.name, ins.map((t) => t.ref));
        out = outKt([...x.kshape], x.perm);
        break;
      }
      case 'Concatenate': {
        ins.forEach((t) => noPad(t, l));
        const rank = x.kshape.length;
        if (!ins.every((t) => t.kshape.length === rank) || rank === 2) throw unsupported(fileName, `Concatenate ${quoteName(l.name)} joins tensors of shapes ${ins.map((t) => `[${t.kshape.join(', ')}]`).join(', ')}; DTD Lens concatenates [H, W, C] images along the channels or flat vectors.`);
        const axis = (c.axis ?? -1) as number;
        if (axis !== -1 && axis !== rank) throw unsupported(fileName, `Concatenate ${quoteName(l.name)} joins along axis ${axis}; DTD Lens concatenates along the channels (axis -1).`);
        if (rank === 3 && !ins.every((t) => t.kshape[0] === x.kshape[0] && t.kshape[1] === x.kshape[1])) throw badModel(fileName, `Concatenate ${quoteName(l.name)} joins maps of different sizes.`);
        for (const t of ins) {
          const rec = b.shapeOf(t.ref);
          const v = viewOf(t.kshape);
          if (rank === 3 && (!rec || rec.some((d, i) => d !== v![i]))) throw unsupported(fileName, `Concatenate ${quoteName(l.name)} reads a reshaped tensor; DTD Lens concatenates the outputs of layers as they are.`);
        }
        b.use(x.ref);
        b.concat(l.name, ins.map((t) => t.ref), rank === 1);
        let perm: Int32Array | null = null;
        const kshape = rank === 3 ? [x.kshape[0], x.kshape[1], ins.reduce((s, t) => s + t.kshape[2], 0)] : [ins.reduce((s, t) => s + t.kshape[0], 0)];
        if (rank === 1 && ins.some((t) => t.perm)) {
          perm = new Int32Array(kshape[0]);
          let off = 0;
          for (const t of ins) {
            for (let r = 0; r < t.kshape[0]; r++) perm[off + r] = off + (t.perm ? t.perm[r] : r);
            off += t.kshape[0];
          }
        }
        out = outKt(kshape, perm);
        break;
      }
      default:
        throw unsupportedList(fileName, [`layer ${quoteName(l.name)} (${escapeName(l.className)})`], SUPPORTED_KERAS_LAYERS);
    }
    tensors.set(l.name, out);
  }
  const result = tensors.get(model.output)!;
  if (result.pad) throw unsupported(fileName, 'the model ends with a ZeroPadding2D, which DTD Lens merges only into a following convolution.');
  if (result.ref !== b.layers.length && b.layers.length > 0) {
    throw unsupported(fileName, `the model output ${quoteName(model.output)} is not computed last; DTD Lens explains the output of the last layer.`);
  }
  if (result.perm || (result.kshape.length === 3 && result.kshape[2] > 1 && result.kshape[0] * result.kshape[1] > 1)) {
    b.notes.push(`The model output [${result.kshape.join(', ')}] is channels-last in Keras; DTD Lens lists its values channels-first (c·H·W + h·W + w).`);
  }
  const net = b.build(format, null, `(supported Keras layers: ${SUPPORTED_KERAS_LAYERS.join(', ')})`);
  if (inDims.length === 3) net.notes.push(`Keras models are channels-last; DTD Lens reads inputs channels-first as [C, H, W] = [${net.inputShape!.join(', ')}] (images are decoded that way).`);
  if (inDims.length === 2) net.notes.push(`The input [${inDims.join(', ')}] has no channel axis: DTD Lens reads it as a one-channel ${inDims[0]}×${inDims[1]} image [1, ${inDims.join(', ')}] (the same row-major values, so a grey image can be the input).`);
  return net;

  function outShape(s: Shape3): number[] {
    return [s[1], s[2], s[0]];
  }

  /** PReLU's alpha, broadcast over its shared axes, as one slope per IR channel (images) or per feature (vectors). */
  function preluSlopes(a: KerasWeight, x: KT, l: KerasLayer): Float64Array {
    const ks = x.kshape;
    if (a.shape.length !== ks.length || !a.shape.every((d, i) => d === 1 || d === ks[i])) throw badModel(fileName, `PReLU ${quoteName(l.name)} has alpha of shape [${a.shape.join(', ')}] for data [${ks.join(', ')}].`);
    if (ks.length === 1) return toIr(a.shape[0] === 1 ? new Float64Array(ks[0]).fill(a.values[0]) : Float64Array.from(a.values), x.perm);
    const C = ks.length === 3 ? ks[2] : 1;
    const slopes = new Float64Array(C);
    const full = new Float64Array(sizeOfShape(ks));
    // Broadcast alpha to the data's shape (row-major Keras order), then check it is constant per channel.
    const strides = a.shape.map((_, i) => sizeOfShape(a.shape.slice(i + 1)));
    for (let r = 0; r < full.length; r++) {
      let rem = r, ai = 0;
      for (let d = 0; d < ks.length; d++) {
        const span = sizeOfShape(ks.slice(d + 1));
        const idx = Math.floor(rem / span);
        rem -= idx * span;
        if (a.shape[d] !== 1) ai += idx * strides[d];
      }
      full[r] = a.values[ai];
    }
    for (let r = 0; r < full.length; r++) {
      const ch = ks.length === 3 ? r % C : 0;
      if (r < C || (ks.length !== 3 && r === 0)) slopes[ch] = full[r];
      else if (full[r] !== slopes[ch]) throw unsupported(fileName, `PReLU ${quoteName(l.name)} has a slope per pixel; DTD Lens supports one slope per channel (shared_axes=[1, 2]).`);
    }
    return slopes;
  }
}
