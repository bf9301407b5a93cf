// Ops on onnxruntime-node (native; float32 and float64), by tracing: every op
// call returns a lazy node of a recorded graph instead of computing, and
// `read(m)` writes the part of the graph that m needs as an ONNX model
// (onnxGraph.ts), runs it in one runtime call and keeps the values. The
// algorithms stay written op by op against the Ops interface while the
// runtime sees whole passes (a forward pass, a relevance pass) and runs them
// with its own kernels, one call instead of hundreds of small ones.
//
// - Leaves (ops.matrix, and every node already computed) are fed as inputs, so
//   a session depends only on the graph's structure and shapes: sessions are
//   cached by that key (LRU) and the next batch of the same job reuses it.
// - Identical calls (same op, same parameters, same input nodes) return the
//   same node, so a value the algorithms recompute (the forward map of a rule,
//   W⁺) is computed once.
// - What a run computes is kept for the next runs: the node read, every
//   "heavy" node (products, convolutions, pooling) and every node a second
//   run needed again. A computed node drops its inputs (it became a leaf);
//   memory is the garbage collector's, so dispose/beginScope have nothing to free.
// - The runtime must be synchronous here (Ops.read is): we use the binding's
//   synchronous InferenceSession (the package's async API wraps exactly it in
//   a setImmediate), through createRequire so bundlers leave it external.
//
// Semantics matched to the typed backend (kernels.ts):
// - Convolution in float32 is the runtime's Conv / ConvTranspose. The
//   runtime has no float64 Conv, ConvTranspose or AveragePool, so in float64
//   a convolution is a sum over kernel taps of a strided Slice of the padded
//   input times that tap's [O, C] weight matrix (MatMul), and its adjoint
//   places each tap's Wᵀ·Y back with Pad (interleaving zeros for strides).
//   Pads are fitted so the runtime's output shape is the layer's (a Pad with
//   negative pads crops rows no window reads).
// - Max pooling: the runtime's MaxPool ignores padded taps (−∞ padding) and its
//   Indices output picks the first maximum of a window in row-major order (it
//   replaces the running best only on a strictly greater value, as kernels.ts
//   does); the backward pass scatter-adds gy at those indices
//   (ScatterElements, reduction add, in output order), so overlapping windows
//   accumulate like the typed loop. A window with no input tap (padding only)
//   yields 0 in the typed backend and the lowest float here (not produced by
//   any loader).
// - Average pooling is the sum of the taps (Pad with zeros, strided Slices,
//   Sum) divided by each window's divisor (kernels.avgDivisor), in both
//   precisions; its adjoint places y/n with the same Pad placement.
// - divOrZero / divStabilized are Where/Greater/Abs/Div compositions with the
//   typed backend's conditions (NaN denominators give 0, quotients must be
//   finite). relu is the runtime's Relu (max(x, 0); NaN stays NaN where the
//   typed backend gives 0). ELU is α·(exp(x) − 1), not expm1: the two differ by
//   rounding near 0.

import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { createRequire } from 'node:module';
import type { Precision } from '../../protocol';
import { GraphWriter, type ElemType } from './onnxGraph';
import { avgDivisor, type ConvGeom, type PoolGeom } from './kernels';
import type { Mat, Ops, SmoothKind } from './ops';

type Arr = Float32Array | Float64Array;
type Emit = (g: GraphWriter, ins: string[]) => string;

let nextId = 0;

export class OrtMat implements Mat {
  readonly id = nextId++;
  /** Values once computed (then inputs/emit are dropped: the node is a leaf). */
  data: Arr | null;
  inputs: OrtMat[];
  emit: Emit | null;
  /** How many runs computed this node without keeping it. */
  seen = 0;
  /** Nodes made from this one (hash-consing), weakly held. */
  uses?: Map<string, WeakRef<OrtMat>>;
  constructor(
    readonly rows: number,
    readonly cols: number,
    /** The op and its parameters: part of the structural key. */
    readonly op: string,
    inputs: OrtMat[],
    emit: Emit | null,
    readonly heavy: boolean,
    data: Arr | null,
  ) {
    this.inputs = inputs;
    this.emit = emit;
    this.data = data;
  }
}

// ── the runtime binding ────────────────────────────────────────────────────

interface OrtTensor {
  readonly data: ArrayLike<number>;
  readonly dims: readonly number[];
}
interface NativeSession {
  loadModel(buffer: ArrayBuffer, byteOffset: number, byteLength: number, options: object): void;
  run(feeds: Record<string, OrtTensor>, fetches: Record<string, null>, options: object): Record<string, OrtTensor>;
  dispose(): void;
}
interface Runtime {
  Session: new () => NativeSession;
  Tensor: new (type: string, data: Arr, dims: readonly number[]) => OrtTensor;
  version: string;
}

const req = createRequire(typeof __filename === 'string' ? __filename : path.join(process.cwd(), 'index.js'));
let runtime: Runtime | null = null;

/** Loads onnxruntime-node (throws when it is missing or its native library does not load). */
export function loadRuntime(): Runtime {
  if (runtime) return runtime;
  // A platform .vsix carries the package next to the bundle (dist/native, see esbuild.mjs --native); a
  // checkout or an npm install resolves it from node_modules.
  const here = typeof __dirname === 'string' ? __dirname : process.cwd();
  const bundled = path.join(here, 'native', 'node_modules');
  const from = existsSync(path.join(bundled, 'onnxruntime-node', 'package.json')) ? createRequire(path.join(bundled, 'index.js')) : req;
  const b = from('onnxruntime-node/dist/binding') as { binding: { InferenceSession: new () => NativeSession }; initOrt(): void };
  const common = from('onnxruntime-common') as { Tensor: Runtime['Tensor'] };
  const version = (from('onnxruntime-node/package.json') as { version: string }).version;
  b.initOrt();
  runtime = { Session: b.binding.InferenceSession, Tensor: common.Tensor, version };
  return runtime;
}

/** Intra-op threads: DTD_LENS_ORT_THREADS, else 1 (measured faster than 2 on the 2-core machines this runs on; see test/bench). */
export function defaultThreads(): number {
  const env = Number(process.env.DTD_LENS_ORT_THREADS);
  return Number.isInteger(env) && env > 0 ? env : 1;
}

interface CachedSession {
  session: NativeSession;
  inputs: string[];
  outputs: string[];
}

const MAX_SESSIONS = 64;

/** Pads fitted to a window count: [begin, end] so that (n − 1)·s + extent windows fit exactly (end may be negative: a crop). */
function fitEnd(size: number, begin: number, outSize: number, stride: number, extent: number): number {
  return (outSize - 1) * stride + extent - begin - size;
}

export class OrtOps implements Ops<OrtMat> {
  readonly backend: string;
  private readonly Ctor: Float64ArrayConstructor | Float32ArrayConstructor;
  private readonly elem: ElemType;
  private readonly sessions = new Map<string, CachedSession>();
  /** Runs and session builds so far (tests and the bench read them). */
  readonly stats = { runs: 0, sessionsBuilt: 0 };

  constructor(
    readonly precision: Precision,
    private readonly rt: Runtime,
    private readonly provider: 'cpu' | 'cuda',
    private readonly threads = defaultThreads(),
  ) {
    this.Ctor = precision === 'float64' ? Float64Array : Float32Array;
    this.elem = precision;
    this.backend = `onnxruntime-${provider}`;
  }

  // ── graph recording ──

  private node(op: string, rows: number, cols: number, inputs: OrtMat[], emit: Emit, heavy = false): OrtMat {
    const key = `${op}|${inputs.map((m) => m.id).join(',')}`;
    // The table lives on the newest input (most likely short-lived), weakly.
    const owner = inputs.reduce((a, m) => (m.id > a.id ? m : a));
    const hit = owner.uses?.get(key)?.deref();
    if (hit) return hit;
    const m = new OrtMat(rows, cols, op, inputs, emit, heavy, null);
    owner.uses ??= new Map();
    if (owner.uses.size > 256) for (const [k, r] of owner.uses) if (!r.deref()) owner.uses.delete(k);
    owner.uses.set(key, new WeakRef(m));
    return m;
  }

  private unary(op: string, a: OrtMat, emit: Emit): OrtMat {
    return this.node(op, a.rows, a.cols, [a], emit);
  }

  matrix(rows: number, cols: number, data: ArrayLike<number>): OrtMat {
    if (data.length !== rows * cols) throw new Error(`matrix: ${data.length} values for [${rows}, ${cols}]`);
    const arr = new this.Ctor(rows * cols);
    arr.set(data);
    return new OrtMat(rows, cols, 'leaf', [], null, false, arr);
  }

  read(m: OrtMat): Float64Array {
    if (!m.data) this.run(m);
    const d = m.data!;
    return d instanceof Float64Array ? d.slice() : Float64Array.from(d);
  }

  /** Computes m: writes the subgraph it needs, runs it, keeps m and the nodes worth keeping. */
  private run(m: OrtMat): void {
    // Post-order walk over nodes not yet computed; computed ones are the leaves (inputs).
    const leaves: OrtMat[] = [];
    const order: OrtMat[] = [];
    const index = new Map<OrtMat, number>();
    const stack: [OrtMat, number][] = [[m, 0]];
    while (stack.length) {
      const top = stack[stack.length - 1];
      const [n, i] = top;
      if (index.has(n)) {
        stack.pop();
        continue;
      }
      if (n.data) {
        index.set(n, -1 - leaves.length);
        leaves.push(n);
        stack.pop();
        continue;
      }
      if (i < n.inputs.length) {
        top[1]++;
        const c = n.inputs[i];
        if (!index.has(c)) stack.push([c, 0]);
        continue;
      }
      stack.pop();
      index.set(n, order.length);
      order.push(n);
    }
    const keep = order.filter((n) => n === m || n.heavy || n.seen > 0);
    const ref = (n: OrtMat) => {
      const k = index.get(n)!;
      return k < 0 ? `L${-1 - k}` : `N${k}`;
    };
    const key = [
      this.elem,
      leaves.map((l) => `${l.rows}x${l.cols}`).join(';'),
      order.map((n) => `${n.op}(${n.inputs.map(ref).join(',')})`).join(';'),
      keep.map(ref).join(','),
    ].join('\n');
    let cached = this.sessions.get(key);
    if (cached) {
      // LRU: most recently used last.
      this.sessions.delete(key);
      this.sessions.set(key, cached);
    } else {
      cached = this.build(leaves, order, keep);
      this.sessions.set(key, cached);
      if (this.sessions.size > MAX_SESSIONS) {
        const [oldKey, old] = this.sessions.entries().next().value as [string, CachedSession];
        this.sessions.delete(oldKey);
        old.session.dispose();
      }
    }
    const feeds: Record<string, OrtTensor> = {};
    leaves.forEach((l, i) => (feeds[cached.inputs[i]] = new this.rt.Tensor(this.elem, l.data!, [l.rows, l.cols])));
    const fetches: Record<string, null> = {};
    for (const o of cached.outputs) fetches[o] = null;
    const out = cached.session.run(feeds, fetches, {});
    this.stats.runs++;
    keep.forEach((n, i) => {
      const t = out[cached.outputs[i]];
      // A copy: the binding's output arrays may share memory the runtime reuses (values kept across runs changed otherwise).
      n.data = t.data instanceof this.Ctor ? (t.data as Arr).slice() : this.Ctor.from(t.data);
      n.inputs = [];
      n.emit = null;
    });
    for (const n of order) if (!n.data) n.seen++;
  }

  private build(leaves: OrtMat[], order: OrtMat[], keep: OrtMat[]): CachedSession {
    const g = new GraphWriter(this.elem);
    const names = new Map<OrtMat, string>();
    const inputs = leaves.map((l) => {
      const name = g.input([l.rows, l.cols]);
      names.set(l, name);
      return name;
    });
    for (const n of order) names.set(n, n.emit!(g, n.inputs.map((c) => names.get(c)!)));
    const outputs = keep.map((n) => {
      const o = names.get(n)!;
      g.output(o, [n.rows, n.cols]);
      return o;
    });
    const bytes = g.encode();
    const session = new this.rt.Session();
    session.loadModel(bytes.buffer as ArrayBuffer, bytes.byteOffset, bytes.byteLength, {
      // 'extended': the layout transformations of 'all' (NCHWc) cost more to set up than they save on these graphs.
      graphOptimizationLevel: process.env.DTD_LENS_ORT_OPT ?? 'extended',
      executionMode: 'sequential',
      intraOpNumThreads: this.threads,
      interOpNumThreads: 1,
      executionProviders: [this.provider],
      logSeverityLevel: 3,
    });
    this.stats.sessionsBuilt++;
    return { session, inputs, outputs };
  }

  /** Frees every cached session (the engine process keeps one Ops per precision; tests may call this). */
  release(): void {
    for (const s of this.sessions.values()) s.session.dispose();
    this.sessions.clear();
  }

  // ── the ops ──

  matmul(a: OrtMat, b: OrtMat, transposeB: boolean): OrtMat {
    const k = a.cols;
    const n = transposeB ? b.rows : b.cols;
    if ((transposeB ? b.cols : b.rows) !== k) throw new Error(`matmul: [${a.rows},${a.cols}]·[${b.rows},${b.cols}]${transposeB ? 'ᵀ' : ''}`);
    return this.node(`gemm:${transposeB ? 1 : 0}`, a.rows, n, [a, b], (g, [x, y]) => g.op('Gemm', [x, y], { transB: transposeB ? 1 : 0 }), true);
  }

  private zip(op: 'Add' | 'Sub' | 'Mul', a: OrtMat, b: OrtMat): OrtMat {
    if (!((b.rows === a.rows || b.rows === 1) && b.cols === a.cols)) throw new Error(`broadcast: [${a.rows},${a.cols}] with [${b.rows},${b.cols}]`);
    return this.node(op, a.rows, a.cols, [a, b], (g, [x, y]) => g.op(op, [x, y]));
  }
  add(a: OrtMat, b: OrtMat) { return this.zip('Add', a, b); }
  sub(a: OrtMat, b: OrtMat) { return this.zip('Sub', a, b); }
  mul(a: OrtMat, b: OrtMat) { return this.zip('Mul', a, b); }
  scale(a: OrtMat, s: number) {
    return this.unary(`scale:${s}`, a, (g, [x]) => g.op('Mul', [x, g.constF([s])]));
  }
  relu(a: OrtMat) { return this.unary('relu', a, (g, [x]) => g.op('Relu', [x])); }
  positivePart(a: OrtMat) { return this.relu(a); }
  negativePart(a: OrtMat) { return this.unary('neg', a, (g, [x]) => g.op('Min', [x, g.constF([0])])); }
  private mask(op: 'Greater' | 'GreaterOrEqual', a: OrtMat): OrtMat {
    return this.unary(op, a, (g, [x]) => g.op('Cast', [g.op(op, [x, g.constF([0])])], { to: this.elem === 'float64' ? 11 : 1 }));
  }
  stepPositive(a: OrtMat) { return this.mask('Greater', a); }
  nonNegativeMask(a: OrtMat) { return this.mask('GreaterOrEqual', a); }

  divOrZero(num: OrtMat, den: OrtMat, eps: number): OrtMat {
    if (!((den.rows === num.rows || den.rows === 1) && den.cols === num.cols)) throw new Error(`broadcast: [${num.rows},${num.cols}] with [${den.rows},${den.cols}]`);
    return this.node(`divOrZero:${eps}`, num.rows, num.cols, [num, den], (g, [x, y]) => {
      // !(|y| > eps) → 0 (also for NaN); q = x / y where ok; 0 where q is not finite.
      const ok = g.op('Greater', [g.op('Abs', [y]), g.constF([eps])]);
      const safe = g.op('Where', [ok, y, g.constF([1])]);
      const q = g.op('Div', [x, safe]);
      const finite = g.op('Less', [g.op('Abs', [q]), g.constF([Infinity])]);
      return g.op('Where', [g.op('And', [ok, finite]), q, g.constF([0])]);
    });
  }
  divStabilized(num: OrtMat, den: OrtMat, eps: number): OrtMat {
    if (!((den.rows === num.rows || den.rows === 1) && den.cols === num.cols)) throw new Error(`broadcast: [${num.rows},${num.cols}] with [${den.rows},${den.cols}]`);
    return this.node(`divStab:${eps}`, num.rows, num.cols, [num, den], (g, [x, y]) => {
      const s = g.op('Where', [g.op('GreaterOrEqual', [y, g.constF([0])]), g.constF([eps]), g.constF([-eps])]);
      return g.op('Div', [x, g.op('Add', [y, s])]);
    });
  }
  smooth(a: OrtMat, kind: SmoothKind, alpha: number): OrtMat {
    if (kind === 'sigmoid') return this.unary('sigmoid', a, (g, [x]) => g.op('Sigmoid', [x]));
    if (kind === 'tanh') return this.unary('tanh', a, (g, [x]) => g.op('Tanh', [x]));
    // ELU: the runtime's Elu takes α as a float32 attribute; α·(exp(x) − 1) keeps it exact in float64.
    return this.unary(`elu:${alpha}`, a, (g, [x]) => {
      const neg = g.op('Mul', [g.constF([alpha]), g.op('Sub', [g.op('Exp', [x]), g.constF([1])])]);
      return g.op('Where', [g.op('Greater', [x, g.constF([0])]), x, neg]);
    });
  }
  smoothSlope(z: OrtMat, kind: SmoothKind, alpha: number): OrtMat {
    if (kind === 'sigmoid') {
      return this.unary('dsigmoid', z, (g, [x]) => {
        const s = g.op('Sigmoid', [x]);
        return g.op('Mul', [s, g.op('Sub', [g.constF([1]), s])]);
      });
    }
    if (kind === 'tanh') {
      return this.unary('dtanh', z, (g, [x]) => {
        const t = g.op('Tanh', [x]);
        return g.op('Sub', [g.constF([1]), g.op('Mul', [t, t])]);
      });
    }
    return this.unary(`delu:${alpha}`, z, (g, [x]) => g.op('Where', [g.op('Greater', [x, g.constF([0])]), g.constF([1]), g.op('Mul', [g.constF([alpha]), g.op('Exp', [x])])]));
  }
  concatCols(ms: OrtMat[]): OrtMat {
    if (ms.length === 1) return ms[0];
    const rows = ms[0].rows;
    const cols = ms.reduce((a, m) => a + m.cols, 0);
    return this.node('concat', rows, cols, ms, (g, xs) => g.op('Concat', xs, { axis: 1 }));
  }
  sumRows(a: OrtMat): OrtMat {
    return this.node('sumRows', 1, a.cols, [a], (g, [x]) => g.op('ReduceSum', [x, g.constI64([0])], { keepdims: 1 }));
  }
  sliceCols(a: OrtMat, start: number, stop: number): OrtMat {
    return this.node(`sliceCols:${start}:${stop}`, a.rows, stop - start, [a], (g, [x]) => g.op('Slice', [x, g.constI64([start]), g.constI64([stop]), g.constI64([1])]));
  }
  sliceRows(a: OrtMat, start: number, stop: number): OrtMat {
    return this.node(`sliceRows:${start}:${stop}`, stop - start, a.cols, [a], (g, [x]) => g.op('Slice', [x, g.constI64([start]), g.constI64([stop]), g.constI64([0])]));
  }

  // ── convolution ──

  conv2d(x: OrtMat, k: OrtMat, geom: ConvGeom): OrtMat {
    const B = x.rows;
    const [C, H, W] = geom.inShape;
    const [O, OH, OW] = geom.outShape;
    const [kh, kw] = geom.kernel;
    const [sh, sw] = geom.stride;
    const [pt, pl] = geom.padding;
    const [dh, dw] = geom.dilation;
    const eh = (kh - 1) * dh + 1, ew = (kw - 1) * dw + 1;
    const pb = fitEnd(H, pt, OH, sh, eh), pr = fitEnd(W, pl, OW, sw, ew);
    return this.node(`conv:${JSON.stringify(geom)}`, B, O * OH * OW, [x, k], (g, [xs, ks]) => {
      const x4 = g.reshape(xs, [B, C, H, W]);
      if (this.elem === 'float32') {
        // Conv takes non-negative pads: crop first where the windows end before the input does.
        const xin = pb < 0 || pr < 0 ? g.op('Pad', [x4, g.constI64([0, 0, 0, 0, 0, 0, Math.min(pb, 0), Math.min(pr, 0)])]) : x4;
        const y = g.op('Conv', [xin, g.reshape(ks, [O, C, kh, kw])], { kernel_shape: [kh, kw], strides: [sh, sw], dilations: [dh, dw], pads: [pt, pl, Math.max(pb, 0), Math.max(pr, 0)] });
        return g.reshape(y, [B, O * OH * OW]);
      }
      // float64: Σ over taps (u, v) of W[:, :, u, v] · (strided slice of the padded input).
      const xp = g.op('Pad', [x4, g.constI64([0, 0, pt, pl, 0, 0, pb, pr])]);
      const k4 = g.reshape(ks, [O, C, kh, kw]);
      const terms: string[] = [];
      for (let u = 0; u < kh; u++) {
        for (let v = 0; v < kw; v++) {
          const tap = g.op('Slice', [xp, g.constI64([u * dh, v * dw]), g.constI64([u * dh + (OH - 1) * sh + 1, v * dw + (OW - 1) * sw + 1]), g.constI64([2, 3]), g.constI64([sh, sw])]);
          const kuv = g.reshape(g.op('Slice', [k4, g.constI64([u, v]), g.constI64([u + 1, v + 1]), g.constI64([2, 3])]), [O, C]);
          terms.push(g.op('MatMul', [kuv, g.reshape(tap, [B, C, OH * OW])]));
        }
      }
      return g.reshape(terms.length === 1 ? terms[0] : g.op('Sum', terms), [B, O * OH * OW]);
    }, true);
  }

  conv2dTranspose(y: OrtMat, k: OrtMat, geom: ConvGeom): OrtMat {
    const B = y.rows;
    const [C, H, W] = geom.inShape;
    const [O, OH, OW] = geom.outShape;
    const [kh, kw] = geom.kernel;
    const [sh, sw] = geom.stride;
    const [pt, pl] = geom.padding;
    const [dh, dw] = geom.dilation;
    const eh = (kh - 1) * dh + 1, ew = (kw - 1) * dw + 1;
    return this.node(`convT:${JSON.stringify(geom)}`, B, C * H * W, [y, k], (g, [ys, ks]) => {
      const y4 = g.reshape(ys, [B, O, OH, OW]);
      if (this.elem === 'float32') {
        // ConvTranspose's output is the full adjoint cropped by pads; end pads crop rows beyond the input,
        // rows of the input no window reads are appended as zeros (Pad), never via output_padding.
        const full = [(OH - 1) * sh + eh - pt, (OW - 1) * sw + ew - pl];
        const pb = Math.max(0, full[0] - H), pr = Math.max(0, full[1] - W);
        let x = g.op('ConvTranspose', [y4, g.reshape(ks, [O, C, kh, kw])], { kernel_shape: [kh, kw], strides: [sh, sw], dilations: [dh, dw], pads: [pt, pl, pb, pr] });
        const gotH = full[0] - pb, gotW = full[1] - pr;
        if (gotH < H || gotW < W) x = g.op('Pad', [x, g.constI64([0, 0, 0, 0, 0, 0, H - gotH, W - gotW])]);
        return g.reshape(x, [B, C * H * W]);
      }
      // float64: Σ over taps of the tap's Wᵀ·Y placed at rows i·sh + u·dh − pt (Pad; negative pads crop).
      const k4 = g.reshape(ks, [O, C, kh, kw]);
      const y3 = g.reshape(ys, [B, O, OH * OW]);
      const terms: string[] = [];
      for (let u = 0; u < kh; u++) {
        for (let v = 0; v < kw; v++) {
          const kuv = g.reshape(g.op('Slice', [k4, g.constI64([u, v]), g.constI64([u + 1, v + 1]), g.constI64([2, 3])]), [O, C]);
          const t = g.op('MatMul', [g.op('Transpose', [kuv], { perm: [1, 0] }), y3]);
          terms.push(this.place(g, g.reshape(t, [B, C, OH, OW]), [B, C, OH, OW], [H, W], [sh, sw], [u * dh - pt, v * dw - pl]));
        }
      }
      return g.reshape(terms.length === 1 ? terms[0] : g.op('Sum', terms), [B, C * H * W]);
    }, true);
  }

  /** t [B, C, OH, OW] → [B, C, H, W] with t[i, j] at row i·s + off (zeros elsewhere; rows outside are dropped). */
  private place(g: GraphWriter, t: string, dims: [number, number, number, number], [H, W]: [number, number], [sh, sw]: [number, number], [oh, ow]: [number, number]): string {
    const [B, C, OH, OW] = dims;
    let x = t;
    if (sh > 1 || sw > 1) {
      x = g.reshape(x, [B, C, OH, 1, OW, 1]);
      x = g.op('Pad', [x, g.constI64([0, 0, 0, 0, 0, 0, 0, 0, 0, sh - 1, 0, sw - 1])]);
      x = g.reshape(x, [B, C, OH * sh, OW * sw]);
    }
    return g.op('Pad', [x, g.constI64([0, 0, oh, ow, 0, 0, H - (OH * sh + oh), W - (OW * sw + ow)])]);
  }

  // ── pooling ──

  private poolPads(geom: PoolGeom): { pads: number[]; out: [number, number] } {
    const [, H, W] = geom.inShape;
    const [, OH, OW] = geom.outShape;
    const [kh, kw] = geom.kernel;
    const [sh, sw] = geom.stride;
    const [pt, pl] = geom.padding;
    // End pads that give at least the layer's windows; extra windows (pads clamped at 0) are sliced off.
    const pb = Math.max(0, fitEnd(H, pt, OH, sh, kh)), pr = Math.max(0, fitEnd(W, pl, OW, sw, kw));
    return { pads: [pt, pl, pb, pr], out: [Math.floor((H + pt + pb - kh) / sh) + 1, Math.floor((W + pl + pr - kw) / sw) + 1] };
  }

  /** MaxPool's values or indices, cropped to the layer's windows. */
  private maxPoolNode(g: GraphWriter, xs: string, B: number, geom: PoolGeom, which: 0 | 1): string {
    const [C, H, W] = geom.inShape;
    const [, OH, OW] = geom.outShape;
    const { pads, out } = this.poolPads(geom);
    const outs = g.node('MaxPool', [g.reshape(xs, [B, C, H, W])], { kernel_shape: [...geom.kernel], strides: [...geom.stride], pads }, which + 1);
    let r = outs[which];
    if (out[0] !== OH || out[1] !== OW) r = g.op('Slice', [r, g.constI64([0, 0]), g.constI64([OH, OW]), g.constI64([2, 3])]);
    return r;
  }

  maxPool2d(x: OrtMat, geom: PoolGeom): OrtMat {
    const B = x.rows;
    const [C, OH, OW] = geom.outShape;
    return this.node(`maxpool:${JSON.stringify(geom)}`, B, C * OH * OW, [x], (g, [xs]) => g.reshape(this.maxPoolNode(g, xs, B, geom, 0), [B, C * OH * OW]), true);
  }

  maxPool2dBackward(gy: OrtMat, x: OrtMat, geom: PoolGeom): OrtMat {
    const B = x.rows;
    const [C, OH, OW] = geom.outShape;
    const n = B * C * OH * OW;
    return this.node(`maxpoolT:${JSON.stringify(geom)}`, B, x.cols, [gy, x], (g, [gs, xs]) => {
      // Indices are flat over [B, C, H, W] (padding not counted): scatter-add gy there, in output order.
      const idx = g.reshape(this.maxPoolNode(g, xs, B, geom, 1), [1, n]);
      const zeros = g.op('Expand', [g.constF([0]), g.constI64([1, B * x.cols])]);
      const s = g.op('ScatterElements', [zeros, idx, g.reshape(gs, [1, n])], { axis: 1, reduction: 'add' });
      return g.reshape(s, [B, x.cols]);
    }, true);
  }

  /** The [OH, OW] divisors of average pooling. */
  private divisors(geom: PoolGeom): number[] {
    const [, OH, OW] = geom.outShape;
    const d: number[] = [];
    for (let i = 0; i < OH; i++) for (let j = 0; j < OW; j++) d.push(avgDivisor(geom, i, j) || 1);
    return d;
  }

  avgPool2d(x: OrtMat, geom: PoolGeom): OrtMat {
    const B = x.rows;
    const [C, H, W] = geom.inShape;
    const [, OH, OW] = geom.outShape;
    const [kh, kw] = geom.kernel;
    const [sh, sw] = geom.stride;
    const [pt, pl] = geom.padding;
    const pb = fitEnd(H, pt, OH, sh, kh), pr = fitEnd(W, pl, OW, sw, kw);
    return this.node(`avgpool:${JSON.stringify(geom)}`, B, C * OH * OW, [x], (g, [xs]) => {
      // Σ of the taps (zero padding adds nothing), in the typed loop's tap order, then ÷ the window's divisor.
      const xp = g.op('Pad', [g.reshape(xs, [B, C, H, W]), g.constI64([0, 0, pt, pl, 0, 0, pb, pr])]);
      const terms: string[] = [];
      for (let u = 0; u < kh; u++) {
        for (let v = 0; v < kw; v++) {
          terms.push(g.op('Slice', [xp, g.constI64([u, v]), g.constI64([u + (OH - 1) * sh + 1, v + (OW - 1) * sw + 1]), g.constI64([2, 3]), g.constI64([sh, sw])]));
        }
      }
      const s = terms.length === 1 ? terms[0] : g.op('Sum', terms);
      return g.reshape(g.op('Div', [s, g.constF(this.divisors(geom), [OH, OW])]), [B, C * OH * OW]);
    }, true);
  }

  avgPool2dTranspose(y: OrtMat, geom: PoolGeom): OrtMat {
    const B = y.rows;
    const [C, H, W] = geom.inShape;
    const [, OH, OW] = geom.outShape;
    const [kh, kw] = geom.kernel;
    const [sh, sw] = geom.stride;
    const [pt, pl] = geom.padding;
    return this.node(`avgpoolT:${JSON.stringify(geom)}`, B, C * H * W, [y], (g, [ys]) => {
      const q = g.op('Div', [g.reshape(ys, [B, C, OH, OW]), g.constF(this.divisors(geom), [OH, OW])]);
      const terms: string[] = [];
      for (let u = 0; u < kh; u++) for (let v = 0; v < kw; v++) terms.push(this.place(g, q, [B, C, OH, OW], [H, W], [sh, sw], [u - pt, v - pl]));
      return g.reshape(terms.length === 1 ? terms[0] : g.op('Sum', terms), [B, C * H * W]);
    }, true);
  }

  dispose(): void {
    // Values are plain arrays owned by the garbage collector; sessions are cached (release()).
  }

  beginScope(): () => void {
    return () => undefined;
  }
}

const opsCache = new Map<string, OrtOps>();

/** Whether the CUDA execution provider loads and runs a product here (not tried when its library is not installed: that logs an error). */
function cudaWorks(rt: Runtime): boolean {
  try {
    const dir = path.dirname(req.resolve('onnxruntime-node/dist/binding'));
    const bin = path.join(dir, '..', 'bin', 'napi-v6', process.platform, process.arch);
    const fs = req('node:fs') as typeof import('node:fs');
    if (!fs.existsSync(path.join(bin, 'libonnxruntime_providers_cuda.so'))) return false;
    const ops = new OrtOps('float32', rt, 'cuda');
    const a = ops.matrix(2, 2, [1, 2, 3, 4]);
    const r = ops.read(ops.matmul(a, a, false));
    ops.release();
    return r[0] === 7 && r[3] === 22;
  } catch {
    return false;
  }
}

/**
 * The onnxruntime Ops for a precision: CUDA for float32 when its provider loads and a probe runs on it
 * (float64 kernels are mostly CPU-only in the runtime), else the CPU provider. Throws when the package does not load.
 */
export function createOrtOps(precision: Precision): OrtOps {
  let ops = opsCache.get(precision);
  if (ops) return ops;
  const rt = loadRuntime();
  const provider = precision === 'float32' && process.env.DTD_LENS_ORT_CUDA !== '0' && cudaWorks(rt) ? 'cuda' : 'cpu';
  ops = new OrtOps(precision, rt, provider);
  // A probe on the chosen provider, so a broken installation fails here (and 'auto' falls back) rather than mid-run.
  const a = ops.matrix(1, 2, [1, 2]);
  const r = ops.read(ops.matmul(a, a, true));
  if (r[0] !== 5) throw new Error(`onnxruntime computed 1·1 + 2·2 = ${r[0]}`);
  opsCache.set(precision, ops);
  return ops;
}
