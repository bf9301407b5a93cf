// Keras layer configs (TensorFlow.js Layers model.json, Keras .keras config.json,
// legacy .h5 model_config) → the IR. Keras is channels-last (NHWC); the IR is
// NCHW flattened C-major, so:
//   * the input [H, W, C] becomes inputShape [C, H, W] (inputs are given/decoded as CHW);
//   * Conv2D kernels [kh, kw, in, out] (HWIO) are transposed to [out, in, kh, kw] (OIHW);
//   * a Flatten of [H, W, C] data orders features h·W·C + w·C + c, so the next Dense's
//     kernel rows are permuted to the IR's c·H·W + h·W + w;
//   * "same" padding is TensorFlow's: total max((⌈n/s⌉ − 1)·s + (k − 1)·d + 1 − n, 0), the
//     extra pixel at the end (bottom/right).
// Supported: InputLayer, Dense, Conv2D, ZeroPadding2D (merged into the next Conv2D),
// MaxPooling2D, AveragePooling2D (unpadded), GlobalAveragePooling2D, Flatten, Dropout,
// BatchNormalization (folded), Activation / ReLU and activations relu, linear, softmax
// (last layer only). Sequential models, and Functional models that are one chain.

import type { Network, Shape3 } from '../network';
import { NetworkBuilder, type Pad4, unsupportedList } from './builder';
import { badModel } from './common';
import { escapeName, LIMITS, quoteName, quoteNames } from '../../protocol';

export const SUPPORTED_KERAS_LAYERS = [
  'InputLayer', 'Dense', 'Conv2D', 'ZeroPadding2D', 'MaxPooling2D', 'AveragePooling2D', 'GlobalAveragePooling2D', 'Flatten', 'Dropout',
  'BatchNormalization', 'Activation (relu, linear, softmax last)', 'ReLU',
] as const;

const LAYER_CLASSES = new Set([
  'InputLayer', 'Dense', 'Conv2D', 'Convolution2D', 'ZeroPadding2D', 'MaxPooling2D', 'MaxPool2D', 'AveragePooling2D', 'AvgPool2D',
  'GlobalAveragePooling2D', 'GlobalAvgPool2D', 'Flatten', 'Dropout', 'BatchNormalization', 'Activation', 'ReLU',
]);

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

export interface KerasWeight {
  shape: number[];
  values: Float64Array;
}

/** (layer name, variable: kernel | bias | gamma | beta | moving_mean | moving_variance) → weight. */
export type KerasWeightLookup = (layer: string, variable: string, index: number) => KerasWeight | undefined;

export interface KerasLayer {
  className: string;
  name: string;
  config: Obj;
}

/** The ordered layers of a Sequential model, or of a Functional model that is a single chain. */
export function kerasLayerChain(modelConfig: unknown, fileName: string): { layers: KerasLayer[]; modelClass: string } {
  let top = modelConfig;
  if (isObj(top) && isObj(top.model_config)) top = top.model_config; // tfjs converter / h5 wrapper
  if (!isObj(top) || typeof top.class_name !== 'string' || !isObj(top.config)) {
    throw badModel(fileName, 'has no Keras model config (expected {"class_name": "Sequential", "config": {"layers": [...]}}).');
  }
  const modelClass = top.class_name;
  const cfg = top.config;
  const raw = Array.isArray(cfg.layers) ? cfg.layers : Array.isArray(cfg) ? cfg : null; // very old Sequential: config is the list
  if (!raw || !raw.every(isObj)) throw badModel(fileName, `the ${escapeName(modelClass)} config has no "layers" list.`);
  const layers: KerasLayer[] = (raw as Obj[]).map((l, i) => {
    const config = isObj(l.config) ? l.config : {};
    const name = typeof config.name === 'string' ? config.name : typeof l.name === 'string' ? l.name : `layer${i}`;
    return { className: String(l.class_name), name, config };
  });
  if (modelClass === 'Sequential') return { layers, modelClass };
  if (modelClass !== 'Model' && modelClass !== 'Functional') {
    throw badModel(fileName, `the model class ${quoteName(modelClass)} is not a Keras Sequential or Functional model.`);
  }
  // Functional: each layer must read exactly the layer before it.
  (raw as Obj[]).forEach((l, i) => {
    const sources = new Set<string>();
    collectInbound(l.inbound_nodes, sources, (p) => badModel(fileName, `layer ${quoteName(layers[i].name)}: ${p}`));
    const expected = i === 0 ? [] : [layers[i - 1].name];
    if (sources.size !== expected.length || (expected.length && !sources.has(expected[0]))) {
      throw badModel(fileName, `layer ${quoteName(layers[i].name)} reads ${sources.size ? quoteNames([...sources]) : 'nothing'}; DTD Lens supports Functional models that are one chain of layers (each reading the one before it).`);
    }
  });
  return { layers, modelClass };
}

/**
 * Layer names referenced by inbound_nodes in the Keras 2 ([[name, 0, 0, {}]]) and Keras 3
 * (keras_history) formats. Iterative, and at most LIMITS.jsonDepth levels deep (a config
 * reaches here parsed, possibly from an HDF5 attribute, so its depth is checked again).
 */
function collectInbound(root: unknown, out: Set<string>, fail: (problem: string) => Error): void {
  const stack: { v: unknown; depth: number }[] = [{ v: root, depth: 0 }];
  while (stack.length > 0) {
    const { v, depth } = stack.pop()!;
    if (depth > LIMITS.jsonDepth) throw fail(`its inbound_nodes are nested more than ${LIMITS.jsonDepth} levels deep; refused (hostile or corrupt).`);
    if (Array.isArray(v)) {
      if (v.length >= 3 && typeof v[0] === 'string' && typeof v[1] === 'number' && typeof v[2] === 'number') out.add(v[0]);
      else for (const x of v) stack.push({ v: x, depth: depth + 1 });
    } else if (isObj(v)) {
      if (Array.isArray(v.keras_history) && typeof v.keras_history[0] === 'string') out.add(v.keras_history[0]);
      else for (const x of Object.values(v)) stack.push({ v: x, depth: depth + 1 });
    }
  }
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

function activationOf(c: Obj): string {
  const a = c.activation;
  if (a === undefined || a === null) return 'linear';
  if (typeof a === 'string') return a;
  if (isObj(a) && typeof a.class_name === 'string') return isObj(a.config) && typeof a.config.name === 'string' ? a.config.name : a.class_name; // Keras 3 serialised function
  return String(a);
}

/** Every unsupported layer, activation or option, for the up-front message. */
function problems(layers: KerasLayer[]): string[] {
  const out: string[] = [];
  layers.forEach((l, i) => {
    const c = l.config;
    const label = `layer ${quoteName(l.name)} (${escapeName(l.className)})`;
    if (!LAYER_CLASSES.has(l.className)) {
      out.push(label);
      return;
    }
    const act = activationOf(c);
    const isLast = i === layers.length - 1;
    if (!['linear', 'relu', 'softmax'].includes(act)) out.push(`${label} with activation ${quoteName(act)}`);
    else if (act === 'softmax' && !isLast) out.push(`${label} with activation 'softmax' before the last layer`);
    if (c.data_format !== undefined && c.data_format !== null && c.data_format !== 'channels_last') out.push(`${label} with data_format ${quoteName(String(c.data_format))}`);
    if (l.className.startsWith('Conv') && c.groups !== undefined && c.groups !== 1) out.push(`${label} with groups ${String(c.groups)}`);
    if (l.className === 'ReLU' && ((c.max_value ?? null) !== null || (c.negative_slope ?? 0) !== 0 || (c.threshold ?? 0) !== 0)) out.push(`${label} with max_value/negative_slope/threshold`);
    if (l.className === 'GlobalAveragePooling2D' || l.className === 'GlobalAvgPool2D') if (c.keepdims === true) out.push(`${label} with keepdims`);
    if (l.className === 'BatchNormalization' && ![-1, 3, undefined].includes(Array.isArray(c.axis) && c.axis.length === 1 ? c.axis[0] : (c.axis as number | undefined))) out.push(`${label} on axis ${JSON.stringify(c.axis)} (only the channel axis)`);
    if (l.className === 'Dense' && c.dtype !== undefined && isObj(c.dtype) && c.dtype.class_name === 'DTypePolicy' && isObj(c.dtype.config) && String(c.dtype.config.name).startsWith('int')) out.push(`${label} quantized`);
  });
  return out;
}

/** Input shape of the first layer: [H, W, C] → [C, H, W], or a feature count. */
function inputOf(layers: KerasLayer[], fileName: string): Shape3 | number {
  for (const l of layers.slice(0, 1)) {
    const s = l.config.batch_input_shape ?? l.config.batch_shape ?? l.config.batchInputShape;
    const dims = Array.isArray(s) ? s.slice(1) : Array.isArray(l.config.input_shape) ? l.config.input_shape : null;
    if (dims && dims.every((d) => Number.isSafeInteger(d) && (d as number) > 0)) {
      if (dims.length === 3) return [dims[2], dims[0], dims[1]] as Shape3;
      if (dims.length === 1) return dims[0] as number;
      throw badModel(fileName, `the input shape [${dims.join(', ')}] is neither [H, W, C] nor [features].`);
    }
  }
  throw badModel(fileName, 'the first layer does not give a complete input shape (batch_input_shape / batch_shape with known H, W, C or features).');
}

/** Refuses unsupported layers/activations/options, all in one message, before any weight is read. */
export function checkKerasLayers(layers: KerasLayer[], fileName: string): void {
  const bad = problems(layers);
  if (bad.length) throw unsupportedList(fileName, bad, SUPPORTED_KERAS_LAYERS);
}

/** Builds the IR from Keras layers and a weight lookup (format: 'tfjs' | 'keras'). */
export function networkFromKerasLayers(layers: KerasLayer[], weights: KerasWeightLookup, fileName: string, format: string): Network {
  checkKerasLayers(layers, fileName);
  const b = new NetworkBuilder(fileName, inputOf(layers, fileName));
  /** [C, H, W] of the data a Flatten turned into NHWC order (the next Dense is permuted), or null. */
  let nhwcFlattened: Shape3 | null = null;
  let pendingPad: Pad4 | null = null;
  const need = (l: KerasLayer, variable: string, index: number): KerasWeight => {
    const w = weights(l.name, variable, index);
    if (!w) throw badModel(fileName, `layer ${quoteName(l.name)} has no ${quoteName(variable)} weight in the weights file.`);
    return w;
  };
  const activate = (l: KerasLayer) => {
    const act = activationOf(l.config);
    if (act === 'relu') b.relu(l.name);
    else if (act === 'softmax') b.finalSoftmax(l.name, 'Softmax');
  };
  for (const l of layers) {
    const c = l.config;
    if (pendingPad && !l.className.startsWith('Conv')) throw badModel(fileName, `ZeroPadding2D before layer ${quoteName(l.name)} (${escapeName(l.className)}) is supported only right before a Conv2D.`);
    switch (l.className) {
      case 'InputLayer':
      case 'Dropout':
        break;
      case 'Conv2D':
      case 'Convolution2D': {
        const shape = b.currentShape;
        if (!shape) throw badModel(fileName, `Conv2D ${quoteName(l.name)} gets flat data.`);
        const k = need(l, 'kernel', 0);
        if (k.shape.length !== 4) throw badModel(fileName, `Conv2D ${quoteName(l.name)} has a kernel of shape [${k.shape.join(', ')}], not [kh, kw, in, out].`);
        const [kh, kw, I, O] = k.shape;
        const weight = new Float64Array(O * I * kh * kw);
        for (let u = 0; u < kh; u++) for (let v = 0; v < kw; v++) for (let i = 0; i < I; i++) for (let o = 0; o < O; o++) {
          weight[((o * I + i) * kh + u) * kw + v] = k.values[((u * kw + v) * I + i) * O + o];
        }
        const stride = pairOf(c.strides, [1, 1]);
        const dilation = pairOf(c.dilation_rate, [1, 1]);
        const padding: Pad4 = c.padding === 'same' ? samePads([shape[1], shape[2]], [kh, kw], stride, dilation) : [0, 0, 0, 0];
        if (c.padding !== 'same' && c.padding !== 'valid' && c.padding !== undefined) throw badModel(fileName, `Conv2D ${quoteName(l.name)} has padding ${JSON.stringify(c.padding)}.`);
        if (pendingPad) for (let q = 0; q < 4; q++) padding[q] += pendingPad[q];
        pendingPad = null;
        const bias = c.use_bias === false ? null : need(l, 'bias', 1).values;
        b.conv2d(l.name, { weight, bias: bias ? Float64Array.from(bias) : null, outChannels: O, kernel: [kh, kw], stride, padding, dilation });
        activate(l);
        break;
      }
      case 'ZeroPadding2D': {
        const p = c.padding;
        let pads: Pad4;
        if (typeof p === 'number') pads = [p, p, p, p];
        else if (Array.isArray(p) && p.length === 2 && p.every((x) => typeof x === 'number')) pads = [p[0], p[1], p[0], p[1]];
        else if (Array.isArray(p) && p.length === 2 && p.every((x) => Array.isArray(x) && x.length === 2)) pads = [p[0][0], p[1][0], p[0][1], p[1][1]];
        else throw badModel(fileName, `ZeroPadding2D ${quoteName(l.name)} has padding ${JSON.stringify(p)}.`);
        pendingPad = pendingPad ? (pendingPad.map((v, q) => v + pads[q]) as Pad4) : pads;
        break;
      }
      case 'MaxPooling2D':
      case 'MaxPool2D':
      case 'AveragePooling2D':
      case 'AvgPool2D': {
        const shape = b.currentShape;
        if (!shape) throw badModel(fileName, `pooling ${quoteName(l.name)} gets flat data.`);
        const kernel = pairOf(c.pool_size, [2, 2]);
        const stride = c.strides === null || c.strides === undefined ? kernel : pairOf(c.strides, kernel);
        const max = l.className.startsWith('Max');
        let padding: Pad4 = [0, 0, 0, 0];
        if (c.padding === 'same') {
          padding = samePads([shape[1], shape[2]], kernel, stride, [1, 1]);
          // TF's average pooling leaves padding out of the mean; the IR's does not say, so refuse it when it pads.
          if (!max && padding.some((v) => v > 0)) throw unsupportedList(fileName, [`layer ${quoteName(l.name)} (${l.className}) with padding 'same' that pads`], SUPPORTED_KERAS_LAYERS);
        }
        b.pool2d(max ? 'maxpool2d' : 'avgpool2d', l.name, kernel, stride, padding);
        break;
      }
      case 'GlobalAveragePooling2D':
      case 'GlobalAvgPool2D':
        b.globalAvgPool(l.name);
        b.flatten(); // [C, 1, 1] → [C]: the same order either way
        break;
      case 'Flatten': {
        const shape = b.currentShape;
        // Only when H·W > 1 and C > 1 does NHWC order differ from the IR's C-major order.
        nhwcFlattened = shape && shape[0] > 1 && shape[1] * shape[2] > 1 ? shape : null;
        b.flatten();
        break;
      }
      case 'Dense': {
        if (b.currentShape) throw badModel(fileName, `Dense ${quoteName(l.name)} gets image-shaped data [H, W, C] without a Flatten (a per-pixel Dense is not supported).`);
        const k = need(l, 'kernel', 0);
        if (k.shape.length !== 2) throw badModel(fileName, `Dense ${quoteName(l.name)} has a kernel of shape [${k.shape.join(', ')}], not [in, out].`);
        const [I, O] = k.shape;
        const weight = new Float64Array(O * I);
        // Row r of the Keras kernel multiplies Keras feature r; put it at the IR's feature index.
        const irIndex = (r: number): number => {
          if (!nhwcFlattened) return r;
          const [C, H, W] = nhwcFlattened;
          const cc = r % C;
          const w = Math.floor(r / C) % W;
          const h = Math.floor(r / (C * W));
          return cc * H * W + h * W + w;
        };
        for (let r = 0; r < I; r++) {
          const j = irIndex(r);
          for (let o = 0; o < O; o++) weight[o * I + j] = k.values[r * O + o];
        }
        nhwcFlattened = null;
        const bias = c.use_bias === false ? null : need(l, 'bias', 1).values;
        b.dense(l.name, weight, bias ? Float64Array.from(bias) : null, O, I);
        activate(l);
        break;
      }
      case 'BatchNormalization': {
        let idx = 0;
        const gamma = c.scale === false ? null : need(l, 'gamma', idx++).values;
        const beta = c.center === false ? null : need(l, 'beta', idx++).values;
        const mean = need(l, 'moving_mean', idx++).values;
        const variance = need(l, 'moving_variance', idx++).values;
        const eps = typeof c.epsilon === 'number' ? c.epsilon : 1e-3;
        b.batchNorm(l.name, gamma ?? new Float64Array(mean.length).fill(1), beta ?? new Float64Array(mean.length), mean, variance, eps);
        break;
      }
      case 'Activation':
      case 'ReLU':
        if (l.className === 'ReLU' || activationOf(c) === 'relu') b.relu(l.name);
        else if (activationOf(c) === 'softmax') b.finalSoftmax(l.name, 'Softmax');
        break;
    }
  }
  if (pendingPad) throw badModel(fileName, 'a ZeroPadding2D at the end of the model pads nothing that is explained.');
  const net = b.build(format, null, `(supported Keras layers: ${SUPPORTED_KERAS_LAYERS.join(', ')})`);
  if (net.inputShape) net.notes.push(`Keras models are channels-last; DTD Lens reads inputs channels-first as [C, H, W] = [${net.inputShape.join(', ')}] (images are decoded that way).`);
  return net;
}
