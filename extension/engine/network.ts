// The network representation (IR) every loader produces and every algorithm
// consumes: a feed-forward stack of dense layers, each with an optional ReLU.
// Weights are row-major [out][in] in float64, whatever the file stored.

import { DtdError } from './errors';

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
  activation: Activation;
}

export type Layer = DenseLayer | Conv2dLayer | Pool2dLayer;

export function isDense(layer: Layer): layer is DenseLayer {
  return layer.kind === 'dense';
}

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
  source: { format: 'json' | 'onnx' | 'safetensors' | string; file: string };
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
      `${net.source.file}: layers ${other.map((l) => `'${l.name}' (${l.kind})`).join(', ')} cannot be decomposed yet; the engine explains dense ReLU layers.`,
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
      throw new DtdError('bad-model', `${file}: layer '${layer.name}' expects ${layer.inFeatures} inputs but the previous layer gives ${width}.`, file);
    }
    if (layer.kind === 'dense' && (layer.weight.length !== layer.inFeatures * layer.outFeatures || layer.bias.length !== layer.outFeatures)) {
      throw new DtdError('bad-model', `${file}: layer '${layer.name}' has parameters of the wrong size.`, file);
    }
    if (layer.kind === 'conv2d') {
      const [O, C] = [layer.outShape[0], layer.inShape[0]];
      if (layer.weight.length !== O * C * layer.kernel[0] * layer.kernel[1] || layer.bias.length !== O) {
        throw new DtdError('bad-model', `${file}: layer '${layer.name}' has parameters of the wrong size.`, file);
      }
    }
    if (layer.kind !== 'dense' && (layer.inFeatures !== layer.inShape[0] * layer.inShape[1] * layer.inShape[2] || layer.outFeatures !== layer.outShape[0] * layer.outShape[1] * layer.outShape[2])) {
      throw new DtdError('bad-model', `${file}: layer '${layer.name}' has inconsistent shapes.`, file);
    }
    const params = 'weight' in layer ? ([['weights', layer.weight], ['biases', layer.bias]] as const) : [];
    for (const [what, arr] of params) {
      for (let i = 0; i < arr.length; i++) {
        if (!Number.isFinite(arr[i])) {
          throw new DtdError('bad-model', `${file}: layer '${layer.name}' has a non-finite value (${arr[i]}) in its ${what} at index ${i}; DTD needs finite weights.`, file);
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
