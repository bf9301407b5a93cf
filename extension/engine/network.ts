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

export type Layer = DenseLayer;

export interface OutputSelection {
  start: number;
  stop: number;
}

export interface Network {
  inputSize: number;
  layers: Layer[];
  /** Output = lastLayerOutput[start:stop] when set. */
  outputSelection: OutputSelection | null;
  /** Where it came from, for messages and the UI. */
  source: { format: 'json' | 'onnx' | 'safetensors' | string; file: string };
  /** Things the loader did that a user should know (e.g. "Softmax removed: the logit is explained"). */
  notes: string[];
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
    if (layer.weight.length !== layer.inFeatures * layer.outFeatures || layer.bias.length !== layer.outFeatures) {
      throw new DtdError('bad-model', `${file}: layer '${layer.name}' has parameters of the wrong size.`, file);
    }
    for (const [what, arr] of [['weights', layer.weight], ['biases', layer.bias]] as const) {
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
