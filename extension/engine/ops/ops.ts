// The small compute interface every batched algorithm is written against.
// Matrices are row-major [rows, cols]; a batch of vectors is one matrix with
// one row per vector. Two implementations: typed arrays (exact float64, or
// float32) in typed.ts, and TensorFlow.js (float32, tensorflow/wasm/cpu
// backends) in tfjs.ts. Implementations own their matrix type; algorithms only
// pass handles around and `read` results at the end.

import type { Precision } from '../../protocol';
import type { ConvGeom, PoolGeom } from './kernels';

export type { ConvGeom, PoolGeom } from './kernels';

export type SmoothKind = 'sigmoid' | 'tanh' | 'elu';

export interface Mat {
  readonly rows: number;
  readonly cols: number;
}

export interface Ops<M extends Mat = Mat> {
  readonly backend: string;
  readonly precision: Precision;
  matrix(rows: number, cols: number, data: ArrayLike<number>): M;
  /** Copies the values out as float64 (row-major). */
  read(m: M): Float64Array;
  /** a[m,k]·b[k,n], or a[m,k]·b[n,k]ᵀ when transposeB. */
  matmul(a: M, b: M, transposeB: boolean): M;
  /** Elementwise; b may be a [1, cols] row that broadcasts over a's rows. */
  add(a: M, b: M): M;
  sub(a: M, b: M): M;
  mul(a: M, b: M): M;
  scale(a: M, s: number): M;
  relu(a: M): M;
  /** 1 where a > 0, else 0 (relu'(0) = 0, the PyTorch convention). */
  stepPositive(a: M): M;
  /** max(a, 0) and min(a, 0). */
  positivePart(a: M): M;
  negativePart(a: M): M;
  /** 1 where a ≥ 0, else 0. */
  nonNegativeMask(a: M): M;
  /** num/den where |den| > eps and the quotient is finite; 0 elsewhere (a unit without a root passes nothing on). */
  divOrZero(num: M, den: M, eps: number): M;
  /** num / (den + eps·sign(den)), sign(0) = +1: zennit's stabiliser. */
  divStabilized(num: M, den: M, eps: number): M;
  /** Smooth activations elementwise: sigmoid, tanh, ELU (α). */
  smooth(a: M, kind: SmoothKind, alpha: number): M;
  /** Their derivative at the pre-activation z. */
  smoothSlope(z: M, kind: SmoothKind, alpha: number): M;
  /** The columns of several matrices with the same rows, side by side. */
  concatCols(ms: M[]): M;
  /** [rows, cols] → [1, cols] column sums. */
  sumRows(a: M): M;
  /** Columns [start, stop) of a. */
  sliceCols(a: M, start: number, stop: number): M;
  /** Rows [start, stop) of a. */
  sliceRows(a: M, start: number, stop: number): M;
  /**
   * Convolution of a batch x [B, C·H·W] (NCHW, C-major) with kernels k
   * [O, C·kh·kw] → [B, O·OH·OW] (cross-correlation, zero padding, no bias).
   */
  conv2d(x: M, k: M, g: ConvGeom): M;
  /** The adjoint of conv2d: y [B, O·OH·OW] → [B, C·H·W] (the gradient w.r.t. the input; padding cropped). */
  conv2dTranspose(y: M, k: M, g: ConvGeom): M;
  /** Max pooling [B, C·H·W] → [B, C·OH·OW]. */
  maxPool2d(x: M, g: PoolGeom): M;
  /** Routes gy [B, C·OH·OW] to the first maximal element (row-major) of each window of x: the gradient of max pooling. */
  maxPool2dBackward(gy: M, x: M, g: PoolGeom): M;
  /** Average pooling [B, C·H·W] → [B, C·OH·OW]. */
  avgPool2d(x: M, g: PoolGeom): M;
  /** The adjoint of avgPool2d: every input of window j gets y_j / n_j. */
  avgPool2dTranspose(y: M, g: PoolGeom): M;
  /** Frees backend memory (no-op for typed arrays). */
  dispose(...ms: M[]): void;
  /**
   * Opens a scope: every matrix made until the returned function is called is
   * freed by that call (tf.engine scopes; a no-op for typed arrays). For
   * synchronous work only, such as one explanation after its Ops are ready.
   */
  beginScope(): () => void;
}
