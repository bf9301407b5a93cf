// Test helpers for the format loaders: a slow, obviously-correct forward pass
// over the network IR (dense, conv2d, max/avg pooling; loops written straight
// from CONV.md §3), and small comparison utilities. Not a test file itself.

import assert from 'node:assert/strict';
import type { Layer, Network } from '../../extension/engine/network';

function applyActivation(layer: Layer, z: Float64Array): Float64Array {
  return layer.activation === 'relu' ? z.map((v) => (v > 0 ? v : 0)) : z;
}

export function referenceLayer(layer: Layer, a: Float64Array): Float64Array {
  if (layer.kind === 'dense') {
    const out = new Float64Array(layer.outFeatures);
    for (let o = 0; o < layer.outFeatures; o++) {
      let s = layer.bias[o];
      for (let i = 0; i < layer.inFeatures; i++) s += layer.weight[o * layer.inFeatures + i] * a[i];
      out[o] = s;
    }
    return applyActivation(layer, out);
  }
  if (layer.kind !== 'conv2d' && layer.kind !== 'maxpool2d' && layer.kind !== 'avgpool2d') throw new Error(`referenceLayer covers chains of dense, conv and pooling layers, not ${layer.kind}`);
  const [C, H, W] = layer.inShape;
  const [O, OH, OW] = layer.outShape;
  const at = (c: number, h: number, w: number) => a[c * H * W + h * W + w];
  const out = new Float64Array(O * OH * OW);
  const [pt, pl] = layer.padding;
  for (let o = 0; o < O; o++) {
    for (let i = 0; i < OH; i++) {
      for (let j = 0; j < OW; j++) {
        let v: number;
        if (layer.kind === 'conv2d') {
          v = layer.bias[o];
          const [kh, kw] = layer.kernel;
          for (let c = 0; c < C; c++) {
            for (let u = 0; u < kh; u++) {
              for (let w = 0; w < kw; w++) {
                const y = i * layer.stride[0] + u * layer.dilation[0] - pt;
                const x = j * layer.stride[1] + w * layer.dilation[1] - pl;
                if (y < 0 || y >= H || x < 0 || x >= W) continue; // zero padding
                v += layer.weight[((o * C + c) * kh + u) * kw + w] * at(c, y, x);
              }
            }
          }
        } else {
          const [kh, kw] = layer.kernel;
          let best = Number.NEGATIVE_INFINITY;
          let sum = 0;
          for (let u = 0; u < kh; u++) {
            for (let w = 0; w < kw; w++) {
              const y = i * layer.stride[0] + u - pt;
              const x = j * layer.stride[1] + w - pl;
              if (y < 0 || y >= H || x < 0 || x >= W) continue;
              best = Math.max(best, at(o, y, x));
              sum += at(o, y, x);
            }
          }
          v = layer.kind === 'maxpool2d' ? best : sum / (kh * kw);
        }
        out[o * OH * OW + i * OW + j] = v;
      }
    }
  }
  return applyActivation(layer, out);
}

/** All layer outputs; the last one is the network's raw output (before any selection). */
export function referenceForward(net: Network, x: ArrayLike<number>): Float64Array[] {
  const acts: Float64Array[] = [];
  let a: Float64Array = Float64Array.from(x);
  for (const layer of net.layers) {
    a = referenceLayer(layer, a);
    acts.push(a);
  }
  return acts;
}

export function referenceOutput(net: Network, x: ArrayLike<number>): Float64Array {
  const acts = referenceForward(net, x);
  const last = acts[acts.length - 1];
  const sel = net.outputSelection;
  return sel ? last.slice(sel.start, sel.stop) : last;
}

/** Nested arrays → flat numbers (C-major). */
export function flat(v: unknown): number[] {
  return Array.isArray(v) ? v.flatMap(flat) : [v as number];
}

/** max|a − b| ≤ rel · max|b| (and equal lengths). */
export function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, rel: number, what: string, abs = 0): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  let scale = 0;
  let worst = 0;
  for (let i = 0; i < expected.length; i++) {
    scale = Math.max(scale, Math.abs(expected[i]));
    worst = Math.max(worst, Math.abs(actual[i] - expected[i]));
  }
  const tol = Math.max(rel * scale, abs);
  assert.ok(worst <= tol, `${what}: max |Δ| = ${worst} > ${tol} (max |ref| = ${scale})`);
}
