// Ops on plain typed arrays: Float64Array (exact; the default and what the
// fixtures are checked with) or Float32Array. The matrix product and the
// convolutions are the blocked kernels of kernels.ts.

import type { Precision } from '../../protocol';
import type { Mat, Ops, SmoothKind } from './ops';
import { avgPool, conv2dForward, conv2dTranspose, matmulInto, maxPoolBackward, maxPoolForward, type ConvGeom, type PoolGeom } from './kernels';

type Arr = Float64Array | Float32Array;

export class TypedMat implements Mat {
  constructor(
    readonly rows: number,
    readonly cols: number,
    readonly data: Arr,
  ) {}
}

export class TypedOps implements Ops<TypedMat> {
  readonly backend: string;
  private readonly Ctor: Float64ArrayConstructor | Float32ArrayConstructor;

  constructor(readonly precision: Precision) {
    this.Ctor = precision === 'float64' ? Float64Array : Float32Array;
    this.backend = precision === 'float64' ? 'typed-float64' : 'typed-float32';
  }

  private alloc(rows: number, cols: number): TypedMat {
    return new TypedMat(rows, cols, new this.Ctor(rows * cols));
  }

  matrix(rows: number, cols: number, data: ArrayLike<number>): TypedMat {
    if (data.length !== rows * cols) throw new Error(`matrix: ${data.length} values for [${rows}, ${cols}]`);
    const m = this.alloc(rows, cols);
    m.data.set(data);
    return m;
  }

  read(m: TypedMat): Float64Array {
    return m.data instanceof Float64Array ? m.data.slice() : Float64Array.from(m.data);
  }

  matmul(a: TypedMat, b: TypedMat, transposeB: boolean): TypedMat {
    const m = a.rows, k = a.cols;
    const n = transposeB ? b.rows : b.cols;
    if ((transposeB ? b.cols : b.rows) !== k) throw new Error(`matmul: [${a.rows},${a.cols}]·[${b.rows},${b.cols}]${transposeB ? 'ᵀ' : ''}`);
    const out = this.alloc(m, n);
    matmulInto(a.data, b.data, m, k, n, transposeB, out.data);
    return out;
  }

  /** The output of a ⊙ b and the operands' row steps: equal shapes, or b a [1, cols] row that broadcasts over a's rows. */
  private pair(a: TypedMat, b: TypedMat): { out: TypedMat; aStep: number; bStep: number } {
    const n = a.cols;
    if (b.cols === n && (b.rows === a.rows || b.rows === 1)) return { out: this.alloc(a.rows, n), aStep: n, bStep: b.rows === a.rows ? n : 0 };
    throw new Error(`broadcast: [${a.rows},${a.cols}] with [${b.rows},${b.cols}]`);
  }

  private zip(a: TypedMat, b: TypedMat, f: (x: number, y: number) => number): TypedMat {
    const { out, aStep, bStep } = this.pair(a, b);
    const A = a.data, B = b.data, C = out.data, n = a.cols;
    for (let r = 0, ao = 0, bo = 0, co = 0; r < out.rows; r++, ao += aStep, bo += bStep, co += n) {
      for (let j = 0; j < n; j++) C[co + j] = f(A[ao + j], B[bo + j]);
    }
    return out;
  }

  private map(a: TypedMat, f: (x: number) => number): TypedMat {
    const out = this.alloc(a.rows, a.cols);
    const A = a.data, C = out.data;
    for (let i = 0; i < C.length; i++) C[i] = f(A[i]);
    return out;
  }

  // add, sub and mul are written out: a shared loop calling a closure per element is several times slower.
  add(a: TypedMat, b: TypedMat) {
    const { out, aStep, bStep } = this.pair(a, b);
    const A = a.data, B = b.data, C = out.data, n = a.cols;
    for (let r = 0, ao = 0, bo = 0, co = 0; r < out.rows; r++, ao += aStep, bo += bStep, co += n) for (let j = 0; j < n; j++) C[co + j] = A[ao + j] + B[bo + j];
    return out;
  }
  sub(a: TypedMat, b: TypedMat) {
    const { out, aStep, bStep } = this.pair(a, b);
    const A = a.data, B = b.data, C = out.data, n = a.cols;
    for (let r = 0, ao = 0, bo = 0, co = 0; r < out.rows; r++, ao += aStep, bo += bStep, co += n) for (let j = 0; j < n; j++) C[co + j] = A[ao + j] - B[bo + j];
    return out;
  }
  mul(a: TypedMat, b: TypedMat) {
    const { out, aStep, bStep } = this.pair(a, b);
    const A = a.data, B = b.data, C = out.data, n = a.cols;
    for (let r = 0, ao = 0, bo = 0, co = 0; r < out.rows; r++, ao += aStep, bo += bStep, co += n) for (let j = 0; j < n; j++) C[co + j] = A[ao + j] * B[bo + j];
    return out;
  }
  // The elementwise maps of every pass are written out too (the same expressions as a closure would compute).
  scale(a: TypedMat, s: number) {
    const out = this.alloc(a.rows, a.cols);
    const A = a.data, C = out.data;
    for (let i = 0; i < C.length; i++) C[i] = A[i] * s;
    return out;
  }
  relu(a: TypedMat) { return this.positivePart(a); }
  stepPositive(a: TypedMat) {
    const out = this.alloc(a.rows, a.cols);
    const A = a.data, C = out.data;
    for (let i = 0; i < C.length; i++) C[i] = A[i] > 0 ? 1 : 0;
    return out;
  }
  positivePart(a: TypedMat) {
    const out = this.alloc(a.rows, a.cols);
    const A = a.data, C = out.data;
    for (let i = 0; i < C.length; i++) {
      const x = A[i];
      C[i] = x > 0 ? x : 0;
    }
    return out;
  }
  negativePart(a: TypedMat) {
    const out = this.alloc(a.rows, a.cols);
    const A = a.data, C = out.data;
    for (let i = 0; i < C.length; i++) {
      const x = A[i];
      C[i] = x < 0 ? x : 0;
    }
    return out;
  }
  nonNegativeMask(a: TypedMat) {
    const out = this.alloc(a.rows, a.cols);
    const A = a.data, C = out.data;
    for (let i = 0; i < C.length; i++) C[i] = A[i] >= 0 ? 1 : 0;
    return out;
  }
  smooth(a: TypedMat, kind: SmoothKind, alpha: number) {
    if (kind === 'sigmoid') return this.map(a, (x) => 1 / (1 + Math.exp(-x)));
    if (kind === 'tanh') return this.map(a, Math.tanh);
    return this.map(a, (x) => (x > 0 ? x : alpha * Math.expm1(x)));
  }
  smoothSlope(z: TypedMat, kind: SmoothKind, alpha: number) {
    if (kind === 'sigmoid') return this.map(z, (x) => { const s = 1 / (1 + Math.exp(-x)); return s * (1 - s); });
    if (kind === 'tanh') return this.map(z, (x) => 1 - Math.tanh(x) ** 2);
    return this.map(z, (x) => (x > 0 ? 1 : alpha * Math.exp(x)));
  }
  concatCols(ms: TypedMat[]) {
    const rows = ms[0].rows;
    const cols = ms.reduce((a, m) => a + m.cols, 0);
    const out = this.alloc(rows, cols);
    for (let r = 0; r < rows; r++) {
      let off = r * cols;
      for (const m of ms) {
        out.data.set(m.data.subarray(r * m.cols, (r + 1) * m.cols), off);
        off += m.cols;
      }
    }
    return out;
  }
  divOrZero(num: TypedMat, den: TypedMat, eps: number) {
    return this.zip(num, den, (x, y) => {
      if (!(Math.abs(y) > eps)) return 0;
      const q = x / y;
      return Number.isFinite(q) ? q : 0;
    });
  }
  divStabilized(num: TypedMat, den: TypedMat, eps: number) {
    const { out, aStep, bStep } = this.pair(num, den);
    const A = num.data, B = den.data, C = out.data, n = num.cols;
    for (let r = 0, ao = 0, bo = 0, co = 0; r < out.rows; r++, ao += aStep, bo += bStep, co += n) {
      for (let j = 0; j < n; j++) {
        const y = B[bo + j];
        C[co + j] = A[ao + j] / (y + (y >= 0 ? eps : -eps));
      }
    }
    return out;
  }
  sumRows(a: TypedMat) {
    const out = this.alloc(1, a.cols);
    for (let i = 0; i < a.rows; i++) for (let j = 0; j < a.cols; j++) out.data[j] += a.data[i * a.cols + j];
    return out;
  }
  sliceCols(a: TypedMat, start: number, stop: number) {
    const w = stop - start;
    const out = this.alloc(a.rows, w);
    for (let i = 0; i < a.rows; i++) out.data.set(a.data.subarray(i * a.cols + start, i * a.cols + stop), i * w);
    return out;
  }
  sliceRows(a: TypedMat, start: number, stop: number) {
    return new TypedMat(stop - start, a.cols, a.data.slice(start * a.cols, stop * a.cols));
  }
  conv2d(x: TypedMat, k: TypedMat, g: ConvGeom) {
    const out = this.alloc(x.rows, g.outShape[0] * g.outShape[1] * g.outShape[2]);
    conv2dForward(x.data, k.data, x.rows, g, out.data);
    return out;
  }
  conv2dTranspose(y: TypedMat, k: TypedMat, g: ConvGeom) {
    const out = this.alloc(y.rows, g.inShape[0] * g.inShape[1] * g.inShape[2]);
    conv2dTranspose(y.data, k.data, y.rows, g, out.data);
    return out;
  }
  maxPool2d(x: TypedMat, g: PoolGeom) {
    const out = this.alloc(x.rows, g.outShape[0] * g.outShape[1] * g.outShape[2]);
    maxPoolForward(x.data, x.rows, g, out.data);
    return out;
  }
  maxPool2dBackward(gy: TypedMat, x: TypedMat, g: PoolGeom) {
    const out = this.alloc(x.rows, x.cols);
    maxPoolBackward(gy.data, x.data, x.rows, g, out.data);
    return out;
  }
  avgPool2d(x: TypedMat, g: PoolGeom) {
    const out = this.alloc(x.rows, g.outShape[0] * g.outShape[1] * g.outShape[2]);
    avgPool(x.data, x.rows, g, false, out.data);
    return out;
  }
  avgPool2dTranspose(y: TypedMat, g: PoolGeom) {
    const out = this.alloc(y.rows, g.inShape[0] * g.inShape[1] * g.inShape[2]);
    avgPool(y.data, y.rows, g, true, out.data);
    return out;
  }
  dispose(): void {}

  beginScope(): () => void {
    return () => undefined;
  }
}
