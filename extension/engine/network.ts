// The network representation (IR) every loader produces and every algorithm
// consumes: a directed acyclic graph of layers in execution (topological)
// order. Tensor 0 is the network input and tensor l the output of layer l
// (after its activation); layer l reads the tensors listed in `inputs`
// (default: tensor l − 1, so a chain needs no `inputs` at all). Joins are
// layers of their own: `add` (residual sums) and `concat` (channel blocks).
// Weights are row-major [out][in] in float64, whatever the file stored.

import { DtdError } from './errors';
import { LIMITS, quoteName } from '../protocol';

/**
 * The elementwise function after a layer. ReLU, leaky ReLU (PReLU: one slope
 * per channel) and clip (ReLU6) are piecewise linear, so DTD's regions and
 * roots apply; sigmoid, tanh and ELU are smooth (LRP passes relevance through
 * them; DTD needs piecewise-linear units). activations.ts is their one home.
 */
export type Activation = 'relu' | 'linear' | 'leakyrelu' | 'clip' | 'sigmoid' | 'tanh' | 'elu';

export interface ActivationParams {
  /** leakyrelu: the slope for z < 0; elu: α. */
  alpha?: number;
  /** leakyrelu (PReLU): one slope per channel (or per feature for vectors); overrides alpha. */
  slopes?: Float64Array;
  /** clip: the bounds (ReLU6 = [0, 6]). */
  min?: number;
  max?: number;
}

/** What every layer kind has besides its own parameters. */
interface LayerCommon {
  /** Display name, e.g. "layer1" or the ONNX node / Keras layer name. */
  name: string;
  inFeatures: number;
  outFeatures: number;
  activation: Activation;
  activationParams?: ActivationParams;
  /** The tensors this layer reads (0 = network input, k = layer k's output); default [l − 1]. */
  inputs?: number[];
}

export interface DenseLayer extends LayerCommon {
  kind: 'dense';
  /** Row-major [outFeatures][inFeatures]. */
  weight: Float64Array;
  bias: Float64Array;
}

/** [channels, height, width]: the NCHW layout of one sample (batch dropped). */
export type Shape3 = [number, number, number];

/**
 * 2-D convolution (cross-correlation, PyTorch/ONNX semantics) on NCHW data
 * flattened C-major: flat[c·H·W + h·W + w]. Mathematically a dense layer with
 * shared weights; inFeatures = C·H·W, outFeatures = O·OH·OW. A grouped or
 * depthwise convolution is stored with its block-diagonal dense kernel (zeros
 * outside each group, RESIDUAL.md §4), so every rule applies unchanged;
 * `groups` says how the file stored it.
 *
 * `convtranspose2d` (ONNX ConvTranspose) is the adjoint map: its forward is
 * conv2dTranspose with the geometry of the convolution from outShape to
 * inShape, weight [inChannels][outChannels][kh][kw] (the ONNX layout).
 */
export interface Conv2dLayer extends LayerCommon {
  kind: 'conv2d' | 'convtranspose2d';
  inShape: Shape3;
  outShape: Shape3;
  /** conv2d: [outChannels][inChannels][kh][kw]; convtranspose2d: [inChannels][outChannels][kh][kw]; row-major, dense over groups; BatchNorm already folded in. */
  weight: Float64Array;
  bias: Float64Array;
  kernel: [number, number];
  stride: [number, number];
  /** [top, left, bottom, right] zeros. */
  padding: [number, number, number, number];
  dilation: [number, number];
  /** How many groups the file's convolution had (1 when absent). */
  groups?: number;
  /** convtranspose2d: extra rows/columns at the bottom/right of the output (ONNX output_padding). */
  outputPadding?: [number, number];
}

/** Max or average pooling (global average pooling = a window over the whole map). */
export interface Pool2dLayer extends LayerCommon {
  kind: 'maxpool2d' | 'avgpool2d';
  inShape: Shape3;
  outShape: Shape3;
  kernel: [number, number];
  stride: [number, number];
  padding: [number, number, number, number];
  /** Average pooling with padding: whether padded taps count in the divisor (PyTorch's default) or not (ONNX/Keras; the default here). */
  countIncludePad?: boolean;
}

/**
 * Elementwise sum of two or more tensors of one shape (a residual join). Its
 * relevance rule is zennit's Norm rule: input k gets a_k·R / s(Σ a).
 * inFeatures = outFeatures = the size of each input.
 */
export interface AddLayer extends LayerCommon {
  kind: 'add';
  inputs: number[];
  /** [C, H, W] for image tensors, [n] for vectors. */
  shape: number[];
}

/** Channel concatenation (axis 1 in NCHW; for vectors, the features): the blocks of the flat data in input order. inFeatures = outFeatures = Σ parts. */
export interface ConcatLayer extends LayerCommon {
  kind: 'concat';
  inputs: number[];
  /** Each input's size, in order. */
  parts: number[];
  /** Each input's shape ([C_k, H, W] or [n_k]) and the output's. */
  inShapes: number[][];
  shape: number[];
}

/**
 * y = scale[c]·x + shift[c] per channel (per feature for vectors): a
 * BatchNorm that follows no conv/dense layer it could fold into, or (scale 1,
 * shift 0) the carrier of an activation whose input is also used elsewhere.
 * Relevance passes as zennit passes it through modules without a rule: the
 * gradient, R_in = scale ⊙ R_out.
 */
export interface AffineLayer extends LayerCommon {
  kind: 'affine';
  /** [C, H, W] or [n]. */
  shape: number[];
  scale: Float64Array;
  shift: Float64Array;
}

export type Layer = DenseLayer | Conv2dLayer | Pool2dLayer | AddLayer | ConcatLayer | AffineLayer;

/** The tensors layer l (1-based) reads. */
export function layerInputs(net: Network, l: number): number[] {
  return net.layers[l - 1].inputs ?? [l - 1];
}

/** Whether every layer reads the previous one's output only (a chain). */
export function isChain(net: Network): boolean {
  return net.layers.every((layer, i) => !layer.inputs || (layer.inputs.length === 1 && layer.inputs[0] === i));
}

/** consumers[t]: the layers (1-based) that read tensor t; the last layer's output has none. */
export function tensorConsumers(net: Network): number[][] {
  const out: number[][] = Array.from({ length: net.layers.length + 1 }, () => []);
  for (let l = 1; l <= net.layers.length; l++) for (const t of layerInputs(net, l)) out[t].push(l);
  return out;
}

/**
 * Per tensor: whether its values are ≥ 0 for every input (ReLU or a clip at ≥ 0
 * or a sigmoid after the layer, pooling/joins of such tensors). Tensor 0, the
 * network input, is reported false: only the input itself can tell.
 */
export function nonNegativeTensors(net: Network): boolean[] {
  const out: boolean[] = [false];
  net.layers.forEach((layer, i) => {
    const ins = layerInputs(net, i + 1).map((t) => out[t]);
    const act = layer.activation;
    if (act === 'relu' || act === 'sigmoid' || (act === 'clip' && (layer.activationParams?.min ?? 0) >= 0)) out.push(true);
    else if (act !== 'linear') out.push(false);
    else if (layer.kind === 'maxpool2d' || layer.kind === 'avgpool2d' || layer.kind === 'add' || layer.kind === 'concat') out.push(ins.every(Boolean));
    else if (layer.kind === 'affine') out.push(ins[0] && layer.scale.every((v) => v >= 0) && layer.shift.every((v) => v >= 0));
    else out.push(false);
  });
  return out;
}

/** The shape of tensor t: [C, H, W] or [n]. */
export function tensorShape(net: Network, t: number): number[] {
  return layerShapes(net)[t];
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
  /** sha256: hex digest of the model file's bytes (set by loadModel; reproducibility). */
  source: { format: 'json' | 'onnx' | 'safetensors' | string; file: string; sha256?: string };
  /** Things the loader did that a user should know (e.g. "Softmax removed: the logit is explained"). */
  notes: string[];
}

/** A network of dense layers only: what the decomposition algorithms work on. */
export interface DenseNetwork extends Network {
  layers: DenseLayer[];
}

/** What the recursive full-backward and the sampled root finders cannot follow (they work on ReLU units; graphs become chains, graphChain.ts); empty when they can. */
export function chainOnlyProblems(net: Network): string[] {
  const out: string[] = [];
  const acts = [...new Set(net.layers.filter((l) => l.activation !== 'relu' && l.activation !== 'linear').map((l) => l.activation))];
  if (acts.length) out.push(`it uses ${acts.join(', ')} activations`);
  if (!isChain(net) && net.layers.some((l) => l.kind === 'maxpool2d')) out.push('it is a graph with max pooling (its winners are re-checked on chains only)');
  return out;
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

/** The shape of layer l's output: [C, H, W] or [n]. */
export function outShapeOf(layer: Layer): number[] {
  switch (layer.kind) {
    case 'dense':
      return [layer.outFeatures];
    case 'add':
    case 'concat':
    case 'affine':
      return [...layer.shape];
    default:
      return [...layer.outShape];
  }
}

const prod = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

/** Checks that shapes fit along every edge of the graph and that values are finite; throws a DtdError naming the file otherwise. */
export function validateNetwork(net: Network): Network {
  const file = net.source.file;
  if (net.layers.length === 0) throw new DtdError('bad-model', `${file}: the network has no layers.`, file);
  const sizes = [net.inputSize];
  const bad = (layer: Layer, what: string) => new DtdError('bad-model', `${file}: layer ${quoteName(layer.name)} ${what}.`, file);
  net.layers.forEach((layer, i) => {
    const l = i + 1;
    const inputs = layerInputs(net, l);
    if (inputs.length === 0 || inputs.some((t) => !Number.isSafeInteger(t) || t < 0 || t >= l)) throw bad(layer, `reads tensors [${inputs.join(', ')}], but only tensors 0..${l - 1} exist before it`);
    const widths = inputs.map((t) => sizes[t]);
    if (layer.kind === 'add') {
      if (inputs.length < 2 || widths.some((w) => w !== layer.inFeatures) || layer.outFeatures !== layer.inFeatures || prod(layer.shape) !== layer.outFeatures) throw bad(layer, `adds tensors of sizes ${widths.join(', ')} (expects ${layer.inFeatures} each)`);
    } else if (layer.kind === 'concat') {
      const total = layer.parts.reduce((a, b) => a + b, 0);
      if (inputs.length !== layer.parts.length || widths.some((w, k) => w !== layer.parts[k]) || total !== layer.outFeatures || total !== layer.inFeatures || prod(layer.shape) !== total) {
        throw bad(layer, `concatenates tensors of sizes ${widths.join(', ')} (expects ${layer.parts.join(', ')})`);
      }
    } else {
      if (inputs.length !== 1) throw bad(layer, `reads ${inputs.length} tensors; a ${layer.kind} layer reads one`);
      if (layer.inFeatures !== widths[0]) throw bad(layer, `expects ${layer.inFeatures} inputs but its input tensor has ${widths[0]}`);
    }
    if (layer.kind === 'dense' && (layer.weight.length !== layer.inFeatures * layer.outFeatures || layer.bias.length !== layer.outFeatures)) throw bad(layer, 'has parameters of the wrong size');
    if (layer.kind === 'conv2d' || layer.kind === 'convtranspose2d') {
      const [O, C] = layer.kind === 'conv2d' ? [layer.outShape[0], layer.inShape[0]] : [layer.inShape[0], layer.outShape[0]];
      if (layer.weight.length !== O * C * layer.kernel[0] * layer.kernel[1] || layer.bias.length !== layer.outShape[0]) throw bad(layer, 'has parameters of the wrong size');
    }
    if (layer.kind === 'affine') {
      const C = layer.shape[0];
      if (layer.scale.length !== C || layer.shift.length !== C || prod(layer.shape) !== layer.outFeatures || layer.inFeatures !== layer.outFeatures) throw bad(layer, 'has parameters of the wrong size');
    }
    if ((layer.kind === 'conv2d' || layer.kind === 'convtranspose2d' || layer.kind === 'maxpool2d' || layer.kind === 'avgpool2d') && (layer.inFeatures !== prod(layer.inShape) || layer.outFeatures !== prod(layer.outShape))) {
      throw bad(layer, 'has inconsistent shapes');
    }
    const params: (readonly [string, Float64Array])[] =
      'weight' in layer ? [['weights', layer.weight], ['biases', layer.bias]] : layer.kind === 'affine' ? [['scales', layer.scale], ['shifts', layer.shift]] : [];
    if (layer.activationParams?.slopes) params.push(['activation slopes', layer.activationParams.slopes]);
    for (const [what, arr] of params) {
      for (let k = 0; k < arr.length; k++) {
        if (!Number.isFinite(arr[k])) {
          throw new DtdError('bad-model', `${file}: layer ${quoteName(layer.name)} has a non-finite value (${arr[k]}) in its ${what} at index ${k}; DTD needs finite weights.`, file);
        }
      }
    }
    sizes.push(layer.outFeatures);
  });
  const width = sizes[sizes.length - 1];
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
  return layer.kind === 'dense' || layer.kind === 'conv2d' || layer.kind === 'convtranspose2d';
}

/** Join layers (add, concat): several inputs, no weights. */
export function isJoin(layer: Layer): layer is AddLayer | ConcatLayer {
  return layer.kind === 'add' || layer.kind === 'concat';
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
  const inShape = net.inputShape ?? (first && 'inShape' in first ? first.inShape : undefined);
  const shapes: number[][] = [inShape ? [...inShape] : [net.inputSize]];
  for (const l of net.layers) shapes.push(outShapeOf(l));
  return shapes;
}

/** Whether any tensor is image-shaped [C, H, W]. */
export function hasSpatialLayers(net: Network): boolean {
  return !!net.inputShape || net.layers.some((l) => outShapeOf(l).length === 3);
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
  if (layer.kind === 'affine') {
    const per = layer.outFeatures / layer.shape[0];
    out[j] = layer.scale[Math.floor(j / per)];
    return out;
  }
  if (layer.kind === 'add' || layer.kind === 'concat') throw new DtdError('internal', `denseRow: ${layer.kind} ${quoteName(layer.name)} reads several tensors.`);
  if (layer.kind === 'convtranspose2d') {
    // Output unit (o, i, jj) sums x[c, r, q]·W[c, o, u, v] over every tap with r·sh − pt + u·dh = i.
    const [C, H, W] = layer.inShape;
    const [O, OH, OW] = layer.outShape;
    const o = Math.floor(j / (OH * OW)), i = Math.floor((j % (OH * OW)) / OW), jj = j % OW;
    const [kh, kw] = layer.kernel, [sh, sw] = layer.stride, [pt, pl] = layer.padding, [dh, dw] = layer.dilation;
    for (let c = 0; c < C; c++) {
      for (let u = 0; u < kh; u++) {
        const rr = i + pt - u * dh;
        if (rr % sh !== 0 || rr < 0 || rr / sh >= H) continue;
        for (let v = 0; v < kw; v++) {
          const qq = jj + pl - v * dw;
          if (qq % sw !== 0 || qq < 0 || qq / sw >= W) continue;
          out[c * H * W + (rr / sh) * W + qq / sw] += layer.weight[((c * O + o) * kh + u) * kw + v];
        }
      }
    }
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
  const inc = (layer as Pool2dLayer).countIncludePad === true;
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
export function materializeDense(layer: Layer): DenseLayer {
  if (layer.kind === 'dense') return layer;
  if (layer.kind === 'add' || layer.kind === 'concat') throw new DtdError('internal', `materializeDense: ${layer.kind} ${quoteName(layer.name)} reads several tensors.`);
  const n = layer.inFeatures, m = layer.outFeatures;
  if (n * m > LIMITS.tensorElements) {
    throw new DtdError('too-costly', `layer ${quoteName(layer.name)} (${layer.kind}, ${n} inputs × ${m} outputs) would need a dense matrix of ${n * m} values, more than the ${LIMITS.tensorElements} allowed; use the train-free method or a smaller model.`);
  }
  const weight = new Float64Array(n * m);
  const row = new Float64Array(n);
  for (let j = 0; j < m; j++) weight.set(denseRow(layer, j, row), j * n);
  const bias = new Float64Array(m);
  if (layer.kind === 'conv2d' || layer.kind === 'convtranspose2d') {
    const per = layer.outShape[1] * layer.outShape[2];
    for (let j = 0; j < m; j++) bias[j] = layer.bias[Math.floor(j / per)];
  }
  if (layer.kind === 'affine') {
    const per = m / layer.shape[0];
    for (let j = 0; j < m; j++) bias[j] = layer.shift[Math.floor(j / per)];
  }
  return { kind: 'dense', name: layer.name, inFeatures: n, outFeatures: m, weight, bias, activation: layer.activation, ...(layer.activationParams ? { activationParams: layer.activationParams } : {}) };
}
