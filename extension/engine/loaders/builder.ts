// Builds the network IR layer by layer while tracking the data's shape, so every
// loader (ONNX, fixture JSON, safetensors/PyTorch + sidecar, TF.js, Keras) shares
// one implementation of the shape arithmetic, BatchNorm folding, ReLU placement
// and the "final Softmax is dropped" rule. The data is NCHW flattened C-major
// (flat[c·H·W + h·W + w]); a C-major Flatten is therefore a no-op on it.

import type { Activation, ActivationParams, AddLayer, AffineLayer, ConcatLayer, Conv2dLayer, DenseLayer, Layer, Network, OutputSelection, Pool2dLayer, Shape3 } from '../network';
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
  /** Grouped convolution: weight is [O][C/groups][kh][kw] (the file's layout); stored dense block-diagonal. Default 1. */
  groups?: number;
}

/** A tensor of the graph being built: 0 = the network input, k = layer k's output. */
export type TensorRef = number;

/** Output length of a window op along one axis (floor mode). */
export function windowOut(size: number, k: number, s: number, padBefore: number, padAfter: number, d = 1): number {
  return Math.floor((size + padBefore + padAfter - d * (k - 1) - 1) / s) + 1;
}

export class NetworkBuilder {
  readonly layers: Layer[] = [];
  readonly notes: string[] = [];
  private shape: Shape3 | null;
  private size: number;
  /** The tensor the next layer reads (0 = the input). */
  private cur: TensorRef = 0;
  /** Per tensor: its shape ([C,H,W], or null when flat) and size, how many layers read it, and whether a BatchNorm may fold into the layer that made it. */
  private readonly tensors: { shape: Shape3 | null; size: number; readers: number; foldable: boolean }[] = [];
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
    this.tensors.push({ shape: this.shape, size: this.size, readers: 0, foldable: false });
  }

  /** The tensor the next layer will read. */
  get current(): TensorRef {
    return this.cur;
  }

  /** Makes tensor t the one the next layer reads (a branch of a graph). */
  use(t: TensorRef): void {
    const info = this.tensors[t];
    if (!info) throw badModel(this.fileName, `internal: tensor ${t} does not exist.`);
    this.cur = t;
    this.shape = info.shape ? ([...info.shape] as Shape3) : null;
    this.size = info.size;
  }

  /** Shape of tensor t: [C, H, W], or null when flat. */
  shapeOf(t: TensorRef): Shape3 | null {
    const sh = this.tensors[t]?.shape;
    return sh ? ([...sh] as Shape3) : null;
  }

  sizeOf(t: TensorRef): number {
    return this.tensors[t]?.size ?? 0;
  }

  /** Whether the layer that made the current tensor may take a BatchNorm or an activation into itself (nothing else reads its output yet and it has no activation). */
  private fusable(): Layer | null {
    const t = this.cur;
    if (t === 0 || this.tensors[t].readers > 0) return null;
    const last = this.layers[t - 1];
    return last.activation === 'linear' ? last : null;
  }

  /** Residual join: the elementwise sum of tensors of one shape. */
  add(name: string, inputs: TensorRef[], exclusive = true): void {
    if (!this.checkOpen(name)) return;
    void exclusive;
    if (inputs.length < 2) throw badModel(this.fileName, `add ${quoteName(name)} needs at least two inputs.`);
    const first = this.view(inputs[0]);
    for (const t of inputs) {
      const info = this.view(t);
      const same = info && info.size === first.size && (info.shape === null) === (first.shape === null) && (!info.shape || info.shape.every((d, i) => d === first.shape![i]));
      if (!same) {
        const show = (k: TensorRef) => (this.view(k)?.shape ? this.view(k).shape!.join('×') : String(this.view(k)?.size));
        throw badModel(this.fileName, `add ${quoteName(name)} sums tensors of shapes ${inputs.map(show).join(' and ')}; DTD Lens supports sums of equal shapes (no broadcasting).`);
      }
    }
    const shape = first.shape ? [...first.shape] : [first.size];
    const layer: AddLayer = { kind: 'add', name, inputs: [...inputs], shape, inFeatures: first.size, outFeatures: first.size, activation: 'linear' };
    this.pushGraph(layer, inputs, first.shape ? ([...first.shape] as Shape3) : null, first.size, false);
  }

  /** Channel concatenation (axis 1 of NCHW; for flat tensors, the features). `flat`: join every input as a flat vector (e.g. flattened maps of different sizes). */
  concat(name: string, inputs: TensorRef[], flat = false): void {
    if (!this.checkOpen(name)) return;
    if (inputs.length < 1) throw badModel(this.fileName, `concat ${quoteName(name)} has no inputs.`);
    const infos = inputs.map((t) => (flat ? { shape: null, size: this.view(t).size } : this.view(t)));
    const img = infos[0].shape;
    if (img && !infos.every((i) => i.shape && i.shape[1] === img[1] && i.shape[2] === img[2])) {
      throw badModel(this.fileName, `concat ${quoteName(name)} joins maps of sizes ${infos.map((i) => (i.shape ? `${i.shape[1]}×${i.shape[2]}` : `${i.size} (flat)`)).join(', ')}; channel concatenation needs one height and width.`);
    }
    if (!img && infos.some((i) => i.shape)) throw badModel(this.fileName, `concat ${quoteName(name)} mixes flat and image-shaped inputs.`);
    const parts = infos.map((i) => i.size);
    const total = parts.reduce((a, b) => a + b, 0);
    this.checkUnits(`the output of concat ${quoteName(name)}`, total);
    const shape: Shape3 | null = img ? [infos.reduce((a, i) => a + i.shape![0], 0), img[1], img[2]] : null;
    if (inputs.length === 1) {
      this.use(inputs[0]);
      if (flat) this.flatten();
      return;
    }
    const layer: ConcatLayer = {
      kind: 'concat', name, inputs: [...inputs], parts, inShapes: infos.map((i) => (i.shape ? [...i.shape] : [i.size])), shape: shape ? [...shape] : [total],
      inFeatures: total, outFeatures: total, activation: 'linear',
    };
    this.pushGraph(layer, inputs, shape, total, false);
  }

  /**
   * An elementwise activation on the current tensor: folded into the layer
   * that made it when nothing else reads that layer's output (`exclusive`:
   * the loader knows no later layer reads the pre-activation either), else
   * carried by an identity affine layer of its own.
   */
  activation(name: string, act: Activation, params?: ActivationParams, exclusive = true): void {
    if (!this.checkOpen(name)) return;
    if (act === 'linear') return;
    const target = exclusive ? this.fusable() : null;
    if (target) {
      target.activation = act;
      if (params) target.activationParams = params;
      this.tensors[this.cur].foldable = false;
      return;
    }
    const C = this.shape ? this.shape[0] : this.size;
    this.affine(name, new Float64Array(C).fill(1), new Float64Array(C), act, params);
  }

  /** y = scale[c]·x + shift[c] per channel of the current tensor (per feature when flat). */
  affine(name: string, scale: Float64Array, shift: Float64Array, act: Activation = 'linear', params?: ActivationParams): void {
    if (!this.checkOpen(name)) return;
    const C = this.shape ? this.shape[0] : this.size;
    if (scale.length !== C || shift.length !== C) throw badModel(this.fileName, `layer ${quoteName(name)} has ${scale.length} scales for ${C} channels.`);
    const shape = this.shape ? [...this.shape] : [this.size];
    const layer: AffineLayer = { kind: 'affine', name, shape, scale, shift, inFeatures: this.size, outFeatures: this.size, activation: act, ...(params ? { activationParams: params } : {}) };
    this.pushGraph(layer, [this.cur], this.shape ? ([...this.shape] as Shape3) : null, this.size, false);
  }

  /** A reshape that keeps the flat C-major data: only the recorded shape changes (sizes must agree). */
  reshape(name: string, shape: Shape3 | number): void {
    const size = typeof shape === 'number' ? shape : shape[0] * shape[1] * shape[2];
    if (size !== this.size) throw badModel(this.fileName, `reshape ${quoteName(name)} to [${typeof shape === 'number' ? shape : shape.join(', ')}] does not keep the ${this.size} values of its input.`);
    if (typeof shape === 'number') {
      this.flatten();
      return;
    }
    this.shape = [...shape] as Shape3;
  }

  /** A tensor's shape and size as the next layer sees it: the current tensor through any reshape/flatten applied to it since. */
  private view(t: TensorRef): { shape: Shape3 | null; size: number } {
    return t === this.cur ? { shape: this.shape, size: this.size } : this.tensors[t];
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
    const G = p.groups ?? 1;
    if (!Number.isSafeInteger(G) || G < 1 || C % G !== 0 || O % G !== 0) {
      throw badModel(this.fileName, `convolution ${quoteName(name)} has ${G} groups, which do not divide its ${C} input and ${O} output channels.`);
    }
    if (p.weight.length !== O * (C / G) * kh * kw) {
      throw badModel(this.fileName, `convolution ${quoteName(name)} has ${p.weight.length} weights, but ${O} output channels × ${C / G} input channels${G > 1 ? ` per group (${G} groups)` : ''} × ${kh}×${kw} kernel = ${O * (C / G) * kh * kw} are needed (does the input have ${C} channels?).`);
    }
    // A grouped kernel becomes its dense block-diagonal equivalent (zeros outside each group; RESIDUAL.md §3–4).
    this.checkUnits(`the dense kernel of convolution ${quoteName(name)}`, O * C * kh * kw);
    const weight = G === 1 ? p.weight : expandGroups(p.weight, O, C, G, kh * kw);
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
      weight, bias: p.bias ?? new Float64Array(O), kernel: [kh, kw], stride: [...p.stride], padding: [...p.padding],
      dilation: [...p.dilation], activation: 'linear', ...(G > 1 ? { groups: G } : {}),
    };
    this.push(layer, [O, OH, OW]);
  }

  /**
   * Transposed convolution (ONNX ConvTranspose, groups = 1): weight [C][O][kh][kw];
   * output size (H − 1)·s − pads + d·(k − 1) + outputPadding + 1.
   */
  convTranspose2d(name: string, p: ConvParams & { outputPadding?: [number, number] }): void {
    if (!this.checkOpen(name)) return;
    const [C, H, W] = this.needImage(name, 'transposed convolution');
    const [kh, kw] = p.kernel;
    const O = p.outChannels;
    if ((p.groups ?? 1) !== 1) throw badModel(this.fileName, `transposed convolution ${quoteName(name)} has ${p.groups} groups; DTD Lens supports ConvTranspose with one group.`);
    if (p.weight.length !== C * O * kh * kw) throw badModel(this.fileName, `transposed convolution ${quoteName(name)} has ${p.weight.length} weights, but ${C}×${O}×${kh}×${kw} are needed.`);
    if (p.bias && p.bias.length !== O) throw badModel(this.fileName, `transposed convolution ${quoteName(name)} has ${p.bias.length} biases for ${O} output channels.`);
    const [oph, opw] = p.outputPadding ?? [0, 0];
    const ints = [kh, kw, ...p.stride, ...p.dilation];
    if (!ints.every((v) => Number.isSafeInteger(v) && v > 0) || !p.padding.every((v) => Number.isSafeInteger(v) && v >= 0) || !(oph >= 0 && oph < Math.max(p.stride[0], p.dilation[0]) && opw >= 0 && opw < Math.max(p.stride[1], p.dilation[1]))) {
      throw badModel(this.fileName, `transposed convolution ${quoteName(name)} has invalid kernel/stride/padding/dilation/output padding.`);
    }
    this.checkPadding(name, 'transposed convolution', [H, W], [p.dilation[0] * (kh - 1) + 1, p.dilation[1] * (kw - 1) + 1], p.padding);
    const OH = (H - 1) * p.stride[0] - p.padding[0] - p.padding[2] + p.dilation[0] * (kh - 1) + oph + 1;
    const OW = (W - 1) * p.stride[1] - p.padding[1] - p.padding[3] + p.dilation[1] * (kw - 1) + opw + 1;
    if (OH <= 0 || OW <= 0) throw badModel(this.fileName, `transposed convolution ${quoteName(name)} gives an empty output.`);
    this.checkUnits(`the output of transposed convolution ${quoteName(name)}`, O * OH * OW);
    const layer: Conv2dLayer = {
      kind: 'convtranspose2d', name, inShape: [C, H, W], outShape: [O, OH, OW], inFeatures: C * H * W, outFeatures: O * OH * OW,
      weight: p.weight, bias: p.bias ?? new Float64Array(O), kernel: [kh, kw], stride: [...p.stride], padding: [...p.padding],
      dilation: [...p.dilation], activation: 'linear', ...(oph || opw ? { outputPadding: [oph, opw] as [number, number] } : {}),
    };
    this.push(layer, [O, OH, OW]);
  }

  /**
   * Max or average pooling, floor mode. Padded max pooling ignores the padding (it never wins);
   * for padded average pooling the loader says whether the padding counts in the mean
   * (`countIncludePad`, as the file states it; frameworks differ; absent = it does not).
   */
  pool2d(kind: 'maxpool2d' | 'avgpool2d', name: string, kernel: [number, number], stride: [number, number], padding: Pad4 = [0, 0, 0, 0], countIncludePad?: boolean): void {
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
      ...(kind === 'avgpool2d' && countIncludePad !== undefined ? { countIncludePad } : {}),
    };
    this.push(layer, [C, OH, OW], undefined, false);
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
  }

  /**
   * Eval-mode BatchNorm folded into the conv/dense right before it (CONV.md §3):
   * scale = γ/sqrt(var + eps), W'[o] = W[o]·scale[o], b' = (b − mean)·scale + β.
   * A BatchNorm anywhere else becomes an affine layer y = scale·x + shift per
   * channel (`exclusive`: the loader knows nothing else reads the conv's output).
   */
  batchNorm(name: string, gamma: Float64Array, beta: Float64Array, mean: Float64Array, variance: Float64Array, eps: number, exclusive = true): void {
    if (!this.checkOpen(name)) return;
    const cand = exclusive && this.tensors[this.cur].foldable && this.shapeMatchesProducer() ? this.fusable() : null;
    const last = cand && (cand.kind === 'conv2d' || cand.kind === 'convtranspose2d' || cand.kind === 'dense') ? cand : null;
    if (!last) {
      const C = this.shape ? this.shape[0] : this.size;
      for (const [what, arr] of [['scale (gamma)', gamma], ['bias (beta)', beta], ['mean', mean], ['variance', variance]] as const) {
        if (arr.length !== C) throw badModel(this.fileName, `BatchNormalization ${quoteName(name)} has ${arr.length} values of ${what} for ${C} channels.`);
      }
      const scale = Float64Array.from(gamma, (g, c) => g / Math.sqrt(variance[c] + eps));
      const shift = Float64Array.from(beta, (b, c) => b - mean[c] * scale[c]);
      this.affine(name, scale, shift);
      this.notes.push(`BatchNormalization ${quoteName(name)} follows no convolution or dense layer it could fold into: kept as a per-channel affine layer (relevance passes as its gradient, scale × R).`);
      return;
    }
    if (last.kind === 'convtranspose2d') {
      // Per output channel o, the weight of a transposed convolution is W[c][o][·]: scale every o-slice.
      const [C, O] = [last.inShape[0], last.outShape[0]];
      const per = last.kernel[0] * last.kernel[1];
      for (const [what, arr] of [['scale (gamma)', gamma], ['bias (beta)', beta], ['mean', mean], ['variance', variance]] as const) {
        if (arr.length !== O) throw badModel(this.fileName, `BatchNormalization ${quoteName(name)} has ${arr.length} values of ${what} for ${O} channels of ${quoteName(last.name)}.`);
      }
      for (let o = 0; o < O; o++) {
        const scale = gamma[o] / Math.sqrt(variance[o] + eps);
        for (let c = 0; c < C; c++) for (let k = 0; k < per; k++) last.weight[(c * O + o) * per + k] *= scale;
        last.bias[o] = (last.bias[o] - mean[o]) * scale + beta[o];
      }
      this.notes.push(`BatchNormalization ${quoteName(name)} folded into ${quoteName(last.name)}.`);
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

  relu(name: string, exclusive = true): void {
    this.activation(name, 'relu', undefined, exclusive);
  }

  /** C-major flatten: a no-op on the data, the shape becomes a flat vector. */
  flatten(): void {
    this.shape = null;
  }

  /** Whether the current view still has the shape its producer made (no flatten/reshape in between, so a BatchNorm's channels are the producer's). */
  private shapeMatchesProducer(): boolean {
    const rec = this.tensors[this.cur];
    return (rec.shape === null) === (this.shape === null);
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

  /** Appends a layer reading the current tensor; its output becomes the current tensor. */
  private push(layer: Layer, shape: Shape3 | null, size?: number, foldable = true): void {
    this.pushGraph(layer, [this.cur], shape, shape ? shape[0] * shape[1] * shape[2] : size!, foldable);
  }

  private pushGraph(layer: Layer, inputs: TensorRef[], shape: Shape3 | null, size: number, foldable: boolean): void {
    const l = this.layers.length + 1;
    // A chain (each layer reads the one before) carries no `inputs`; graphs name them.
    if (inputs.length !== 1 || inputs[0] !== l - 1 || layer.kind === 'add' || layer.kind === 'concat') layer.inputs = [...inputs];
    for (const t of inputs) this.tensors[t].readers++;
    this.layers.push(layer);
    this.tensors.push({ shape: shape ? ([...shape] as Shape3) : null, size, readers: 0, foldable });
    this.cur = l;
    this.shape = shape ? ([...shape] as Shape3) : null;
    this.size = size;
  }

  build(format: string, outputSelection: OutputSelection | null = null, supportedText = ''): Network {
    if (this.structural.length > 0) throw refusal(this.fileName, (list) => `${list}.${supportedText ? ` ${supportedText}` : ''}`, this.structural, '; ');
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

/** [O][C/G][k] grouped weights → [O][C][k] block-diagonal (output channel o sees only its group's input channels). */
export function expandGroups(w: Float64Array, O: number, C: number, G: number, k: number): Float64Array {
  const Cg = C / G, Og = O / G;
  const out = new Float64Array(O * C * k);
  for (let o = 0; o < O; o++) {
    const g = Math.floor(o / Og);
    for (let c = 0; c < Cg; c++) out.set(w.subarray((o * Cg + c) * k, (o * Cg + c + 1) * k), (o * C + g * Cg + c) * k);
  }
  return out;
}

/** The longest a refusal (unsupportedList, build()'s structural problems) should be, in characters. */
export const REFUSAL_CHARS = 400;

/** The name in a problem's text: its first quoted name ('conv1'), an unnamed node (#3 (unnamed)) or a list index (layer 3). */
const NAME_IN_TEXT = /'(?:[^'\\]|\\.)*'|#\d+ \(unnamed\)|\blayer \d+\b/;

/** The operator/layer kind a problem's text names ("Tanh", "Dense with activation 'tanh'", "\"gelu\""), or null. */
function kindOf(template: string): string | null {
  const op = /uses operator (\S+)/.exec(template) ?? /has type ("[^"]*"|\S+)/.exec(template);
  if (op) return op[1];
  const paren = /\(([^()]+)\)(.*)$/.exec(template);
  return paren ? `${paren[1]}${paren[2]}` : null;
}

function joinList(parts: string[], sep: string): string {
  if (parts.length <= 1) return parts.join('');
  return `${parts.slice(0, -1).join(sep)}${sep === ', ' ? ' and ' : `${sep}and `}${parts[parts.length - 1]}`;
}

/**
 * The one home of how a list of problems is shown: problems that differ only in the name
 * they quote are one group, shown as its first problem and a count ("node 'a' uses operator
 * Tanh and 11 more Tanh"); when that is longer than `budget` characters, the later groups
 * shrink to their kind and count ("Tanh ×12"), and groups that still do not fit are counted.
 * Every distinct kind that fits is named; the first group keeps its name.
 */
export function groupProblems(items: readonly string[], budget: number, sep = ', '): string {
  const groups = new Map<string, { first: string; count: number; kind: string | null }>();
  for (const it of items) {
    const key = it.replace(NAME_IN_TEXT, '*');
    const g = groups.get(key);
    if (g) g.count++;
    else groups.set(key, { first: it, count: 1, kind: kindOf(key) });
  }
  const gs = [...groups.values()];
  const clip = (t: string, n: number) => (t.length > n ? `${t.slice(0, n - 1)}…` : t);
  const full = (g: (typeof gs)[number]) => (g.count === 1 ? g.first : `${g.first} and ${g.count - 1} more ${g.kind ?? 'like it'}`);
  const short = (g: (typeof gs)[number]) => `${g.kind ? clip(g.kind, 60) : clip(g.first, 60)}${g.count > 1 ? ` ×${g.count}` : ''}`;
  const parts = gs.map(full);
  // Shrink from the last group back to the second, then the first.
  for (let i = parts.length - 1; i >= 0 && joinList(parts, sep).length > budget; i--) parts[i] = i === 0 ? clip(full(gs[0]), Math.max(60, Math.floor(budget / 2))) : short(gs[i]);
  if (joinList(parts, sep).length <= budget) return joinList(parts, sep);
  // Still too long (many kinds): as many as fit, then how many more.
  let shown = parts.length;
  const counted = () => {
    const total = gs.slice(shown).reduce((a, g) => a + g.count, 0);
    return total === gs.length - shown ? `${total} more` : `${total} more of ${gs.length - shown} other kinds`;
  };
  while (shown > 1 && joinList([...parts.slice(0, shown), counted()], sep).length > budget) shown--;
  return joinList([...parts.slice(0, shown), counted()], sep);
}

/** An 'unsupported' error whose grouped problem list (groupProblems) makes the whole message at most REFUSAL_CHARS long when it can. */
function refusal(fileName: string, message: (list: string) => string, items: readonly string[], sep: string): Error {
  const fixed = unsupported(fileName, message('')).message.length;
  return unsupported(fileName, message(groupProblems(items, Math.max(120, REFUSAL_CHARS - fixed), sep)));
}

/** How much of a refusal the list of what is supported may take: the offenders come first. */
export const SUPPORTED_CHARS = 170;

/** What is supported, in at most SUPPORTED_CHARS characters: the first items of the list (its order puts the main ones first), then how many more and where they are listed. */
export function supportedText(supported: readonly string[]): string {
  const all = supported.join(', ');
  if (all.length <= SUPPORTED_CHARS) return all;
  let n = supported.length;
  const text = (k: number) => `${supported.slice(0, k).join(', ')} and ${supported.length - k} more, see docs/formats.md`;
  while (n > 1 && text(n).length > SUPPORTED_CHARS) n--;
  return text(n);
}

/** An unsupported-operator message naming each offender (grouped, groupProblems) and what is supported. */
export function unsupportedList(fileName: string, offenders: string[], supported: readonly string[]): Error {
  return refusal(fileName, (list) => `${list}, which DTD Lens does not support yet (supported: ${supportedText(supported)}).`, offenders, ', ');
}
