// Architecture descriptions for weight files that store no architecture
// (safetensors and PyTorch state dicts), and the fixture JSON's `network.layers`.
//
// Sidecar `<model>.dtd.json` schema (every key optional except `layers` for conv nets):
//   {
//     "inputShape": [C, H, W],            // image input (NCHW, flattened C-major); or
//     "inputSize": n,                     // vector input
//     "layers": [                         // in forward order; PyTorch nn.Sequential semantics
//       {"type": "conv2d", "module": "0", // weights at "<module>.weight" [O,C,kh,kw], "<module>.bias" [O] (optional)
//        "stride": 1 | [sh, sw], "padding": 0 | [ph, pw] | [top, left, bottom, right] | "valid" | "same",
//        "dilation": 1 | [dh, dw]},
//       {"type": "batchnorm", "module": "1", "eps": 1e-5},  // "<module>.weight/.bias/.running_mean/.running_var"; folded into the conv/linear before it
//       {"type": "relu"},                 // or another activation:
//       {"type": "leakyrelu", "negative_slope": 0.01}, {"type": "prelu", "module": "2"} ("<module>.weight": [C] or [1]),
//       {"type": "relu6"}, {"type": "hardtanh", "min_val": -1, "max_val": 1}, {"type": "sigmoid"}, {"type": "tanh"},
//       {"type": "elu", "alpha": 1},
//       {"type": "maxpool2d", "kernel": 2 | [kh, kw], "stride": (default = kernel), "padding": 0},
//       {"type": "avgpool2d", "kernel": 2, "stride": (default = kernel)},   // no padding
//       {"type": "globalavgpool2d"},      // = AdaptiveAvgPool2d(1)
//       {"type": "flatten"},              // C-major (PyTorch); a no-op on the flat data
//       {"type": "linear", "module": "7"},// "<module>.weight" [out, in], "<module>.bias" [out]
//       {"type": "dropout"} | {"type": "identity"},
//       {"type": "softmax"} | {"type": "logsoftmax"}   // only last: dropped, the logit is explained
//     ],
//     "finalActivation": "relu" | "linear", "outputSelection": {"start": i, "stop": j},
//     "preprocessing": { ...ImagePreprocessing, see image.ts }
//   }
// "add" and "concat" (residual and branching graphs) cannot be described here: the list is a chain;
// they are refused with a message saying so (ONNX, Keras and TF.js files carry graphs).
// Instead of "module", a layer may name its tensors: "params": {"weight": "features.0.weight", ...}.
// Type names are case-insensitive and PyTorch class names are accepted too (Conv2d, BatchNorm2d,
// ReLU, MaxPool2d, AvgPool2d, AdaptiveAvgPool2d with output_size 1, Flatten, Linear, Softmax), as
// are PyTorch's hyper-parameter names (kernel_size, ...), so the fixtures' `network.layers` is a
// valid `layers` list.

import { DtdError } from '../errors';
import type { Network, OutputSelection, Shape3 } from '../network';
import { NetworkBuilder, type Pad4, unsupportedList } from './builder';
import { displayName, readSidecar } from './common';
import { sidecarNameFor } from '../../protocol';
import { preview } from '../budget';
import { escapeName, quoteName, quoteNames } from '../../protocol';

export interface NamedTensor {
  shape: number[];
  values: Float64Array;
}

/** Looks tensors up by state-dict key; `keys` lists all of them (for "unused tensor" notes). */
export interface TensorLookup {
  get(key: string): NamedTensor | undefined;
  keys(): string[];
}

export const SUPPORTED_SPEC_LAYERS = [
  'conv2d', 'batchnorm', 'relu', 'leakyrelu', 'prelu', 'relu6', 'hardtanh', 'sigmoid', 'tanh', 'elu',
  'maxpool2d', 'avgpool2d', 'globalavgpool2d', 'flatten', 'linear', 'dropout', 'identity', 'softmax (last)', 'logsoftmax (last)',
] as const;

/** Graph joins: a layer list is a chain, so these are refused with a reason. */
const GRAPH_TYPES = new Set(['add', 'concat', 'cat']);

const TYPE_ALIASES: Record<string, string> = {
  conv2d: 'conv2d', conv: 'conv2d',
  batchnorm: 'batchnorm', batchnorm2d: 'batchnorm', batchnorm1d: 'batchnorm', batchnormalization: 'batchnorm',
  relu: 'relu', leakyrelu: 'leakyrelu', prelu: 'prelu', relu6: 'relu6', hardtanh: 'hardtanh', clip: 'hardtanh',
  sigmoid: 'sigmoid', tanh: 'tanh', elu: 'elu',
  maxpool2d: 'maxpool2d', maxpool: 'maxpool2d',
  avgpool2d: 'avgpool2d', avgpool: 'avgpool2d', averagepool: 'avgpool2d',
  globalavgpool2d: 'globalavgpool2d', globalaveragepool: 'globalavgpool2d', adaptiveavgpool2d: 'globalavgpool2d',
  flatten: 'flatten',
  linear: 'linear', dense: 'linear',
  dropout: 'dropout', identity: 'identity',
  softmax: 'softmax', logsoftmax: 'logsoftmax',
};

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

export interface ArchitectureSpec {
  inputShape?: Shape3;
  inputSize?: number;
  layers: Obj[];
}

/** Reads `inputShape`/`inputSize`/`layers` from a sidecar; undefined when it has no `layers`. */
export function readArchitecture(sidecar: unknown, modelFile: string): ArchitectureSpec | undefined {
  if (!isObj(sidecar) || sidecar.layers === undefined) return undefined;
  const name = sidecarNameFor(modelFile);
  const fail = (problem: string) => new DtdError('bad-model', `${displayName(name)}: ${problem}`, name);
  if (!Array.isArray(sidecar.layers) || !sidecar.layers.every(isObj)) throw fail('"layers" must be an array of objects like {"type": "conv2d", "module": "0"}.');
  const out: ArchitectureSpec = { layers: sidecar.layers as Obj[] };
  const shape = readSidecar(sidecar, modelFile).inputShape;
  if (shape) out.inputShape = shape;
  const size = sidecar.inputSize ?? sidecar.input_size;
  if (size !== undefined) {
    if (!Number.isSafeInteger(size) || (size as number) <= 0) throw fail(`"inputSize" must be a positive integer (got ${preview(size)}).`);
    out.inputSize = size as number;
  }
  return out;
}

/** 2 → [2, 2]; [2, 3] stays. */
function pair(v: unknown, dflt: [number, number], what: string, fail: (p: string) => Error): [number, number] {
  if (v === undefined || v === null) return dflt;
  if (typeof v === 'number') return [v, v];
  if (Array.isArray(v) && v.length === 2 && v.every((x) => typeof x === 'number')) return [v[0], v[1]];
  throw fail(`${what} must be a number or [h, w] (got ${preview(v)}).`);
}

/** padding: p, [ph, pw], [top, left, bottom, right], "valid", or "same" (stride 1; extra at the end, as PyTorch). */
function padding4(v: unknown, kernel: [number, number], dilation: [number, number], what: string, fail: (p: string) => Error): Pad4 {
  if (v === undefined || v === null || v === 'valid') return [0, 0, 0, 0];
  if (v === 'same') {
    const th = dilation[0] * (kernel[0] - 1);
    const tw = dilation[1] * (kernel[1] - 1);
    return [Math.floor(th / 2), Math.floor(tw / 2), th - Math.floor(th / 2), tw - Math.floor(tw / 2)];
  }
  if (typeof v === 'number') return [v, v, v, v];
  if (Array.isArray(v) && v.every((x) => typeof x === 'number')) {
    if (v.length === 2) return [v[0], v[1], v[0], v[1]];
    if (v.length === 4) return [v[0], v[1], v[2], v[3]];
  }
  throw fail(`${what} must be a number, [ph, pw], [top, left, bottom, right], "valid" or "same" (got ${preview(v)}).`);
}

function pick(o: Obj, ...names: string[]): unknown {
  for (const n of names) if (o[n] !== undefined) return o[n];
  return undefined;
}

/**
 * Builds the IR from layer descriptions and a tensor lookup. `describe` names where the layer
 * list came from in messages (the sidecar or the fixture file).
 */
export function buildFromLayerSpecs(
  specs: Obj[],
  input: Shape3 | number,
  tensors: TensorLookup,
  fileName: string,
  format: string,
  describe: string,
  outputSelection: OutputSelection | null = null,
): Network {
  // 1. Every unknown type, in one message.
  const offenders: string[] = [];
  specs.forEach((s, i) => {
    const t = typeof s.type === 'string' ? TYPE_ALIASES[s.type.toLowerCase()] : undefined;
    if (!t && typeof s.type === 'string' && GRAPH_TYPES.has(s.type.toLowerCase())) {
      offenders.push(`layer ${i} has type ${preview(s.type)} (a layer list is a chain: residual adds and concatenations need an ONNX, Keras or TF.js file)`);
    } else if (!t) offenders.push(`layer ${i} has type ${preview(s.type ?? null)}`);
    else if (t === 'conv2d' && s.groups !== undefined && s.groups !== 1) offenders.push(`layer ${i} is a grouped convolution (groups ${preview(s.groups)})`);
    else if (t === 'globalavgpool2d' && s.output_size !== undefined && !(preview(s.output_size) === '[1,1]' || s.output_size === 1)) {
      offenders.push(`layer ${i} is an adaptive average pooling to ${preview(s.output_size)} (only output size 1)`);
    } else if ((t === 'maxpool2d' || t === 'avgpool2d') && s.ceil_mode === true) offenders.push(`layer ${i} pools with ceil_mode`);
    else if (t === 'maxpool2d' && s.dilation !== undefined && preview(s.dilation) !== '1' && preview(s.dilation) !== '[1,1]') offenders.push(`layer ${i} is a dilated max pooling`);
    else if (t === 'avgpool2d' && preview(s.padding ?? 0) !== '0' && preview(s.padding) !== '[0,0]') offenders.push(`layer ${i} is a padded average pooling`);
  });
  if (offenders.length > 0) throw unsupportedList(fileName, offenders.map((o) => `${describe} ${o}`), SUPPORTED_SPEC_LAYERS);

  const b = new NetworkBuilder(fileName, input);
  const used = new Set<string>();
  specs.forEach((s, i) => {
    const t = TYPE_ALIASES[(s.type as string).toLowerCase()];
    const name = typeof s.name === 'string' && s.name ? s.name : typeof s.module === 'string' ? s.module : `layer${i}`;
    const fail = (p: string) => new DtdError('bad-model', `${displayName(fileName)}: ${describe} layer ${i} (${quoteName(name)}, ${escapeName(t)}): ${p}`, fileName);
    const params = isObj(s.params) ? s.params : {};
    const tensor = (param: string, required: boolean): NamedTensor | undefined => {
      const key = typeof params[param] === 'string' ? (params[param] as string) : typeof s.module === 'string' ? `${s.module}.${param}` : undefined;
      if (key === undefined) {
        if (!required) return undefined;
        throw fail(`says neither "module" nor "params" to find its ${param}.`);
      }
      const found = tensors.get(key);
      if (!found && required) throw fail(`the tensor ${quoteName(key)} is not in the weights file.`);
      if (found) used.add(key);
      return found;
    };
    switch (t) {
      case 'conv2d': {
        const w = tensor('weight', true)!;
        if (w.shape.length !== 4) throw fail(`weight has shape [${w.shape.join(', ')}], not [O, C, kh, kw].`);
        const bias = s.bias === false ? undefined : tensor('bias', false);
        const kernel: [number, number] = [w.shape[2], w.shape[3]];
        const dilation = pair(s.dilation, [1, 1], 'dilation', fail);
        b.conv2d(name, {
          weight: Float64Array.from(w.values), bias: bias ? Float64Array.from(bias.values) : null, outChannels: w.shape[0], kernel,
          stride: pair(s.stride, [1, 1], 'stride', fail), padding: padding4(s.padding, kernel, dilation, 'padding', fail), dilation,
        });
        break;
      }
      case 'linear': {
        const w = tensor('weight', true)!;
        if (w.shape.length !== 2) throw fail(`weight has shape [${w.shape.join(', ')}], not [out, in].`);
        const bias = s.bias === false ? undefined : tensor('bias', false);
        b.flatten(); // nn.Linear on [C,H,W] data only occurs after a Flatten; flat data is already flat
        b.dense(name, Float64Array.from(w.values), bias ? Float64Array.from(bias.values) : null, w.shape[0], w.shape[1]);
        break;
      }
      case 'batchnorm': {
        const eps = pick(s, 'eps', 'epsilon') ?? 1e-5;
        if (typeof eps !== 'number' || !(eps >= 0)) throw fail(`eps must be a non-negative number (got ${preview(eps)}).`);
        const mean = tensor('running_mean', true)!;
        const variance = tensor('running_var', true)!;
        const n = mean.values.length;
        const gamma = tensor('weight', false)?.values ?? new Float64Array(n).fill(1); // affine=False
        const beta = tensor('bias', false)?.values ?? new Float64Array(n);
        b.batchNorm(name, gamma, beta, mean.values, variance.values, eps);
        break;
      }
      case 'relu':
        b.relu(name);
        break;
      case 'leakyrelu': {
        const slope = pick(s, 'negative_slope', 'negativeSlope', 'alpha') ?? 0.01;
        if (typeof slope !== 'number' || !Number.isFinite(slope)) throw fail(`negative_slope must be a number (got ${preview(slope)}).`);
        b.activation(name, 'leakyrelu', { alpha: slope });
        break;
      }
      case 'prelu': {
        const w = tensor('weight', true)!;
        const channels = b.currentShape ? b.currentShape[0] : b.currentSize;
        if (w.values.length !== 1 && w.values.length !== channels) throw fail(`weight has ${w.values.length} slopes; nn.PReLU needs 1 or one per channel (${channels}).`);
        b.activation(name, 'leakyrelu', { slopes: Float64Array.from(w.values) });
        break;
      }
      case 'relu6':
        b.activation(name, 'clip', { min: 0, max: 6 });
        break;
      case 'hardtanh': {
        const min = pick(s, 'min_val', 'minVal', 'min') ?? -1;
        const max = pick(s, 'max_val', 'maxVal', 'max') ?? 1;
        if (typeof min !== 'number' || typeof max !== 'number' || !Number.isFinite(min) || !Number.isFinite(max) || !(min < max)) throw fail(`min_val and max_val must be numbers with min_val < max_val (got ${preview(min)}, ${preview(max)}).`);
        b.activation(name, 'clip', { min, max });
        break;
      }
      case 'sigmoid':
      case 'tanh':
        b.activation(name, t);
        break;
      case 'elu': {
        const alpha = pick(s, 'alpha') ?? 1;
        if (typeof alpha !== 'number' || !Number.isFinite(alpha)) throw fail(`alpha must be a number (got ${preview(alpha)}).`);
        b.activation(name, 'elu', { alpha });
        break;
      }
      case 'maxpool2d':
      case 'avgpool2d': {
        const kernel = pair(pick(s, 'kernel', 'kernel_size'), [Number.NaN, Number.NaN], 'kernel', fail);
        if (!kernel.every(Number.isSafeInteger)) throw fail('needs "kernel".');
        const stride = pair(s.stride, kernel, 'stride', fail);
        b.pool2d(t, name, kernel, stride, padding4(s.padding, kernel, [1, 1], 'padding', fail));
        break;
      }
      case 'globalavgpool2d':
        b.globalAvgPool(name);
        break;
      case 'flatten':
        b.flatten();
        break;
      case 'dropout':
      case 'identity':
        break;
      case 'softmax':
      case 'logsoftmax':
        b.finalSoftmax(name, t === 'softmax' ? 'Softmax' : 'LogSoftmax');
        break;
    }
  });
  const unused = tensors.keys().filter((k) => !used.has(k) && !k.endsWith('num_batches_tracked'));
  if (unused.length > 0) b.notes.push(`tensors not used by the ${describe} layers: ${quoteNames(unused)}.`);
  return b.build(format, outputSelection, `(supported ${describe} layer types: ${SUPPORTED_SPEC_LAYERS.join(', ')})`);
}
