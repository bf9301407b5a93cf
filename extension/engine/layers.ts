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

import type { Conv2dLayer, Layer, Pool2dLayer } from './network';
import type { ConvGeom, Mat, Ops, PoolGeom } from './ops/ops';
import { quoteName } from '../protocol';

export function convGeom(layer: Conv2dLayer): ConvGeom {
  return { inShape: layer.inShape, outShape: layer.outShape, kernel: layer.kernel, stride: layer.stride, padding: layer.padding, dilation: layer.dilation };
}

export function poolGeom(layer: Pool2dLayer): PoolGeom {
  return { inShape: layer.inShape, outShape: layer.outShape, kernel: layer.kernel, stride: layer.stride, padding: layer.padding, countIncludePad: layer.countIncludePad === true };
}

/** Rows × cols of the stored weight matrix: dense [out, in], conv [O, C·kh·kw]. */
export function weightDims(layer: Layer): [number, number] {
  if (layer.kind === 'dense') return [layer.outFeatures, layer.inFeatures];
  if (layer.kind === 'conv2d') return [layer.outShape[0], layer.inShape[0] * layer.kernel[0] * layer.kernel[1]];
  throw new Error(`weightDims: ${layer.kind} has no weights`);
}

/** The bias as a [1, out] row over all output units (a conv bias repeats over each channel's positions). */
export function biasRow(layer: Layer): Float64Array {
  if (layer.kind === 'dense') return layer.bias;
  const out = new Float64Array(layer.outFeatures);
  if (layer.kind === 'conv2d') {
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
    case 'avgpool2d':
      return ops.avgPool2d(U, poolGeom(layer));
    case 'maxpool2d':
      throw new Error(`linearForward: max pooling ${quoteName(layer.name)} is not linear`);
  }
}

/** Fᵀ(V, G): G [B, out] → [B, in]. */
export function linearTranspose<M extends Mat>(ops: Ops<M>, layer: Layer, G: M, V: M | null): M {
  switch (layer.kind) {
    case 'dense':
      return ops.matmul(G, V!, false);
    case 'conv2d':
      return ops.conv2dTranspose(G, V!, convGeom(layer));
    case 'avgpool2d':
      return ops.avgPool2dTranspose(G, poolGeom(layer));
    case 'maxpool2d':
      throw new Error(`linearTranspose: max pooling ${quoteName(layer.name)} is not linear`);
  }
}
