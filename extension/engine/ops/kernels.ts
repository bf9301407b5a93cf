// Convolution and pooling over typed arrays, batched: a batch is B rows of
// C·H·W values (NCHW, flattened C-major), and the blocked matrix product the
// typed-array Ops (typed.ts) and the convolutions share. The typed-array Ops
// and the exact float64 single-point code (forward.ts) both use these, so there
// is one definition of the layer semantics:
//   conv2d    y[o,i,j] = Σ_{c,u,v} W[o,c,u,v] · xpad[c, i·sh + u·dh, j·sw + v·dw]   (cross-correlation)
//   transpose the adjoint of conv2d (the gradient w.r.t. its input; padding cropped)
//   max pool  first maximal element of each window in row-major order (PyTorch CPU), padding = −∞
//   avg pool  mean over the window; divisor = taps inside the input, or inside input+padding (countIncludePad)
// Products and convolutions accumulate in float64 (also for Float32Array data)
// in blocks of GEMM_KC terms; the order of the sum is not a straight loop's.
// A stretch of zeros at either end of a packed panel is skipped, so a batch
// whose rows are each nonzero in one channel (or one unit) costs about what one
// full row costs (the channel flows of crp.ts rely on it).

export type Arr = Float64Array | Float32Array;

export interface ConvGeom {
  inShape: readonly [number, number, number];
  outShape: readonly [number, number, number];
  kernel: readonly [number, number];
  stride: readonly [number, number];
  /** [top, left, bottom, right]. */
  padding: readonly [number, number, number, number];
  dilation: readonly [number, number];
}

export interface PoolGeom {
  inShape: readonly [number, number, number];
  outShape: readonly [number, number, number];
  kernel: readonly [number, number];
  stride: readonly [number, number];
  padding: readonly [number, number, number, number];
  /** Average pooling: count padded taps in the divisor (PyTorch's default) or not (ONNX/Keras default). */
  countIncludePad?: boolean;
}

/** The output rows (or columns) i whose tap u lands inside the input: i·s − p + u·d ∈ [0, size), as [lo, hi). */
function validRange(out: number, size: number, s: number, p: number, ud: number): [number, number] {
  const lo = Math.max(0, Math.ceil((p - ud) / s));
  const hi = Math.min(out, Math.floor((size - 1 + p - ud) / s) + 1);
  return [lo, Math.max(lo, hi)];
}

// ── the blocked product ─────────────────────────────────────────────────────
// C[M, N] += A[M, K]·B[K, N], GotoBLAS-style: B is packed in blocks of
// GEMM_KC × GEMM_NC as panels of NR columns, A in blocks of GEMM_MC × GEMM_KC
// as panels of MR rows, and a register-blocked MR × NR micro-kernel runs over
// each pair of panels. Operands are read through strides, so Aᵀ, Bᵀ, a kernel
// matrix and an image's patches (im2col, one block at a time) all go through it.

const MR = 4;
const NR = 4;
/** Terms per block of the sum (the K blocking). */
export const GEMM_KC = 256;
const GEMM_MC = 64;
const GEMM_NC = 256;

/** A strided matrix view: element (i, p) = data[off + i·rs + p·cs]. */
interface Strided {
  data: ArrayLike<number>;
  off: number;
  rs: number;
  cs: number;
}

/**
 * Packs `count` lines [i0, i0+mc) × terms [p0, p0+kc) of a strided operand as W-line panels (zero-padded): line i,
 * term p is data[off + i·ls + p·ts]. Writes each panel's nonzero term range to lo/hi. A's rows (ls = rs, ts = cs,
 * W = MR) and B's columns (ls = cs, ts = rs, W = NR) are both packed by it.
 */
function packPanels(data: ArrayLike<number>, off: number, ls: number, ts: number, count: number, i0: number, mc: number, W: number, p0: number, kc: number, dst: Float64Array, lo: Int32Array, hi: Int32Array): void {
  for (let ip = 0, i = i0; i < i0 + mc; ip++, i += W) {
    const base = ip * W * kc;
    let first = kc, last = -1;
    for (let r = 0; r < W; r++) {
      const ii = i + r;
      if (ii >= count || ii >= i0 + mc) {
        for (let p = 0; p < kc; p++) dst[base + p * W + r] = 0;
        continue;
      }
      const src = off + ii * ls + p0 * ts;
      for (let p = 0; p < kc; p++) {
        const v = data[src + p * ts];
        dst[base + p * W + r] = v;
        if (v !== 0) {
          if (p < first) first = p;
          if (p > last) last = p;
        }
      }
    }
    lo[ip] = first;
    hi[ip] = last + 1;
  }
}

/** Packs rows [i0, i0+mc) × terms [p0, p0+kc) of A as MR-row panels (zero-padded), with each panel's nonzero term range. */
function packA(a: Strided, M: number, i0: number, mc: number, p0: number, kc: number, dst: Float64Array, lo: Int32Array, hi: Int32Array): void {
  packPanels(a.data, a.off, a.rs, a.cs, M, i0, mc, MR, p0, kc, dst, lo, hi);
}

/** Packs terms [p0, p0+kc) × columns [j0, j0+nc) of B as NR-column panels (zero-padded), with each panel's nonzero term range. */
function packB(b: Strided, N: number, j0: number, nc: number, p0: number, kc: number, dst: Float64Array, lo: Int32Array, hi: Int32Array): void {
  packPanels(b.data, b.off, b.cs, b.rs, N, j0, nc, NR, p0, kc, dst, lo, hi);
}

/** C[ci + r·ldc + c] += Σ_{p∈[p0,p1)} Ap[r, p]·Bp[p, c] for the r < rows, c < cols of one MR × NR tile. */
function microKernel(Ap: Float64Array, ao: number, Bp: Float64Array, bo: number, p0: number, p1: number, C: Arr, ci: number, ldc: number, rows: number, cols: number): void {
  let c00 = 0, c01 = 0, c02 = 0, c03 = 0, c10 = 0, c11 = 0, c12 = 0, c13 = 0;
  let c20 = 0, c21 = 0, c22 = 0, c23 = 0, c30 = 0, c31 = 0, c32 = 0, c33 = 0;
  for (let p = p0, a = ao + p0 * MR, b = bo + p0 * NR; p < p1; p++, a += MR, b += NR) {
    const a0 = Ap[a], a1 = Ap[a + 1], a2 = Ap[a + 2], a3 = Ap[a + 3];
    const b0 = Bp[b], b1 = Bp[b + 1], b2 = Bp[b + 2], b3 = Bp[b + 3];
    c00 += a0 * b0; c01 += a0 * b1; c02 += a0 * b2; c03 += a0 * b3;
    c10 += a1 * b0; c11 += a1 * b1; c12 += a1 * b2; c13 += a1 * b3;
    c20 += a2 * b0; c21 += a2 * b1; c22 += a2 * b2; c23 += a2 * b3;
    c30 += a3 * b0; c31 += a3 * b1; c32 += a3 * b2; c33 += a3 * b3;
  }
  if (rows === MR && cols === NR) {
    let o = ci;
    C[o] += c00; C[o + 1] += c01; C[o + 2] += c02; C[o + 3] += c03; o += ldc;
    C[o] += c10; C[o + 1] += c11; C[o + 2] += c12; C[o + 3] += c13; o += ldc;
    C[o] += c20; C[o + 1] += c21; C[o + 2] += c22; C[o + 3] += c23; o += ldc;
    C[o] += c30; C[o + 1] += c31; C[o + 2] += c32; C[o + 3] += c33;
    return;
  }
  const t = [c00, c01, c02, c03, c10, c11, c12, c13, c20, c21, c22, c23, c30, c31, c32, c33];
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) C[ci + r * ldc + c] += t[r * NR + c];
}

/** Scratch buffers for the packed blocks, reused across calls (the kernels are synchronous). */
const scratch = {
  A: new Float64Array(GEMM_MC * GEMM_KC),
  B: new Float64Array(GEMM_KC * GEMM_NC),
  aLo: new Int32Array(GEMM_MC / MR),
  aHi: new Int32Array(GEMM_MC / MR),
  bLo: new Int32Array(Math.ceil(GEMM_NC / NR)),
  bHi: new Int32Array(Math.ceil(GEMM_NC / NR)),
};

/**
 * C[cOff + i·ldc + j] += Σ_p A(i, p)·B(p, j) for i < M, j < N, p < K. `nc`
 * caps the columns per block (≤ GEMM_NC). Zero stretches at the ends of
 * packed panels are skipped; an all-zero panel costs its packing only.
 */
function gemm(M: number, N: number, K: number, a: Strided, b: Strided, C: Arr, cOff: number, ldc: number, ncMax = GEMM_NC): void {
  const nc = Math.min(ncMax, GEMM_NC);
  const { A: Ap, B: Bp, aLo, aHi, bLo, bHi } = scratch;
  for (let j0 = 0; j0 < N; j0 += nc) {
    const ncb = Math.min(nc, N - j0);
    for (let p0 = 0; p0 < K; p0 += GEMM_KC) {
      const kc = Math.min(GEMM_KC, K - p0);
      packB(b, N, j0, ncb, p0, kc, Bp, bLo, bHi);
      const nPanels = Math.ceil(ncb / NR);
      let any = false;
      for (let jp = 0; jp < nPanels; jp++) if (bLo[jp] < bHi[jp]) any = true;
      if (!any) continue;
      for (let i0 = 0; i0 < M; i0 += GEMM_MC) {
        const mc = Math.min(GEMM_MC, M - i0);
        packA(a, M, i0, mc, p0, kc, Ap, aLo, aHi);
        const mPanels = Math.ceil(mc / MR);
        for (let jp = 0; jp < nPanels; jp++) {
          const blo = bLo[jp], bhi = bHi[jp];
          if (blo >= bhi) continue;
          const cols = Math.min(NR, ncb - jp * NR);
          for (let ip = 0; ip < mPanels; ip++) {
            const lo = Math.max(blo, aLo[ip]), hi = Math.min(bhi, aHi[ip]);
            if (lo >= hi) continue;
            const rows = Math.min(MR, mc - ip * MR);
            microKernel(Ap, ip * MR * kc, Bp, jp * NR * kc, lo, hi, C, cOff + (i0 + ip * MR) * ldc + j0 + jp * NR, ldc, rows, cols);
          }
        }
      }
    }
  }
}

/** C[m, n] = A[m, k]·B[k, n], or A·Bᵀ for B [n, k] when transposeB (C is overwritten). */
export function matmulInto<T extends Arr>(A: ArrayLike<number>, B: ArrayLike<number>, m: number, k: number, n: number, transposeB: boolean, C: T): T {
  C.fill(0, 0, m * n);
  if (m < MR) {
    // Fewer rows than one panel (one input's layer step): packing B would cost more than the product.
    for (let i = 0; i < m; i++) {
      const ai = i * k, ci = i * n;
      if (transposeB) {
        for (let j = 0; j < n; j++) {
          let s = 0;
          for (let p = 0, bj = j * k; p < k; p++) s += A[ai + p] * B[bj + p];
          C[ci + j] = s;
        }
      } else {
        for (let p = 0; p < k; p++) {
          const a = A[ai + p];
          if (a === 0) continue;
          for (let j = 0, bp = p * n; j < n; j++) C[ci + j] += a * B[bp + j];
        }
      }
    }
    return C;
  }
  gemm(m, n, k, { data: A, off: 0, rs: k, cs: 1 }, transposeB ? { data: B, off: 0, rs: 1, cs: k } : { data: B, off: 0, rs: n, cs: 1 }, C, 0, n);
  return C;
}

/** Output rows per column block of the convolutions: whole rows of OW positions, about GEMM_NC positions. */
function rowsPerBlock(OH: number, OW: number): number {
  return Math.max(1, Math.min(OH, Math.floor(GEMM_NC / OW)));
}

/** conv2dTranspose scatters the taps of a row directly when its nonzero channels span at most this many. */
const DIRECT_CHANNELS = 2;

let patches = new Float64Array(0);
function patchBuffer(n: number): Float64Array {
  if (patches.length < n) patches = new Float64Array(n);
  return patches;
}

/**
 * Y[B, O·OH·OW] = conv(X[B, C·H·W], K[O, C·kh·kw]): per sample and block of
 * output rows, the patches (im2col, [C·kh·kw, positions]) times the kernels.
 */
export function conv2dForward<T extends Arr>(X: ArrayLike<number>, K: ArrayLike<number>, B: number, g: ConvGeom, Y: T): T {
  const [C, H, W] = g.inShape;
  const [O, OH, OW] = g.outShape;
  const [kh, kw] = g.kernel;
  const [sh, sw] = g.stride;
  const [pt, pl] = g.padding;
  const [dh, dw] = g.dilation;
  const nIn = C * H * W, nOut = O * OH * OW, kk = C * kh * kw, P = OH * OW;
  Y.fill(0, 0, B * nOut);
  if (kk === 0 || P === 0) return Y;
  const rowsU = Array.from({ length: kh }, (_, u) => validRange(OH, H, sh, pt, u * dh));
  const colsV = Array.from({ length: kw }, (_, v) => validRange(OW, W, sw, pl, v * dw));
  const rb = rowsPerBlock(OH, OW);
  const cols = patchBuffer(kk * rb * OW);
  const kern: Strided = { data: K, off: 0, rs: kk, cs: 1 };
  for (let s = 0; s < B; s++) {
    const xs = s * nIn;
    for (let i0 = 0; i0 < OH; i0 += rb) {
      const i1 = Math.min(OH, i0 + rb);
      const nc = (i1 - i0) * OW;
      // patches[(c, u, v), (i − i0)·OW + j] = xpad[c, i·sh − pt + u·dh, j·sw − pl + v·dw]
      cols.fill(0, 0, kk * nc);
      for (let c = 0; c < C; c++) {
        for (let u = 0; u < kh; u++) {
          const lo = Math.max(i0, rowsU[u][0]), hi = Math.min(i1, rowsU[u][1]);
          for (let v = 0; v < kw; v++) {
            const [j0, j1] = colsV[v];
            const row = ((c * kh + u) * kw + v) * nc;
            for (let i = lo; i < hi; i++) {
              const xr = xs + c * H * W + (i * sh - pt + u * dh) * W + v * dw - pl;
              const pr = row + (i - i0) * OW;
              if (sw === 1) for (let j = j0; j < j1; j++) cols[pr + j] = X[xr + j];
              else for (let j = j0; j < j1; j++) cols[pr + j] = X[xr + j * sw];
            }
          }
        }
      }
      gemm(O, nc, kk, kern, { data: cols, off: 0, rs: nc, cs: 1 }, Y, s * nOut + i0 * OW, P, nc);
    }
  }
  return Y;
}

/**
 * X[B, C·H·W] = convᵀ(Y[B, O·OH·OW], K): the adjoint of conv2dForward. Per
 * sample and block of output rows, Kᵀ times the block (over the sample's
 * nonzero channels only), scattered back onto the input (col2im).
 */
export function conv2dTranspose<T extends Arr>(Y: ArrayLike<number>, K: ArrayLike<number>, B: number, g: ConvGeom, X: T): T {
  const [C, H, W] = g.inShape;
  const [O, OH, OW] = g.outShape;
  const [kh, kw] = g.kernel;
  const [sh, sw] = g.stride;
  const [pt, pl] = g.padding;
  const [dh, dw] = g.dilation;
  const nIn = C * H * W, nOut = O * OH * OW, kk = C * kh * kw, P = OH * OW;
  X.fill(0, 0, B * nIn);
  if (kk === 0 || P === 0) return X;
  const rowsU = Array.from({ length: kh }, (_, u) => validRange(OH, H, sh, pt, u * dh));
  const colsV = Array.from({ length: kw }, (_, v) => validRange(OW, W, sw, pl, v * dw));
  const rb = rowsPerBlock(OH, OW);
  const cols = patchBuffer(kk * rb * OW);
  for (let s = 0; s < B; s++) {
    const ys = s * nOut, xs = s * nIn;
    // The sample's channels [o0, o1) that hold a nonzero value: the product runs over those terms only.
    let o0 = O, o1 = 0;
    for (let o = 0; o < O; o++) {
      for (let q = ys + o * P, e = q + P; q < e; q++) {
        if (Y[q] !== 0) {
          if (o < o0) o0 = o;
          o1 = o + 1;
          break;
        }
      }
    }
    if (o0 >= o1) continue;
    if (o1 - o0 <= DIRECT_CHANNELS) {
      // A row nonzero in one or two channels (a channel-masked batch): scatter each tap directly, no patches.
      for (let o = o0; o < o1; o++) {
        for (let c = 0; c < C; c++) {
          for (let u = 0; u < kh; u++) {
            const [lo, hi] = rowsU[u];
            for (let v = 0; v < kw; v++) {
              const k = K[((o * C + c) * kh + u) * kw + v];
              if (k === 0) continue;
              const [j0, j1] = colsV[v];
              for (let i = lo; i < hi; i++) {
                const xr = xs + c * H * W + (i * sh - pt + u * dh) * W + v * dw - pl;
                const yr = ys + o * P + i * OW;
                if (sw === 1) for (let j = j0; j < j1; j++) X[xr + j] += k * Y[yr + j];
                else for (let j = j0; j < j1; j++) X[xr + j * sw] += k * Y[yr + j];
              }
            }
          }
        }
      }
      continue;
    }
    const kT: Strided = { data: K, off: o0 * kk, rs: 1, cs: kk };
    for (let i0 = 0; i0 < OH; i0 += rb) {
      const i1 = Math.min(OH, i0 + rb);
      const nc = (i1 - i0) * OW;
      cols.fill(0, 0, kk * nc);
      gemm(kk, nc, o1 - o0, kT, { data: Y, off: ys + o0 * P + i0 * OW, rs: P, cs: 1 }, cols, 0, nc, nc);
      for (let c = 0; c < C; c++) {
        for (let u = 0; u < kh; u++) {
          const lo = Math.max(i0, rowsU[u][0]), hi = Math.min(i1, rowsU[u][1]);
          for (let v = 0; v < kw; v++) {
            const [j0, j1] = colsV[v];
            const row = ((c * kh + u) * kw + v) * nc;
            for (let i = lo; i < hi; i++) {
              const xr = xs + c * H * W + (i * sh - pt + u * dh) * W + v * dw - pl;
              const pr = row + (i - i0) * OW;
              if (sw === 1) for (let j = j0; j < j1; j++) X[xr + j] += cols[pr + j];
              else for (let j = j0; j < j1; j++) X[xr + j * sw] += cols[pr + j];
            }
          }
        }
      }
    }
  }
  return X;
}

/**
 * S[o·C + c] = Σ_{u,v} K[o,c,u,v] · Σ_{i,j} Y[o,i,j] · xpad[c, i·sh + u·dh, j·sw + v·dw]
 * for one row Y [O·OH·OW] and one row X [C·H·W] (X null: 1 at every input
 * position, 0 in the padding): what channel o's values Y, sent back through
 * the convolution, put on input channel c weighted by X (Σ over c's positions
 * of X ⊙ convᵀ(Y restricted to o)) — the weight gradient contracted with the
 * kernels. Cost: one convolution.
 */
export function convChannelPairs(Y: ArrayLike<number>, X: ArrayLike<number> | null, K: ArrayLike<number>, g: ConvGeom): Float64Array {
  const [C, H, W] = g.inShape;
  const [O, OH, OW] = g.outShape;
  const [kh, kw] = g.kernel;
  const [sh, sw] = g.stride;
  const [pt, pl] = g.padding;
  const [dh, dw] = g.dilation;
  const P = OH * OW;
  const S = new Float64Array(O * C);
  const rowsU = Array.from({ length: kh }, (_, u) => validRange(OH, H, sh, pt, u * dh));
  const colsV = Array.from({ length: kw }, (_, v) => validRange(OW, W, sw, pl, v * dw));
  for (let o = 0; o < O; o++) {
    const yo = o * P;
    let live = false;
    for (let q = yo; q < yo + P; q++) if (Y[q] !== 0) (live = true), (q = yo + P);
    if (!live) continue;
    for (let c = 0; c < C; c++) {
      let sum = 0;
      for (let u = 0; u < kh; u++) {
        const [i0, i1] = rowsU[u];
        for (let v = 0; v < kw; v++) {
          const k = K[((o * C + c) * kh + u) * kw + v];
          if (k === 0) continue;
          const [j0, j1] = colsV[v];
          let acc = 0;
          for (let i = i0; i < i1; i++) {
            const yr = yo + i * OW;
            if (!X) {
              for (let j = j0; j < j1; j++) acc += Y[yr + j];
              continue;
            }
            const xr = c * H * W + (i * sh - pt + u * dh) * W + v * dw - pl;
            if (sw === 1) for (let j = j0; j < j1; j++) acc += Y[yr + j] * X[xr + j];
            else for (let j = j0; j < j1; j++) acc += Y[yr + j] * X[xr + j * sw];
          }
          sum += k * acc;
        }
      }
      S[o * C + c] = sum;
    }
  }
  return S;
}

/** Flat input index of the first maximal element of each window (row-major), −1 for a window with no input tap. */
export function maxPoolArgmax(X: ArrayLike<number>, B: number, g: PoolGeom): Int32Array {
  const [C, H, W] = g.inShape;
  const [, OH, OW] = g.outShape;
  const [kh, kw] = g.kernel;
  const [sh, sw] = g.stride;
  const [pt, pl] = g.padding;
  const nIn = C * H * W, nOut = C * OH * OW;
  const idx = new Int32Array(B * nOut);
  // Each window's rows and columns clipped to the input once (the same taps in the same order as testing each).
  for (let s = 0, p = 0; s < B; s++) {
    for (let c = 0; c < C; c++) {
      const xc = s * nIn + c * H * W;
      for (let i = 0; i < OH; i++) {
        const r0 = Math.max(0, i * sh - pt), r1 = Math.min(H, i * sh - pt + kh);
        for (let j = 0; j < OW; j++, p++) {
          const q0 = Math.max(0, j * sw - pl), q1 = Math.min(W, j * sw - pl + kw);
          let best = -1;
          let bv = -Infinity;
          for (let r = r0; r < r1; r++) {
            for (let o = xc + r * W + q0, end = xc + r * W + q1; o < end; o++) {
              const val = X[o];
              // Strictly greater: a later equal value never replaces the first maximum.
              if (best < 0 || val > bv) {
                bv = val;
                best = o;
              }
            }
          }
          idx[p] = best;
        }
      }
    }
  }
  return idx;
}

export function maxPoolForward<T extends Arr>(X: ArrayLike<number>, B: number, g: PoolGeom, Y: T): T {
  const idx = maxPoolArgmax(X, B, g);
  for (let p = 0; p < idx.length; p++) Y[p] = idx[p] >= 0 ? X[idx[p]] : 0;
  return Y;
}

/** Routes each output's value to its window's first maximum (the gradient of max pooling). */
export function maxPoolBackward<T extends Arr>(G: ArrayLike<number>, X: ArrayLike<number>, B: number, g: PoolGeom, out: T): T {
  const idx = maxPoolArgmax(X, B, g);
  out.fill(0);
  for (let p = 0; p < idx.length; p++) if (idx[p] >= 0) out[idx[p]] += G[p];
  return out;
}

/** Taps that average-pooling window (i, j) divides by (see PoolGeom.countIncludePad). */
export function avgDivisor(g: PoolGeom, i: number, j: number): number {
  const [, H, W] = g.inShape;
  const [kh, kw] = g.kernel;
  const [sh, sw] = g.stride;
  const [pt, pl, pb, pr] = g.padding;
  const lo = g.countIncludePad ? -pt : 0, hiR = g.countIncludePad ? H + pb : H;
  const loC = g.countIncludePad ? -pl : 0, hiC = g.countIncludePad ? W + pr : W;
  const r0 = i * sh - pt, q0 = j * sw - pl;
  const rows = Math.max(0, Math.min(r0 + kh, hiR) - Math.max(r0, lo));
  const cols = Math.max(0, Math.min(q0 + kw, hiC) - Math.max(q0, loC));
  return rows * cols;
}

/** Average pooling (transpose = false) or its adjoint (transpose = true: X gets Σ_j Y_j / n_j). */
export function avgPool<T extends Arr>(A: ArrayLike<number>, B: number, g: PoolGeom, transpose: boolean, out: T): T {
  const [C, H, W] = g.inShape;
  const [, OH, OW] = g.outShape;
  const [kh, kw] = g.kernel;
  const [sh, sw] = g.stride;
  const [pt, pl] = g.padding;
  const nIn = C * H * W, nOut = C * OH * OW;
  out.fill(0);
  for (let i = 0; i < OH; i++) {
    for (let j = 0; j < OW; j++) {
      const n = avgDivisor(g, i, j);
      if (n === 0) continue;
      for (let s = 0; s < B; s++) {
        for (let c = 0; c < C; c++) {
          const xc = s * nIn + c * H * W;
          const yp = s * nOut + (c * OH + i) * OW + j;
          if (transpose) {
            const y = A[yp] / n;
            if (y === 0) continue;
            for (let u = 0; u < kh; u++) {
              const r = i * sh - pt + u;
              if (r < 0 || r >= H) continue;
              for (let v = 0; v < kw; v++) {
                const q = j * sw - pl + v;
                if (q < 0 || q >= W) continue;
                out[xc + r * W + q] += y;
              }
            }
          } else {
            let acc = 0;
            for (let u = 0; u < kh; u++) {
              const r = i * sh - pt + u;
              if (r < 0 || r >= H) continue;
              for (let v = 0; v < kw; v++) {
                const q = j * sw - pl + v;
                if (q < 0 || q >= W) continue;
                acc += A[xc + r * W + q];
              }
            }
            out[yp] = acc / n;
          }
        }
      }
    }
  }
  return out;
}
