// Per-layer-kind linear operators. Every rule of DTD and LRP needs only the
// layer's forward map F(V, c, u) (weights V, bias c, input u) and its
// transpose Fᵀ(V, g), for weight variants V ∈ {W, W⁺, W⁻, W∘W, W+γW⁺, W+γW⁻}
// (fixtures CONV.md §5). A dense layer is a matrix product; a convolution is
// the same linear layer with shared weights (ops.conv2d / conv2dTranspose,
// zero padding); average pooling is a fixed positive linear map. The weight
// variants are elementwise in the stored weights, so one code path derives
// them for every kind. Max pooling is not linear: forwardLayer takes the real
// maximum and routeMaxPool sends relevance/gradient to the window's first
// maximum.

import type { AffineLayer, Conv2dLayer, Layer, Pool2dLayer } from './network';
import type { ConvGeom, Mat, Ops, PoolGeom } from './ops/ops';
import { quoteName } from '../protocol';

/** The convolution's geometry; for a conv-transpose layer, that of the convolution it is the adjoint of (from its output to its input). */
export function convGeom(layer: Conv2dLayer): ConvGeom {
  if (layer.kind === 'convtranspose2d') {
    const [pt, pl, pb, pr] = layer.padding;
    const [oh, ow] = layer.outputPadding ?? [0, 0];
    // output_padding adds rows/columns at the bottom/right that no tap of the adjoint convolution reads.
    return { inShape: layer.outShape, outShape: layer.inShape, kernel: layer.kernel, stride: layer.stride, padding: [pt, pl, pb + oh, pr + ow], dilation: layer.dilation };
  }
  return { inShape: layer.inShape, outShape: layer.outShape, kernel: layer.kernel, stride: layer.stride, padding: layer.padding, dilation: layer.dilation };
}

/** An affine layer's scale (or shift) over every unit as a [1, n] row. */
export function affineRow(layer: AffineLayer, which: 'scale' | 'shift'): Float64Array {
  const v = layer[which];
  const per = layer.outFeatures / layer.shape[0];
  return Float64Array.from({ length: layer.outFeatures }, (_, j) => v[Math.floor(j / per)]);
}

export function poolGeom(layer: Pool2dLayer): PoolGeom {
  return { inShape: layer.inShape, outShape: layer.outShape, kernel: layer.kernel, stride: layer.stride, padding: layer.padding, countIncludePad: layer.countIncludePad === true };
}

/** Rows × cols of the stored weight matrix: dense [out, in], conv [O, C·kh·kw]. */
export function weightDims(layer: Layer): [number, number] {
  if (layer.kind === 'dense') return [layer.outFeatures, layer.inFeatures];
  if (layer.kind === 'conv2d') return [layer.outShape[0], layer.inShape[0] * layer.kernel[0] * layer.kernel[1]];
  if (layer.kind === 'convtranspose2d') return [layer.inShape[0], layer.outShape[0] * layer.kernel[0] * layer.kernel[1]];
  throw new Error(`weightDims: ${layer.kind} has no weights`);
}

/** The bias as a [1, out] row over all output units (a conv bias repeats over each channel's positions). */
export function biasRow(layer: Layer): Float64Array {
  if (layer.kind === 'dense') return layer.bias;
  if (layer.kind === 'affine') return affineRow(layer, 'shift');
  const out = new Float64Array(layer.outFeatures);
  if (layer.kind === 'conv2d' || layer.kind === 'convtranspose2d') {
    const per = layer.outShape[1] * layer.outShape[2];
    for (let j = 0; j < out.length; j++) out[j] = layer.bias[Math.floor(j / per)];
  }
  return out;
}

/** F(V, none, U): U [B, in] → [B, out]. V is ignored for average pooling (its weights are fixed). */
export function linearForward<M extends Mat>(ops: Ops<M>, layer: Layer, U: M, V: M | null): M {
  switch (layer.kind) {
    case 'dense':
      return ops.matmul(U, V!, true);
    case 'conv2d':
      return ops.conv2d(U, V!, convGeom(layer));
    case 'convtranspose2d':
      return ops.conv2dTranspose(U, V!, convGeom(layer));
    case 'avgpool2d':
      return ops.avgPool2d(U, poolGeom(layer));
    case 'affine':
      return ops.mul(U, V!);
    default:
      throw new Error(`linearForward: ${layer.kind} ${quoteName(layer.name)} is not a one-input linear map`);
  }
}

/** Fᵀ(V, G): G [B, out] → [B, in]. */
export function linearTranspose<M extends Mat>(ops: Ops<M>, layer: Layer, G: M, V: M | null): M {
  switch (layer.kind) {
    case 'dense':
      return ops.matmul(G, V!, false);
    case 'conv2d':
      return ops.conv2dTranspose(G, V!, convGeom(layer));
    case 'convtranspose2d':
      return ops.conv2d(G, V!, convGeom(layer));
    case 'avgpool2d':
      return ops.avgPool2dTranspose(G, poolGeom(layer));
    case 'affine':
      return ops.mul(G, V!);
    default:
      throw new Error(`linearTranspose: ${layer.kind} ${quoteName(layer.name)} is not a one-input linear map`);
  }
}
