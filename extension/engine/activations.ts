// The one home of the elementwise activations a layer can end with
// (network.ts `Activation`): their batched forward, their slope (the
// gradient), the linear piece a pre-activation lies on (DTD's local linear
// region), their scalar form for exact per-point code, and how they are
// named to users. ReLU, leaky ReLU / PReLU and clip (ReLU6) are piecewise
// linear; sigmoid, tanh and ELU are smooth. LRP passes relevance through an
// activation unchanged (zennit's Pass rule); DTD needs piecewise-linear units.

import type { Activation, ActivationParams, Layer } from './network';
import type { Mat, Ops } from './ops/ops';

export const PIECEWISE_LINEAR: readonly Activation[] = ['relu', 'linear', 'leakyrelu', 'clip'];

export function isPiecewiseLinear(a: Activation): boolean {
  return PIECEWISE_LINEAR.includes(a);
}

/** The slope of a leaky ReLU / PReLU for flat unit index j of a layer output with `per` units per channel. */
function slopeAt(p: ActivationParams | undefined, j: number, per: number): number {
  if (p?.slopes) return p.slopes.length === 1 ? p.slopes[0] : p.slopes[Math.floor(j / per)];
  return p?.alpha ?? 0.01;
}

/** Units per channel of a layer's output (1 for vectors): the stride of per-channel slopes. */
function perChannel(layer: Layer): number {
  const n = layer.outFeatures;
  const p = layer.activationParams;
  if (!p?.slopes || p.slopes.length <= 1) return 1;
  return n / p.slopes.length;
}

const slopeRows = new WeakMap<object, Float64Array>();

/** The [1, n] row of leaky slopes of a layer. */
function slopeRow(layer: Layer): Float64Array {
  let row = slopeRows.get(layer);
  if (!row) {
    const per = perChannel(layer);
    row = Float64Array.from({ length: layer.outFeatures }, (_, j) => slopeAt(layer.activationParams, j, per));
    slopeRows.set(layer, row);
  }
  return row;
}

/** The layer's activation applied to a batch of its pre-activations Z [B, n]. */
export function activate<M extends Mat>(ops: Ops<M>, layer: Layer, Z: M): M {
  const p = layer.activationParams;
  switch (layer.activation) {
    case 'linear':
      return Z;
    case 'relu':
      return ops.relu(Z);
    case 'leakyrelu': {
      const s = ops.matrix(1, layer.outFeatures, slopeRow(layer));
      return ops.add(ops.positivePart(Z), ops.mul(ops.negativePart(Z), s));
    }
    case 'clip': {
      // min(max(z, lo), hi) = lo + relu(z − lo) − relu(z − hi)
      const lo = p?.min ?? 0, hi = p?.max ?? 6;
      const below = ops.relu(ops.add(Z, ops.matrix(1, layer.outFeatures, new Float64Array(layer.outFeatures).fill(-lo))));
      const above = ops.relu(ops.add(Z, ops.matrix(1, layer.outFeatures, new Float64Array(layer.outFeatures).fill(-hi))));
      return ops.add(ops.sub(below, above), ops.matrix(1, layer.outFeatures, new Float64Array(layer.outFeatures).fill(lo)));
    }
    default:
      return ops.smooth(Z, layer.activation, p?.alpha ?? 1);
  }
}

/** The activation's derivative at Z [B, n] (relu'(0) = 0, the PyTorch convention; clip' = 1 strictly inside). */
export function activationSlopes<M extends Mat>(ops: Ops<M>, layer: Layer, Z: M): M | null {
  const p = layer.activationParams;
  switch (layer.activation) {
    case 'linear':
      return null;
    case 'relu':
      return ops.stepPositive(Z);
    case 'leakyrelu': {
      const pos = ops.stepPositive(Z);
      const s = ops.matrix(1, layer.outFeatures, slopeRow(layer));
      // 1 where z > 0, the slope elsewhere: pos + (1 − pos)·s
      return ops.add(pos, ops.mul(ops.sub(ops.matrix(1, layer.outFeatures, new Float64Array(layer.outFeatures).fill(1)), pos), s));
    }
    case 'clip': {
      const lo = p?.min ?? 0, hi = p?.max ?? 6;
      const aboveLo = ops.stepPositive(ops.add(Z, ops.matrix(1, layer.outFeatures, new Float64Array(layer.outFeatures).fill(-lo))));
      const belowHi = ops.stepPositive(ops.scale(ops.add(Z, ops.matrix(1, layer.outFeatures, new Float64Array(layer.outFeatures).fill(-hi))), -1));
      return ops.mul(aboveLo, belowHi);
    }
    default:
      return ops.smoothSlope(Z, layer.activation, p?.alpha ?? 1);
  }
}

/** The activation of unit j at pre-activation z (exact scalar form). */
export function activateAt(layer: Layer, j: number, z: number): number {
  const p = layer.activationParams;
  switch (layer.activation) {
    case 'linear':
      return z;
    case 'relu':
      return z > 0 ? z : 0;
    case 'leakyrelu':
      return z > 0 ? z : z * slopeAt(p, j, perChannel(layer));
    case 'clip':
      return Math.min(Math.max(z, p?.min ?? 0), p?.max ?? 6);
    case 'sigmoid':
      return 1 / (1 + Math.exp(-z));
    case 'tanh':
      return Math.tanh(z);
    case 'elu':
      return z > 0 ? z : (p?.alpha ?? 1) * Math.expm1(z);
  }
}

/**
 * The linear piece z lies on: two points with the same piece for every unit
 * are in the same local linear region. ReLU and leaky ReLU: z > 0 or not;
 * clip: below, inside, above. Smooth and linear activations have one piece.
 */
export function pieceOf(layer: Layer, z: number): number {
  switch (layer.activation) {
    case 'relu':
    case 'leakyrelu':
      return z > 0 ? 1 : 0;
    case 'clip': {
      const p = layer.activationParams;
      return z <= (p?.min ?? 0) ? 0 : z >= (p?.max ?? 6) ? 2 : 1;
    }
    default:
      return 0;
  }
}

/** Whether the activation has hinges (pieces that can change between two points). */
export function hasHinges(a: Activation): boolean {
  return a === 'relu' || a === 'leakyrelu' || a === 'clip';
}

/**
 * Whether pre-activations zr (reference) and za lie on the same linear piece.
 * Within `band` of a hinge a value counts as on either side (the region's
 * closure, so a root on its own unit's hinge is inside).
 */
export function samePiece(layer: Layer, zr: number, za: number, band: number): boolean {
  return samePieceOf(hingesOf(layer), zr, za, band);
}

/** The pre-activation values where the layer's activation bends (for layers with hinges). */
export function hingesOf(layer: Layer): number[] {
  return layer.activation === 'clip' ? [layer.activationParams?.min ?? 0, layer.activationParams?.max ?? 6] : [0];
}

/** samePiece with the layer's hinges looked up once (hingesOf), for loops over many units. */
export function samePieceOf(hinges: readonly number[], zr: number, za: number, band: number): boolean {
  for (let i = 0; i < hinges.length; i++) {
    const h = hinges[i];
    if (Math.abs(za - h) <= band || Math.abs(zr - h) <= band) continue;
    if (zr > h !== za > h) return false;
  }
  return true;
}

/** How the activation is named to users ("ReLU", "LeakyReLU(0.1)", "Clip[0, 6]", "PReLU (16 slopes)"). */
export function activationText(a: Activation, p?: ActivationParams): string {
  switch (a) {
    case 'linear':
      return 'none';
    case 'relu':
      return 'ReLU';
    case 'leakyrelu':
      return p?.slopes && p.slopes.length > 1 ? `PReLU (${p.slopes.length} slopes)` : `LeakyReLU(${p?.slopes?.[0] ?? p?.alpha ?? 0.01})`;
    case 'clip':
      return `Clip[${p?.min ?? 0}, ${p?.max ?? 6}]`;
    case 'sigmoid':
      return 'Sigmoid';
    case 'tanh':
      return 'Tanh';
    case 'elu':
      return `ELU(${p?.alpha ?? 1})`;
  }
}
