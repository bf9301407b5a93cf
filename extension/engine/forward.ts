// Exact float64 single-point network math: forward pass, gradients of the
// explained output and of a sub-network, activation patterns. Used by the
// recursive full-backward decomposition and the diagnostics; batched work goes
// through the Ops interface instead (trainFree.ts). Conv and pooling layers
// run the shared loops of ops/kernels.ts (max pooling: the real maximum).

import { biasRow, convGeom, poolGeom } from './layers';
import type { DenseLayer, Layer, Network } from './network';
import { avgPool, conv2dForward, conv2dTranspose, maxPoolBackward, maxPoolForward } from './ops/kernels';

export interface Forward {
  /** pre[l-1] = z_l, act[0] = x, act[l] = a_l. */
  pre: Float64Array[];
  act: Float64Array[];
}

export function affine(layer: DenseLayer, a: ArrayLike<number>, out = new Float64Array(layer.outFeatures)): Float64Array {
  const { weight: W, bias: b, inFeatures: n, outFeatures: m } = layer;
  for (let j = 0; j < m; j++) {
    let s = b[j];
    const o = j * n;
    for (let i = 0; i < n; i++) s += W[o + i] * a[i];
    out[j] = s;
  }
  return out;
}

/** Layer output before its activation, for every layer kind. */
export function preActivation(layer: Layer, a: ArrayLike<number>): Float64Array {
  switch (layer.kind) {
    case 'dense':
      return affine(layer, a);
    case 'conv2d': {
      const z = conv2dForward(a, layer.weight, 1, convGeom(layer), new Float64Array(layer.outFeatures));
      const b = biasRow(layer);
      for (let j = 0; j < z.length; j++) z[j] += b[j];
      return z;
    }
    case 'maxpool2d':
      return maxPoolForward(a, 1, poolGeom(layer), new Float64Array(layer.outFeatures));
    case 'avgpool2d':
      return avgPool(a, 1, poolGeom(layer), false, new Float64Array(layer.outFeatures));
  }
}

/** gᵀ·∂pre/∂a at input a: the transpose of the layer's (local) linear map. */
export function backLayer(layer: Layer, a: ArrayLike<number>, g: ArrayLike<number>): Float64Array {
  const out = new Float64Array(layer.inFeatures);
  switch (layer.kind) {
    case 'dense': {
      const n = layer.inFeatures;
      for (let j = 0; j < layer.outFeatures; j++) {
        const gj = g[j];
        if (gj === 0) continue;
        const o = j * n;
        for (let i = 0; i < n; i++) out[i] += gj * layer.weight[o + i];
      }
      return out;
    }
    case 'conv2d':
      return conv2dTranspose(g, layer.weight, 1, convGeom(layer), out);
    case 'maxpool2d':
      return maxPoolBackward(g, a, 1, poolGeom(layer), out);
    case 'avgpool2d':
      return avgPool(g, 1, poolGeom(layer), true, out);
  }
}

export function activate(layer: Layer, z: Float64Array): Float64Array {
  if (layer.activation === 'linear') return z.slice();
  const out = new Float64Array(z.length);
  for (let i = 0; i < z.length; i++) out[i] = z[i] > 0 ? z[i] : 0;
  return out;
}

/** relu'(z) with relu'(0) = 0; 1 for linear layers. */
export function activationSlope(layer: Layer, z: number): number {
  return layer.activation === 'linear' ? 1 : z > 0 ? 1 : 0;
}

/** Forward pass from the input of layer `from` (1-based) given that input. */
export function forwardFrom(net: Network, from: number, a: ArrayLike<number>): Forward {
  const pre: Float64Array[] = [];
  const act: Float64Array[] = [Float64Array.from(a)];
  for (let l = from; l <= net.layers.length; l++) {
    const layer = net.layers[l - 1];
    const z = preActivation(layer, act[act.length - 1]);
    pre.push(z);
    act.push(activate(layer, z));
  }
  return { pre, act };
}

export function forward(net: Network, x: ArrayLike<number>): Forward {
  return forwardFrom(net, 1, x);
}

/** Network outputs (after the output selection). */
export function outputs(net: Network, x: ArrayLike<number>): Float64Array {
  const f = forward(net, x);
  const last = f.act[f.act.length - 1];
  const sel = net.outputSelection;
  return sel ? last.slice(sel.start, sel.stop) : last;
}

/**
 * Gradient w.r.t. the input of layer `from` of Σ_k c_k·a_L[k], where c is a
 * vector over the last layer's units (one-hot row for one output, the
 * selection's indicator for "sum of outputs").
 */
export function gradientFrom(net: Network, from: number, a: ArrayLike<number>, c: ArrayLike<number>, fwd?: Forward): Float64Array {
  const f = fwd ?? forwardFrom(net, from, a);
  let g: Float64Array = Float64Array.from(c);
  for (let l = net.layers.length; l >= from; l--) {
    const layer = net.layers[l - 1];
    const z = f.pre[l - from];
    const gz = new Float64Array(layer.outFeatures);
    for (let j = 0; j < layer.outFeatures; j++) gz[j] = g[j] * activationSlope(layer, z[j]);
    g = backLayer(layer, f.act[l - from], gz);
  }
  return g;
}

export function oneHot(n: number, k: number): Float64Array {
  const v = new Float64Array(n);
  v[k] = 1;
  return v;
}

/** Indicator of the selected outputs over the last layer ("sum of the outputs"). */
export function selectionIndicator(net: Network): Float64Array {
  const last = net.layers[net.layers.length - 1];
  const v = new Float64Array(last.outFeatures);
  const sel = net.outputSelection ?? { start: 0, stop: last.outFeatures };
  for (let k = sel.start; k < sel.stop; k++) v[k] = 1;
  return v;
}

/**
 * Activation pattern of layers from..L at a point, as one string key (the
 * local linear region's name). Units with |z| ≤ tol count as "on the
 * boundary" and are written '?' so that a root on a hinge is not mistaken for
 * a different region.
 */
export function patternFrom(net: Network, from: number, a: ArrayLike<number>, tol = 0): string {
  const f = forwardFrom(net, from, a);
  let s = '';
  for (const z of f.pre) {
    for (let i = 0; i < z.length; i++) s += Math.abs(z[i]) <= tol ? '?' : z[i] > 0 ? '1' : '0';
    s += '|';
  }
  return s;
}

/** Same region: every unit that is decided ('0'/'1') at the point agrees with the reference pattern. */
export function samePattern(ref: string, at: string): boolean {
  if (ref.length !== at.length) return false;
  for (let i = 0; i < ref.length; i++) {
    if (at[i] !== ref[i] && at[i] !== '?' && ref[i] !== '?') return false;
  }
  return true;
}

export function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

export function distance(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] - b[i]) ** 2;
  return Math.sqrt(s);
}

export function sum(a: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i];
  return s;
}
