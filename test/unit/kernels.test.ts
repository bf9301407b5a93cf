// The typed kernels (extension/engine/ops/kernels.ts: the blocked matrix
// product and the convolutions built on it) against straight loops written
// from the semantics at the top of kernels.ts, in float64 (1e-12 relative to
// the largest |value|: only the order of the sum differs) and float32 (1e-5),
// on shapes that cross every block edge (panels of 4, blocks of 64 rows, 256
// terms and 256 columns), with stride, dilation, asymmetric padding, and
// batches whose rows are each nonzero in one channel or unit (the channel
// flows' batches, whose zero stretches the kernels skip).

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { conv2dForward, conv2dTranspose, GEMM_KC, matmulInto, type ConvGeom } from '../../extension/engine/ops/kernels';
import { TypedOps } from '../../extension/engine/ops/typed';

let seed = 12345;
function rand(): number {
  seed = (seed * 1103515245 + 12345) % 2147483648;
  return seed / 2147483648 - 0.5;
}
function randArray(n: number, zeros = 0): Float64Array {
  return Float64Array.from({ length: n }, () => (rand() + 0.5 < zeros ? 0 : rand()));
}

function maxAbs(v: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < v.length; i++) m = Math.max(m, Math.abs(v[i]));
  return m;
}
function assertNear(got: ArrayLike<number>, want: ArrayLike<number>, rel: number, what: string): void {
  assert.equal(got.length, want.length, `${what}: length`);
  const scale = Math.max(1e-300, maxAbs(want));
  let d = 0;
  for (let i = 0; i < want.length; i++) d = Math.max(d, Math.abs(got[i] - want[i]));
  assert.ok(d <= rel * scale, `${what}: max deviation ${d} (max |value| ${scale}, tolerance ${rel} relative)`);
}

/** y[o,i,j] = Σ_{c,u,v} W[o,c,u,v] · xpad[c, i·sh + u·dh, j·sw + v·dw], one tap at a time. */
function naiveConv(X: ArrayLike<number>, K: ArrayLike<number>, B: number, g: ConvGeom): Float64Array {
  const [C, H, W] = g.inShape;
  const [O, OH, OW] = g.outShape;
  const [kh, kw] = g.kernel;
  const Y = new Float64Array(B * O * OH * OW);
  for (let s = 0; s < B; s++)
    for (let o = 0; o < O; o++)
      for (let i = 0; i < OH; i++)
        for (let j = 0; j < OW; j++) {
          let acc = 0;
          for (let c = 0; c < C; c++)
            for (let u = 0; u < kh; u++)
              for (let v = 0; v < kw; v++) {
                const r = i * g.stride[0] - g.padding[0] + u * g.dilation[0];
                const q = j * g.stride[1] - g.padding[1] + v * g.dilation[1];
                if (r < 0 || r >= H || q < 0 || q >= W) continue;
                acc += K[((o * C + c) * kh + u) * kw + v] * X[s * C * H * W + (c * H + r) * W + q];
              }
          Y[s * O * OH * OW + (o * OH + i) * OW + j] = acc;
        }
  return Y;
}

/** The adjoint, written as the scatter of each output value over its taps. */
function naiveConvT(Y: ArrayLike<number>, K: ArrayLike<number>, B: number, g: ConvGeom): Float64Array {
  const [C, H, W] = g.inShape;
  const [O, OH, OW] = g.outShape;
  const [kh, kw] = g.kernel;
  const X = new Float64Array(B * C * H * W);
  for (let s = 0; s < B; s++)
    for (let o = 0; o < O; o++)
      for (let i = 0; i < OH; i++)
        for (let j = 0; j < OW; j++) {
          const y = Y[s * O * OH * OW + (o * OH + i) * OW + j];
          for (let c = 0; c < C; c++)
            for (let u = 0; u < kh; u++)
              for (let v = 0; v < kw; v++) {
                const r = i * g.stride[0] - g.padding[0] + u * g.dilation[0];
                const q = j * g.stride[1] - g.padding[1] + v * g.dilation[1];
                if (r < 0 || r >= H || q < 0 || q >= W) continue;
                X[s * C * H * W + (c * H + r) * W + q] += K[((o * C + c) * kh + u) * kw + v] * y;
              }
        }
  return X;
}

function naiveMatmul(A: ArrayLike<number>, B: ArrayLike<number>, m: number, k: number, n: number, transposeB: boolean): Float64Array {
  const C = new Float64Array(m * n);
  for (let i = 0; i < m; i++)
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) s += A[i * k + p] * (transposeB ? B[j * k + p] : B[p * n + j]);
      C[i * n + j] = s;
    }
  return C;
}

function geom(C: number, H: number, W: number, O: number, k: [number, number], stride: [number, number], padding: [number, number, number, number], dilation: [number, number]): ConvGeom {
  const OH = Math.floor((H + padding[0] + padding[2] - dilation[0] * (k[0] - 1) - 1) / stride[0]) + 1;
  const OW = Math.floor((W + padding[1] + padding[3] - dilation[1] * (k[1] - 1) - 1) / stride[1]) + 1;
  return { inShape: [C, H, W], outShape: [O, OH, OW], kernel: k, stride, padding, dilation };
}

const GEOMS: [string, ConvGeom][] = [
  ['3×3 same, 5→7 channels, 9×11', geom(5, 9, 11, 7, [3, 3], [1, 1], [1, 1, 1, 1], [1, 1])],
  ['VGG-like 3×3 same, 32→64 channels at 16×16 (289 terms: two blocks of the sum)', geom(32, 16, 16, 64, [3, 3], [1, 1], [1, 1, 1, 1], [1, 1])],
  ['stride 2, asymmetric padding, 2×3 kernel', geom(3, 13, 10, 6, [2, 3], [2, 2], [0, 1, 1, 2], [1, 1])],
  ['dilation 2, stride (1, 3), no padding', geom(4, 12, 17, 5, [3, 2], [1, 3], [0, 0, 0, 0], [2, 2])],
  ['1×1 kernel, 300 columns per row (wider than a column block)', geom(6, 3, 300, 9, [1, 1], [1, 1], [0, 0, 0, 0], [1, 1])],
  ['padding larger than the kernel reach', geom(2, 4, 4, 3, [3, 3], [2, 2], [3, 3, 3, 3], [1, 1])],
];

describe('typed kernels: blocked matrix product', () => {
  for (const [m, k, n] of [[1, 1, 1], [5, 7, 3], [67, 300, 261], [130, 513, 9], [3, 2 * GEMM_KC + 1, 70]] as const) {
    for (const transposeB of [false, true]) {
      test(`[${m}×${k}]·[${k}×${n}]${transposeB ? ' (B transposed)' : ''} equals the straight loop (float64 1e-12, float32 1e-5)`, () => {
        const A = randArray(m * k, 0.2), B = randArray(k * n, 0.2);
        const want = naiveMatmul(A, B, m, k, n, transposeB);
        assertNear(matmulInto(A, B, m, k, n, transposeB, new Float64Array(m * n)), want, 1e-12, 'float64');
        const got32 = matmulInto(Float32Array.from(A), Float32Array.from(B), m, k, n, transposeB, new Float32Array(m * n));
        assertNear(got32, want, 1e-5, 'float32');
        // Overwrites what the output held.
        assertNear(matmulInto(A, B, m, k, n, transposeB, new Float64Array(m * n).fill(7)), want, 1e-12, 'over a dirty output');
      });
    }
  }
  test('rows that are each nonzero in one column (a unit-masked batch) multiply exactly, and all-zero rows give zeros', () => {
    const m = 37, k = 300, n = 45;
    const A = new Float64Array(m * k);
    for (let i = 0; i < m - 3; i++) A[i * k + ((i * 7) % k)] = rand();
    const B = randArray(k * n);
    const want = naiveMatmul(A, B, m, k, n, false);
    assertNear(matmulInto(A, B, m, k, n, false, new Float64Array(m * n)), want, 1e-12, 'masked rows');
    const got = matmulInto(A, B, m, k, n, true, new Float64Array(m * n));
    assertNear(got, naiveMatmul(A, B, m, k, n, true), 1e-12, 'masked rows, B transposed');
    assert.equal(maxAbs(got.subarray((m - 3) * n)), 0, 'zero rows give zeros');
  });
  test('TypedOps.matmul uses it in both precisions', () => {
    for (const p of ['float64', 'float32'] as const) {
      const ops = new TypedOps(p);
      const A = randArray(9 * 13), B = randArray(13 * 6);
      assertNear(ops.read(ops.matmul(ops.matrix(9, 13, A), ops.matrix(13, 6, B), false)), naiveMatmul(A, B, 9, 13, 6, false), p === 'float64' ? 1e-12 : 1e-5, p);
    }
  });
});

describe('typed kernels: convolution and its adjoint', () => {
  for (const [name, g] of GEOMS) {
    const [C, H, W] = g.inShape;
    const [O, OH, OW] = g.outShape;
    const kk = C * g.kernel[0] * g.kernel[1];
    test(`${name}: conv2dForward equals the straight loop (float64 1e-12, float32 1e-5)`, () => {
      const B = 3;
      const X = randArray(B * C * H * W, 0.3), K = randArray(O * kk);
      const want = naiveConv(X, K, B, g);
      assertNear(conv2dForward(X, K, B, g, new Float64Array(want.length).fill(5)), want, 1e-12, 'float64');
      assertNear(conv2dForward(Float32Array.from(X), Float32Array.from(K), B, g, new Float32Array(want.length)), want, 1e-5, 'float32');
    });
    test(`${name}: conv2dTranspose equals the straight scatter, also for rows nonzero in one channel each`, () => {
      const B = 2;
      const Y = randArray(B * O * OH * OW, 0.3), K = randArray(O * kk);
      const want = naiveConvT(Y, K, B, g);
      assertNear(conv2dTranspose(Y, K, B, g, new Float64Array(want.length).fill(5)), want, 1e-12, 'float64');
      assertNear(conv2dTranspose(Float32Array.from(Y), Float32Array.from(K), B, g, new Float32Array(want.length)), want, 1e-5, 'float32');
      // One row per output channel d, nonzero only in channel d, and a row of zeros.
      const masked = new Float64Array((O + 1) * O * OH * OW);
      for (let d = 0; d < O; d++) for (let q = 0; q < OH * OW; q++) masked[(d * O + d) * OH * OW + q] = Y[d * OH * OW + q];
      const wantM = naiveConvT(masked, K, O + 1, g);
      const gotM = conv2dTranspose(masked, K, O + 1, g, new Float64Array(wantM.length).fill(1));
      assertNear(gotM, wantM, 1e-12, 'channel-masked rows');
      assert.equal(maxAbs(gotM.subarray(O * C * H * W)), 0, 'the zero row gives zeros');
      // The masked rows add up to the unmasked first sample.
      const sum = new Float64Array(C * H * W);
      for (let d = 0; d < O; d++) for (let i = 0; i < sum.length; i++) sum[i] += gotM[d * C * H * W + i];
      assertNear(sum, want.subarray(0, C * H * W), 1e-12, 'Σ over channels');
    });
    test(`${name}: the adjoint identity ⟨conv(x), y⟩ = ⟨x, convᵀ(y)⟩`, () => {
      const X = randArray(C * H * W), Y = randArray(O * OH * OW), K = randArray(O * kk);
      const cx = conv2dForward(X, K, 1, g, new Float64Array(Y.length));
      const ty = conv2dTranspose(Y, K, 1, g, new Float64Array(X.length));
      let a = 0, b = 0, s = 0;
      for (let i = 0; i < Y.length; i++) (a += cx[i] * Y[i]), (s += Math.abs(cx[i] * Y[i]));
      for (let i = 0; i < X.length; i++) b += X[i] * ty[i];
      assert.ok(Math.abs(a - b) <= 1e-12 * s, `⟨conv x, y⟩ ${a} vs ⟨x, convᵀ y⟩ ${b}`);
    });
  }
});
