// The network representation (IR) every loader produces and every algorithm
// consumes: a feed-forward stack of dense layers, each with an optional ReLU.
// Weights are row-major [out][in] in float64, whatever the file stored.

import { DtdError } from './errors';
import { LIMITS, quoteName } from '../protocol';

export type Activation = 'relu' | 'linear';

export interface DenseLayer {
  kind: 'dense';
  /** Display name, e.g. "layer1" or the ONNX node name. */
  name: string;
  inFeatures: number;
  outFeatures: number;
  /** Row-major [outFeatures][inFeatures]. */
  weight: Float64Array;
  bias: Float64Array;
  activation: Activation;
}

/** [channels, height, width]: the NCHW layout of one sample (batch dropped). */
export type Shape3 = [number, number, number];

/**
 * 2-D convolution (cross-correlation, PyTorch/ONNX semantics, groups = 1) on
 * NCHW data flattened C-major: flat[c·H·W + h·W + w]. Mathematically a dense
 * layer with shared weights; inFeatures = C·H·W, outFeatures = O·OH·OW.
 */
export interface Conv2dLayer {
  kind: 'conv2d';
  name: string;
  inShape: Shape3;
  outShape: Shape3;
  inFeatures: number;
  outFeatures: number;
  /** [outChannels][inChannels][kh][kw], row-major; BatchNorm already folded in. */
  weight: Float64Array;
  bias: Float64Array;
  kernel: [number, number];
  stride: [number, number];
  /** [top, left, bottom, right] zeros. */
  padding: [number, number, number, number];
  dilation: [number, number];
  activation: Activation;
}

/** Max or average pooling (global average pooling = a window over the whole map). */
export interface Pool2dLayer {
  kind: 'maxpool2d' | 'avgpool2d';
  name: string;
  inShape: Shape3;
  outShape: Shape3;
  inFeatures: number;
  outFeatures: number;
  kernel: [number, number];
  stride: [number, number];
  padding: [number, number, number, number];
  /** Average pooling with padding: whether padded taps count in the divisor (PyTorch's default) or not (ONNX/Keras; the default here). */
  countIncludePad?: boolean;
  activation: Activation;
}

export type Layer = DenseLayer | Conv2dLayer | Pool2dLayer;

export interface OutputSelection {
  start: number;
  stop: number;
}

export interface Network {
  inputSize: number;
  /** [C, H, W] when the input is an image (NCHW, flattened C-major); absent for vector inputs. */
  inputShape?: Shape3;
  layers: Layer[];
  /** Output = lastLayerOutput[start:stop] when set. */
  outputSelection: OutputSelection | null;
  /** Where it came from, for messages and the UI. */
  /** sha256: hex digest of the model file's bytes (set by loadModel; reproducibility). */
  source: { format: 'json' | 'onnx' | 'safetensors' | string; file: string; sha256?: string };
  /** Things the loader did that a user should know (e.g. "Softmax removed: the logit is explained"). */
  notes: string[];
}

/** A network of dense layers only: what the decomposition algorithms work on. */
export interface DenseNetwork extends Network {
  layers: DenseLayer[];
}

/** Narrows to a dense network, or says which layers the engine cannot decompose yet. */
export function requireDense(net: Network): DenseNetwork {
  const other = net.layers.filter((l) => l.kind !== 'dense');
  if (other.length) {
    throw new DtdError(
      'unsupported',
      `${net.source.file}: layers ${other.map((l) => `${quoteName(l.name)} (${l.kind})`).join(', ')} cannot be decomposed yet; the engine explains dense ReLU layers.`,
      net.source.file,
    );
  }
  return net as DenseNetwork;
}

export function outputSize(net: Network): number {
  const last = net.layers[net.layers.length - 1];
  return net.outputSelection ? net.outputSelection.stop - net.outputSelection.start : last.outFeatures;
}

/** Row of the last layer that produces output k. */
export function explainedRow(net: Network, k: number): number {
  return net.outputSelection ? net.outputSelection.start + k : k;
}

/** Checks shapes chain and values are finite; throws a DtdError naming the file otherwise. */
export function validateNetwork(net: Network): Network {
  const file = net.source.file;
  if (net.layers.length === 0) throw new DtdError('bad-model', `${file}: the network has no layers.`, file);
  let width = net.inputSize;
  for (const layer of net.layers) {
    if (layer.inFeatures !== width) {
      throw new DtdError('bad-model', `${file}: layer ${quoteName(layer.name)} expects ${layer.inFeatures} inputs but the previous layer gives ${width}.`, file);
    }
    if (layer.kind === 'dense' && (layer.weight.length !== layer.inFeatures * layer.outFeatures || layer.bias.length !== layer.outFeatures)) {
      throw new DtdError('bad-model', `${file}: layer ${quoteName(layer.name)} has parameters of the wrong size.`, file);
    }
    if (layer.kind === 'conv2d') {
      const [O, C] = [layer.outShape[0], layer.inShape[0]];
      if (layer.weight.length !== O * C * layer.kernel[0] * layer.kernel[1] || layer.bias.length !== O) {
        throw new DtdError('bad-model', `${file}: layer ${quoteName(layer.name)} has parameters of the wrong size.`, file);
      }
    }
    if (layer.kind !== 'dense' && (layer.inFeatures !== layer.inShape[0] * layer.inShape[1] * layer.inShape[2] || layer.outFeatures !== layer.outShape[0] * layer.outShape[1] * layer.outShape[2])) {
      throw new DtdError('bad-model', `${file}: layer ${quoteName(layer.name)} has inconsistent shapes.`, file);
    }
    const params = 'weight' in layer ? ([['weights', layer.weight], ['biases', layer.bias]] as const) : [];
    for (const [what, arr] of params) {
      for (let i = 0; i < arr.length; i++) {
        if (!Number.isFinite(arr[i])) {
          throw new DtdError('bad-model', `${file}: layer ${quoteName(layer.name)} has a non-finite value (${arr[i]}) in its ${what} at index ${i}; DTD needs finite weights.`, file);
        }
      }
    }
    width = layer.outFeatures;
  }
  const sel = net.outputSelection;
  if (sel && !(sel.start >= 0 && sel.stop <= width && sel.start < sel.stop)) {
    throw new DtdError('bad-model', `${file}: output selection [${sel.start}, ${sel.stop}) does not fit the ${width} outputs of the last layer.`, file);
  }
  return net;
}

// ── helpers for layers of every kind ────────────────────────────────────────

/** Layers with weights (dense, conv2d): the ones a DTD/LRP rule decomposes. */
export type WeightedLayer = DenseLayer | Conv2dLayer;

export function isWeighted(layer: Layer): layer is WeightedLayer {
  return layer.kind === 'dense' || layer.kind === 'conv2d';
}

export function isPool(layer: Layer): layer is Pool2dLayer {
  return layer.kind === 'maxpool2d' || layer.kind === 'avgpool2d';
}

/** 1-based index of the first dense/conv layer (zennit's "first layer" for the special first-layer rules). */
export function firstWeightedLayer(net: Network): number {
  return net.layers.findIndex(isWeighted) + 1;
}

/**
 * The shape of relevance[l] / activations[l] for l = 0..L: [C, H, W] for
 * image-shaped tensors (input and conv/pool outputs), [n] for vectors.
 */
export function layerShapes(net: Network): number[][] {
  const first = net.layers[0];
  const inShape = net.inputShape ?? (first && first.kind !== 'dense' ? first.inShape : undefined);
  const shapes: number[][] = [inShape ? [...inShape] : [net.inputSize]];
  for (const l of net.layers) shapes.push(l.kind === 'dense' ? [l.outFeatures] : [...l.outShape]);
  return shapes;
}

/** Whether any layer is not dense. */
export function hasSpatialLayers(net: Network): boolean {
  return net.layers.some((l) => l.kind !== 'dense');
}

/**
 * Unit j's weights over the layer input as a dense row (length inFeatures):
 * a conv unit's kernel placed on its receptive field (padding taps dropped),
 * an average-pool unit's 1/n over its window. Max pooling has no fixed row.
 */
export function denseRow(layer: Layer, j: number, out = new Float64Array(layer.inFeatures)): Float64Array {
  out.fill(0);
  if (layer.kind === 'dense') {
    out.set(layer.weight.subarray(j * layer.inFeatures, (j + 1) * layer.inFeatures));
    return out;
  }
  const [C, H, W] = layer.inShape;
  const [, OH, OW] = layer.outShape;
  const o = Math.floor(j / (OH * OW));
  const i = Math.floor((j % (OH * OW)) / OW);
  const jj = j % OW;
  const [kh, kw] = layer.kernel;
  const [sh, sw] = layer.stride;
  const [pt, pl, pb, pr] = layer.padding;
  if (layer.kind === 'conv2d') {
    const [dh, dw] = layer.dilation;
    for (let c = 0; c < C; c++) {
      for (let u = 0; u < kh; u++) {
        const r = i * sh - pt + u * dh;
        if (r < 0 || r >= H) continue;
        for (let v = 0; v < kw; v++) {
          const q = jj * sw - pl + v * dw;
          if (q < 0 || q >= W) continue;
          out[c * H * W + r * W + q] += layer.weight[((o * C + c) * kh + u) * kw + v];
        }
      }
    }
    return out;
  }
  if (layer.kind === 'maxpool2d') throw new DtdError('internal', `denseRow: max pooling ${quoteName(layer.name)} has no fixed weights.`);
  const inc = layer.countIncludePad === true;
  const r0 = i * sh - pt, q0 = jj * sw - pl;
  const rows = Math.max(0, Math.min(r0 + kh, inc ? H + pb : H) - Math.max(r0, inc ? -pt : 0));
  const cols = Math.max(0, Math.min(q0 + kw, inc ? W + pr : W) - Math.max(q0, inc ? -pl : 0));
  const n = rows * cols;
  if (n === 0) return out;
  for (let u = 0; u < kh; u++) {
    const r = r0 + u;
    if (r < 0 || r >= H) continue;
    for (let v = 0; v < kw; v++) {
      const q = q0 + v;
      if (q < 0 || q >= W) continue;
      out[o * H * W + r * W + q] = 1 / n;
    }
  }
  return out;
}

/** A conv or average-pool layer as an equivalent dense layer (for the exact per-point algorithms on small networks). */
export function materializeDense(layer: DenseLayer | Conv2dLayer | Pool2dLayer): DenseLayer {
  if (layer.kind === 'dense') return layer;
  const n = layer.inFeatures, m = layer.outFeatures;
  if (n * m > LIMITS.tensorElements) {
    throw new DtdError('too-costly', `layer ${quoteName(layer.name)} (${layer.kind}, ${n} inputs × ${m} outputs) would need a dense matrix of ${n * m} values, more than the ${LIMITS.tensorElements} allowed; use the train-free method or a smaller model.`);
  }
  const weight = new Float64Array(n * m);
  const row = new Float64Array(n);
  for (let j = 0; j < m; j++) weight.set(denseRow(layer, j, row), j * n);
  const bias = new Float64Array(m);
  if (layer.kind === 'conv2d') {
    const per = layer.outShape[1] * layer.outShape[2];
    for (let j = 0; j < m; j++) bias[j] = layer.bias[Math.floor(j / per)];
  }
  return { kind: 'dense', name: layer.name, inFeatures: n, outFeatures: m, weight, bias, activation: layer.activation };
}
