// Ops on TensorFlow.js tensors (float32). Backends, in order of preference for
// 'auto': tensorflow (native, @tensorflow/tfjs-node-gpu with a GPU, else
// @tensorflow/tfjs-node), wasm (SIMD), cpu. The native packages are optional:
// when they are missing or fail to load we fall through. Each op is an
// explicit kernel call; callers batch their work so that per-op overhead
// (1.5–6 µs) does not dominate.

import * as tfCore from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as path from 'node:path';
import { createRequire } from 'node:module';
import type { BackendName, Precision } from '../../protocol';
import type { Mat, Ops, SmoothKind } from './ops';
import { TRANSPOSE_CACHE_VALUES } from './select';
import { avgPool, maxPoolBackward, maxPoolForward, type ConvGeom, type PoolGeom } from './kernels';

type TF = typeof tfCore;

export class TfMat implements Mat {
  constructor(readonly t: tfCore.Tensor2D) {}
  get rows(): number {
    return this.t.shape[0];
  }
  get cols(): number {
    return this.t.shape[1];
  }
}

export class TfjsOps implements Ops<TfMat> {
  readonly precision: Precision = 'float32';
  constructor(
    private readonly tf: TF,
    readonly backend: string,
  ) {}

  private wrap(t: tfCore.Tensor): TfMat {
    return new TfMat(t as tfCore.Tensor2D);
  }
  matrix(rows: number, cols: number, data: ArrayLike<number>): TfMat {
    return this.wrap(this.tf.tensor2d(Float32Array.from(data), [rows, cols], 'float32'));
  }
  read(m: TfMat): Float64Array {
    return Float64Array.from(m.t.dataSync());
  }
  /** Explicit transposes of right operands used with transposeB (weights, reused across calls). */
  private readonly transposed = new WeakMap<TfMat, tfCore.Tensor2D>();

  matmul(a: TfMat, b: TfMat, transposeB: boolean): TfMat {
    if (!transposeB) return this.wrap(this.tf.matMul(a.t, b.t, false, false));
    // A large operand (TRANSPOSE_CACHE_VALUES) keeps no transposed copy: tfjs-wasm's heap stops at 4 GB, and VGG-16's first classifier
    // layer (4096 × 25088) with its positive and negative parts and their transposes alone would take 2.5 GB of it.
    if (b.rows * b.cols > TRANSPOSE_CACHE_VALUES) return this.wrap(this.tf.matMul(a.t, b.t, false, true));
    // The wasm backend is several times slower with a transposed operand than with the transpose
    // made once: weight matrices are multiplied transposed on every forward map, so keep theirs.
    let bt = this.transposed.get(b);
    if (!bt || bt.isDisposed) {
      bt = this.tf.transpose(b.t) as tfCore.Tensor2D;
      this.transposed.set(b, bt);
    }
    return this.wrap(this.tf.matMul(a.t, bt, false, false));
  }
  add(a: TfMat, b: TfMat) { return this.wrap(this.tf.add(a.t, b.t)); }
  sub(a: TfMat, b: TfMat) { return this.wrap(this.tf.sub(a.t, b.t)); }
  mul(a: TfMat, b: TfMat) { return this.wrap(this.tf.mul(a.t, b.t)); }
  scale(a: TfMat, s: number) { return this.wrap(this.tf.mul(a.t, this.tf.scalar(s))); }
  relu(a: TfMat) { return this.wrap(this.tf.relu(a.t)); }
  stepPositive(a: TfMat) { return this.wrap(this.tf.cast(this.tf.greater(a.t, 0), 'float32')); }
  positivePart(a: TfMat) { return this.wrap(this.tf.relu(a.t)); }
  negativePart(a: TfMat) { return this.wrap(this.tf.minimum(a.t, 0)); }
  smooth(a: TfMat, kind: SmoothKind, alpha: number): TfMat {
    const tf = this.tf;
    if (kind === 'sigmoid') return this.wrap(tf.sigmoid(a.t));
    if (kind === 'tanh') return this.wrap(tf.tanh(a.t));
    return this.wrap(tf.tidy(() => tf.where(tf.greater(a.t, 0), a.t, tf.mul(tf.expm1(a.t), alpha))));
  }
  smoothSlope(z: TfMat, kind: SmoothKind, alpha: number): TfMat {
    const tf = this.tf;
    return this.wrap(
      tf.tidy(() => {
        if (kind === 'sigmoid') {
          const s = tf.sigmoid(z.t);
          return tf.mul(s, tf.sub(1, s));
        }
        if (kind === 'tanh') return tf.sub(1, tf.square(tf.tanh(z.t)));
        return tf.where(tf.greater(z.t, 0), tf.onesLike(z.t), tf.mul(tf.exp(z.t), alpha));
      }),
    );
  }
  concatCols(ms: TfMat[]): TfMat {
    return this.wrap(this.tf.concat(ms.map((m) => m.t), 1));
  }
  nonNegativeMask(a: TfMat) { return this.wrap(this.tf.cast(this.tf.greaterEqual(a.t, 0), 'float32')); }
  divOrZero(num: TfMat, den: TfMat, eps: number): TfMat {
    const tf = this.tf;
    return this.wrap(
      tf.tidy(() => {
        const ok = tf.greater(tf.abs(den.t), eps);
        const safe = tf.where(ok, den.t, tf.onesLike(den.t));
        const q = tf.div(num.t, safe);
        const finite = tf.logicalAnd(ok, tf.isFinite(q));
        return tf.where(finite, q, tf.zerosLike(q));
      }),
    );
  }
  divStabilized(num: TfMat, den: TfMat, eps: number): TfMat {
    const tf = this.tf;
    return this.wrap(tf.tidy(() => tf.div(num.t, tf.add(den.t, tf.where(tf.greaterEqual(den.t, 0), tf.fill(den.t.shape, eps), tf.fill(den.t.shape, -eps))))));
  }
  sumRows(a: TfMat) { return this.wrap(this.tf.sum(a.t, 0, true)); }
  sliceCols(a: TfMat, start: number, stop: number) { return this.wrap(this.tf.slice(a.t, [0, start], [a.rows, stop - start])); }
  sliceRows(a: TfMat, start: number, stop: number) { return this.wrap(this.tf.slice(a.t, [start, 0], [stop - start, a.cols])); }
  /** [O, C·kh·kw] kernels → the [kh', kw', C, O] filter tf.conv2d wants, dilated by inserting zeros (conv2dTranspose has no dilation). */
  private filter(k: TfMat, g: ConvGeom): tfCore.Tensor4D {
    const tf = this.tf;
    const [C] = g.inShape;
    const [O] = g.outShape;
    const [kh, kw] = g.kernel;
    const [dh, dw] = g.dilation;
    return tf.tidy(() => {
      let f = tf.reshape(k.t, [O, C, kh, kw]) as tfCore.Tensor4D;
      if (dh !== 1 || dw !== 1) {
        const kd = f.dataSync();
        const eh = (kh - 1) * dh + 1, ew = (kw - 1) * dw + 1;
        const big = new Float32Array(O * C * eh * ew);
        for (let p = 0; p < O * C; p++) for (let u = 0; u < kh; u++) for (let v = 0; v < kw; v++) big[(p * eh + u * dh) * ew + v * dw] = kd[(p * kh + u) * kw + v];
        f = tf.tensor4d(big, [O, C, eh, ew]);
      }
      return tf.transpose(f, [2, 3, 1, 0]) as tfCore.Tensor4D;
    });
  }
  /** The output size tf.conv2d gives for this geometry (every window that fits the padded input). */
  private fullOut(g: ConvGeom): [number, number] {
    const [, H, W] = g.inShape;
    const [pt, pl, pb, pr] = g.padding;
    const eh = (g.kernel[0] - 1) * g.dilation[0] + 1, ew = (g.kernel[1] - 1) * g.dilation[1] + 1;
    return [Math.floor((H + pt + pb - eh) / g.stride[0]) + 1, Math.floor((W + pl + pr - ew) / g.stride[1]) + 1];
  }
  private pads(g: ConvGeom | PoolGeom): [[number, number], [number, number], [number, number], [number, number]] {
    const [pt, pl, pb, pr] = g.padding;
    return [[0, 0], [pt, pb], [pl, pr], [0, 0]];
  }
  conv2d(x: TfMat, k: TfMat, g: ConvGeom): TfMat {
    const tf = this.tf;
    const [C, H, W] = g.inShape;
    const [O, OH, OW] = g.outShape;
    return this.wrap(
      tf.tidy(() => {
        const xi = tf.transpose(tf.reshape(x.t, [x.rows, C, H, W]), [0, 2, 3, 1]) as tfCore.Tensor4D;
        let y = tf.conv2d(xi, this.filter(k, g), g.stride as [number, number], this.pads(g));
        // A geometry whose output stops before the padded input's last window (kernels.ts computes only OH×OW): crop.
        if (y.shape[1] > OH || y.shape[2] > OW) y = tf.slice(y, [0, 0, 0, 0], [x.rows, OH, OW, O]);
        return tf.reshape(tf.transpose(y, [0, 3, 1, 2]), [x.rows, O * OH * OW]);
      }),
    );
  }
  conv2dTranspose(y: TfMat, k: TfMat, g: ConvGeom): TfMat {
    const tf = this.tf;
    const [C, H, W] = g.inShape;
    const [O, OH, OW] = g.outShape;
    return this.wrap(
      tf.tidy(() => {
        let yi = tf.transpose(tf.reshape(y.t, [y.rows, O, OH, OW]), [0, 2, 3, 1]) as tfCore.Tensor4D;
        // The adjoint of the crop above: the windows past OH×OW get zeros.
        const [fh, fw] = this.fullOut(g);
        if (fh > OH || fw > OW) yi = tf.pad(yi, [[0, 0], [0, fh - OH], [0, fw - OW], [0, 0]]);
        const x = tf.conv2dTranspose(yi, this.filter(k, g), [y.rows, H, W, C], g.stride as [number, number], this.pads(g));
        return tf.reshape(tf.transpose(x, [0, 3, 1, 2]), [y.rows, C * H * W]);
      }),
    );
  }
  // Pooling is memory-bound and its tie convention (first maximum) must be exact, so it runs the shared loops on the host.
  private hostPool(rows: number, cols: number, f: (out: Float32Array) => void): TfMat {
    const out = new Float32Array(rows * cols);
    f(out);
    return this.wrap(this.tf.tensor2d(out, [rows, cols], 'float32'));
  }
  maxPool2d(x: TfMat, g: PoolGeom): TfMat {
    const xd = x.t.dataSync();
    return this.hostPool(x.rows, g.outShape[0] * g.outShape[1] * g.outShape[2], (o) => maxPoolForward(xd, x.rows, g, o));
  }
  maxPool2dBackward(gy: TfMat, x: TfMat, g: PoolGeom): TfMat {
    const gd = gy.t.dataSync(), xd = x.t.dataSync();
    return this.hostPool(x.rows, x.cols, (o) => maxPoolBackward(gd, xd, x.rows, g, o));
  }
  avgPool2d(x: TfMat, g: PoolGeom): TfMat {
    const xd = x.t.dataSync();
    return this.hostPool(x.rows, g.outShape[0] * g.outShape[1] * g.outShape[2], (o) => avgPool(xd, x.rows, g, false, o));
  }
  avgPool2dTranspose(y: TfMat, g: PoolGeom): TfMat {
    const yd = y.t.dataSync();
    return this.hostPool(y.rows, g.inShape[0] * g.inShape[1] * g.inShape[2], (o) => avgPool(yd, y.rows, g, true, o));
  }
  dispose(...ms: TfMat[]): void {
    for (const m of ms) {
      m.t.dispose();
      this.transposed.get(m)?.dispose();
    }
  }

  beginScope(): () => void {
    const engine = this.tf.engine();
    engine.startScope();
    let open = true;
    return () => {
      if (open) engine.endScope();
      open = false;
    };
  }
}

const req = createRequire(typeof __filename === 'string' ? __filename : path.join(process.cwd(), 'index.js'));

function tryNative(pkg: string): { tf: TF; gpu: boolean } | null {
  try {
    const tf = req(pkg) as TF;
    const be = tf.backend() as unknown as { isUsingGpuDevice?: boolean };
    return { tf, gpu: be?.isUsingGpuDevice === true };
  } catch {
    return null;
  }
}

/** Folder that holds the wasm binaries: next to the bundle (shipped in dist/), else the package. */
function wasmDir(): string {
  const here = typeof __dirname === 'string' ? __dirname : process.cwd();
  try {
    const fs = req('node:fs') as typeof import('node:fs');
    if (fs.existsSync(path.join(here, 'tfjs-backend-wasm-simd.wasm'))) return here + path.sep;
  } catch {
    /* fall through */
  }
  return path.join(path.dirname(req.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist') + path.sep;
}

export async function createTfjsOps(backend: BackendName): Promise<TfjsOps> {
  const errors: string[] = [];
  if (backend === 'auto' || backend === 'tensorflow') {
    const gpu = tryNative('@tensorflow/tfjs-node-gpu');
    if (gpu?.gpu) return new TfjsOps(gpu.tf, 'tensorflow-gpu');
    const cpu = gpu ?? tryNative('@tensorflow/tfjs-node');
    if (cpu) return new TfjsOps(cpu.tf, 'tensorflow-cpu');
    errors.push('@tensorflow/tfjs-node(-gpu) is not installed or did not load');
    if (backend === 'tensorflow') throw new Error(errors.join('; '));
  }
  const tf = tfCore;
  if (backend === 'auto' || backend === 'wasm') {
    try {
      const wasm = await import('@tensorflow/tfjs-backend-wasm');
      wasm.setWasmPaths(wasmDir());
      if (await tf.setBackend('wasm')) {
        await tf.ready();
        return new TfjsOps(tf, 'tfjs-wasm');
      }
    } catch (e) {
      errors.push(`wasm: ${(e as Error).message}`);
      if (backend === 'wasm') throw new Error(errors.join('; '));
    }
  }
  await tf.setBackend('cpu');
  await tf.ready();
  // The cpu backend greets Node users with a hint on its first tensor; we already report the backend in every result.
  const warn = console.warn;
  console.warn = () => {};
  try {
    tf.scalar(0).dispose();
  } finally {
    console.warn = warn;
  }
  return new TfjsOps(tf, 'tfjs-cpu');
}
