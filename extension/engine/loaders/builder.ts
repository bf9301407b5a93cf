// Builds the network IR layer by layer while tracking the data's shape, so every
// loader (ONNX, fixture JSON, safetensors/PyTorch + sidecar, TF.js, Keras) shares
// one implementation of the shape arithmetic, BatchNorm folding, ReLU placement
// and the "final Softmax is dropped" rule. The data is NCHW flattened C-major
// (flat[c·H·W + h·W + w]); a C-major Flatten is therefore a no-op on it.

import type { Conv2dLayer, DenseLayer, Layer, Network, OutputSelection, Pool2dLayer, Shape3 } from '../network';
import { badModel, unsupported } from './common';
import { LIMITS, quoteName } from '../../protocol';
import { count } from '../budget';

export type Pad4 = [number, number, number, number];

export interface ConvParams {
  /** [O][C][kh][kw] row-major (OIHW). */
  weight: Float64Array;
  bias: Float64Array | null;
  outChannels: number;
  kernel: [number, number];
  stride: [number, number];
  /** [top, left, bottom, right]. */
  padding: Pad4;
  dilation: [number, number];
}

/** Output length of a window op along one axis (floor mode). */
export function windowOut(size: number, k: number, s: number, padBefore: number, padAfter: number, d = 1): number {
  return Math.floor((size + padBefore + padAfter - d * (k - 1) - 1) / s) + 1;
}

export class NetworkBuilder {
  readonly layers: Layer[] = [];
  readonly notes: string[] = [];
  private shape: Shape3 | null;
  private size: number;
  /** The last layer is a conv/dense with nothing applied after it yet (BatchNorm may fold into it). */
  private foldable = false;
  /** Set once a final Softmax/LogSoftmax was seen: nothing may follow it. */
  private endedBy: string | null = null;
  private readonly structural: string[] = [];

  constructor(
    private readonly fileName: string,
    readonly input: Shape3 | number,
  ) {
    if (typeof input === 'number') {
      if (!Number.isSafeInteger(input) || input <= 0) throw badModel(fileName, `the input size ${input} is not a positive integer.`);
      this.shape = null;
      this.size = input;
    } else {
      if (!input.every((d) => Number.isSafeInteger(d) && d > 0)) throw badModel(fileName, `the input shape [${input.join(', ')}] is not a list of positive sizes.`);
      this.shape = [...input] as Shape3;
      this.size = input[0] * input[1] * input[2];
    }
    this.checkUnits('the input', this.size);
  }

  /** A layer's input or output may hold at most LIMITS.layerUnits values (checked before anything is allocated for it). */
  private checkUnits(what: string, units: number): void {
    if (!(units <= LIMITS.layerUnits)) {
      throw badModel(this.fileName, `${what} has ${count(units)} units, more than the ${count(LIMITS.layerUnits)} DTD Lens allows in one layer; refused before allocating.`);
    }
  }

  /**
   * Padding on one side may be at most LIMITS.paddingPerInput × the input's size on that
   * axis, or the window's extent − 1 when that is larger ("same" padding of a big kernel):
   * more only adds rows and columns computed from zeros (pads=[1000]*4 on a 28×28 input).
   */
  private checkPadding(name: string, what: string, inHW: [number, number], extent: [number, number], padding: Pad4): void {
    for (let k = 0; k < 4; k++) {
      const axis = k % 2;
      const max = Math.max(LIMITS.paddingPerInput * inHW[axis], extent[axis] - 1);
      if (padding[k] > max) {
        throw badModel(this.fileName, `${what} ${quoteName(name)} pads ${padding[k]} on one side of its ${inHW[0]}×${inHW[1]} input (at most ${max} allowed: the input's size or the window's extent); refused (hostile or corrupt).`);
      }
    }
  }

  /** [C,H,W] of the current data, or null once it is flat. */
  get currentShape(): Shape3 | null {
    return this.shape ? ([...this.shape] as Shape3) : null;
  }

  get currentSize(): number {
    return this.size;
  }

  private checkOpen(name: string): boolean {
    if (this.endedBy) {
      this.structural.push(`${quoteName(name)} follows the ${this.endedBy}, which is supported only as the very last layer`);
      return false;
    }
    return true;
  }

  private needImage(name: string, what: string): Shape3 {
    if (!this.shape) throw badModel(this.fileName, `layer ${quoteName(name)} (${what}) needs image-shaped [C, H, W] data, but its input is a flat vector of ${this.size} values.`);
    return this.shape;
  }

  conv2d(name: string, p: ConvParams): void {
    if (!this.checkOpen(name)) return;
    const [C, H, W] = this.needImage(name, 'convolution');
    const [kh, kw] = p.kernel;
    const O = p.outChannels;
    if (p.weight.length !== O * C * kh * kw) {
      throw badModel(this.fileName, `convolution ${quoteName(name)} has ${p.weight.length} weights, but ${O} output channels × ${C} input channels × ${kh}×${kw} kernel = ${O * C * kh * kw} are needed (does the input have ${C} channels?).`);
    }
    if (p.bias && p.bias.length !== O) throw badModel(this.fileName, `convolution ${quoteName(name)} has ${p.bias.length} biases for ${O} output channels.`);
    const ints = [kh, kw, ...p.stride, ...p.dilation];
    if (!ints.every((v) => Number.isSafeInteger(v) && v > 0) || !p.padding.every((v) => Number.isSafeInteger(v) && v >= 0)) {
      throw badModel(this.fileName, `convolution ${quoteName(name)} has invalid kernel/stride/padding/dilation (${JSON.stringify({ kernel: p.kernel, stride: p.stride, padding: p.padding, dilation: p.dilation })}).`);
    }
    this.checkPadding(name, 'convolution', [H, W], [p.dilation[0] * (kh - 1) + 1, p.dilation[1] * (kw - 1) + 1], p.padding);
    const OH = windowOut(H, kh, p.stride[0], p.padding[0], p.padding[2], p.dilation[0]);
    const OW = windowOut(W, kw, p.stride[1], p.padding[1], p.padding[3], p.dilation[1]);
    if (OH <= 0 || OW <= 0) throw badModel(this.fileName, `convolution ${quoteName(name)} with a ${kh}×${kw} kernel does not fit its ${H}×${W} input.`);
    this.checkUnits(`the output of convolution ${quoteName(name)}`, O * OH * OW);
    const layer: Conv2dLayer = {
      kind: 'conv2d', name, inShape: [C, H, W], outShape: [O, OH, OW], inFeatures: C * H * W, outFeatures: O * OH * OW,
      weight: p.weight, bias: p.bias ?? new Float64Array(O), kernel: [kh, kw], stride: [...p.stride], padding: [...p.padding],
      dilation: [...p.dilation], activation: 'linear',
    };
    this.push(layer, [O, OH, OW]);
    this.foldable = true;
  }

  /**
   * Max or average pooling, floor mode. Padded max pooling ignores the padding (it never wins);
   * padded average pooling is refused by the loaders, because frameworks disagree on whether
   * the padding counts in the mean.
   */
  pool2d(kind: 'maxpool2d' | 'avgpool2d', name: string, kernel: [number, number], stride: [number, number], padding: Pad4 = [0, 0, 0, 0]): void {
    if (!this.checkOpen(name)) return;
    const [C, H, W] = this.needImage(name, kind === 'maxpool2d' ? 'max pooling' : 'average pooling');
    if (![...kernel, ...stride].every((v) => Number.isSafeInteger(v) && v > 0) || !padding.every((v) => Number.isSafeInteger(v) && v >= 0)) {
      throw badModel(this.fileName, `pooling ${quoteName(name)} has invalid kernel/stride/padding (${JSON.stringify({ kernel, stride, padding })}).`);
    }
    this.checkPadding(name, 'pooling', [H, W], kernel, padding);
    const OH = windowOut(H, kernel[0], stride[0], padding[0], padding[2]);
    const OW = windowOut(W, kernel[1], stride[1], padding[1], padding[3]);
    if (OH <= 0 || OW <= 0) throw badModel(this.fileName, `pooling ${quoteName(name)} with a ${kernel[0]}×${kernel[1]} window does not fit its ${H}×${W} input.`);
    this.checkUnits(`the output of pooling ${quoteName(name)}`, C * OH * OW);
    const layer: Pool2dLayer = {
      kind, name, inShape: [C, H, W], outShape: [C, OH, OW], inFeatures: C * H * W, outFeatures: C * OH * OW,
      kernel: [...kernel], stride: [...stride], padding: [...padding], activation: 'linear',
    };
    this.push(layer, [C, OH, OW]);
    this.foldable = false;
  }

  /** Global average pooling: one window over the whole map ([C,H,W] → [C,1,1]). */
  globalAvgPool(name: string): void {
    if (!this.checkOpen(name)) return;
    const [, H, W] = this.needImage(name, 'global average pooling');
    this.pool2d('avgpool2d', name, [H, W], [H, W]);
  }

  /** Dense layer on the flat data; weight row-major [outF][inF]. */
  dense(name: string, weight: Float64Array, bias: Float64Array | null, outF: number, inF: number): void {
    if (!this.checkOpen(name)) return;
    if (this.shape) {
      throw badModel(this.fileName, `dense layer ${quoteName(name)} follows image-shaped data [${this.shape.join(', ')}] without a Flatten.`);
    }
    if (inF !== this.size) throw badModel(this.fileName, `layer ${quoteName(name)} expects ${inF} inputs but the previous layer gives ${this.size}.`);
    this.checkUnits(`dense layer ${quoteName(name)}`, outF);
    if (weight.length !== outF * inF) throw badModel(this.fileName, `layer ${quoteName(name)} has ${weight.length} weights, not ${outF}×${inF}.`);
    if (bias && bias.length !== outF) throw badModel(this.fileName, `layer ${quoteName(name)} has ${bias.length} biases for ${outF} outputs.`);
    const layer: DenseLayer = { kind: 'dense', name, inFeatures: inF, outFeatures: outF, weight, bias: bias ?? new Float64Array(outF), activation: 'linear' };
    this.push(layer, null, outF);
    this.foldable = true;
  }

  /**
   * Eval-mode BatchNorm folded into the conv/dense right before it (CONV.md §3):
   * scale = γ/sqrt(var + eps), W'[o] = W[o]·scale[o], b' = (b − mean)·scale + β.
   * A BatchNorm anywhere else is recorded as unsupported.
   */
  batchNorm(name: string, gamma: Float64Array, beta: Float64Array, mean: Float64Array, variance: Float64Array, eps: number): void {
    if (!this.checkOpen(name)) return;
    const last = this.layers[this.layers.length - 1];
    if (!this.foldable || !last || (last.kind !== 'conv2d' && last.kind !== 'dense')) {
      this.structural.push(`BatchNormalization ${quoteName(name)} does not directly follow a convolution or dense layer, so it cannot be folded into one`);
      return;
    }
    const channels = last.kind === 'conv2d' ? last.outShape[0] : last.outFeatures;
    for (const [what, arr] of [['scale (gamma)', gamma], ['bias (beta)', beta], ['mean', mean], ['variance', variance]] as const) {
      if (arr.length !== channels) throw badModel(this.fileName, `BatchNormalization ${quoteName(name)} has ${arr.length} values of ${what} for ${channels} channels of ${quoteName(last.name)}.`);
    }
    const per = last.weight.length / channels;
    for (let o = 0; o < channels; o++) {
      const scale = gamma[o] / Math.sqrt(variance[o] + eps);
      for (let k = 0; k < per; k++) last.weight[o * per + k] = last.weight[o * per + k] * scale;
      last.bias[o] = (last.bias[o] - mean[o]) * scale + beta[o];
    }
    this.notes.push(`BatchNormalization ${quoteName(name)} folded into ${quoteName(last.name)} (W' = W·γ/√(var+ε), b' = (b − mean)·γ/√(var+ε) + β).`);
  }

  relu(name: string): void {
    if (!this.checkOpen(name)) return;
    const last = this.layers[this.layers.length - 1];
    if (!last) {
      this.structural.push(`ReLU ${quoteName(name)} acts on the raw input before any layer`);
      return;
    }
    last.activation = 'relu';
    this.foldable = false;
  }

  /** C-major flatten: a no-op on the data, the shape becomes a flat vector. */
  flatten(): void {
    if (this.shape) this.foldable = false;
    this.shape = null;
  }

  /** A final Softmax/LogSoftmax: not part of the explained function. */
  finalSoftmax(name: string, op: string): void {
    if (!this.checkOpen(name)) return;
    this.endedBy = `${op} ${quoteName(name)}`;
    this.notes.push(`${op} ${quoteName(name)} at the output removed: DTD Lens explains the logit before it, not the ${op === 'LogSoftmax' ? 'log-probability' : 'probability'}.`);
  }

  /** Records a structural problem (reported together with the others by build()). */
  problem(text: string): void {
    this.structural.push(text);
  }

  private push(layer: Layer, shape: Shape3 | null, size?: number): void {
    this.layers.push(layer);
    this.shape = shape;
    this.size = shape ? shape[0] * shape[1] * shape[2] : size!;
  }

  build(format: string, outputSelection: OutputSelection | null = null, supportedText = ''): Network {
    if (this.structural.length > 0) {
      const list = this.structural.length === 1 ? this.structural[0] : this.structural.length > 10 ? `${this.structural.slice(0, 10).join('; ')}; and ${this.structural.length - 10} more` : `${this.structural.slice(0, -1).join('; ')}; and ${this.structural[this.structural.length - 1]}`;
      throw unsupported(this.fileName, `${list}.${supportedText ? ` ${supportedText}` : ''}`);
    }
    if (this.layers.length === 0) throw unsupported(this.fileName, 'the model has no convolution or dense layer, so there is nothing for DTD to explain.');
    const net: Network = {
      inputSize: typeof this.input === 'number' ? this.input : this.input[0] * this.input[1] * this.input[2],
      layers: this.layers,
      outputSelection,
      source: { format, file: this.fileName },
      notes: this.notes,
    };
    if (typeof this.input !== 'number') net.inputShape = [...this.input] as Shape3;
    return net;
  }
}

/** An unsupported-operator message naming each offender and what is supported. */
export function unsupportedList(fileName: string, offenders: string[], supported: readonly string[]): Error {
  const list = offenders.length === 1 ? offenders[0] : offenders.length > 10 ? `${offenders.slice(0, 10).join(', ')} and ${offenders.length - 10} more` : `${offenders.slice(0, -1).join(', ')} and ${offenders[offenders.length - 1]}`;
  return unsupported(fileName, `${list}, which DTD Lens does not support yet (supported: ${supported.join(', ')}).`);
}
