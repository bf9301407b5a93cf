// Convolution and pooling as plain loops over typed arrays, batched: a batch
// is B rows of C·H·W values (NCHW, flattened C-major). The typed-array Ops and
// the exact float64 single-point code (forward.ts) both use these, so there is
// one definition of the layer semantics:
//   conv2d    y[o,i,j] = Σ_{c,u,v} W[o,c,u,v] · xpad[c, i·sh + u·dh, j·sw + v·dw]   (cross-correlation)
//   transpose the adjoint of conv2d (the gradient w.r.t. its input; padding cropped)
//   max pool  first maximal element of each window in row-major order (PyTorch CPU), padding = −∞
//   avg pool  mean over the window; divisor = taps inside the input, or inside input+padding (countIncludePad)

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

/**
 * Y[B, O·OH·OW] = conv(X[B, C·H·W], K[O, C·kh·kw]). Each output element sums its
 * taps in (c, u, v) order, as a straight loop would; the loops run over whole
 * output rows per kernel tap so the innermost loop is contiguous.
 */
export function conv2dForward<T extends Arr>(X: ArrayLike<number>, K: ArrayLike<number>, B: number, g: ConvGeom, Y: T): T {
  const [C, H, W] = g.inShape;
  const [O, OH, OW] = g.outShape;
  const [kh, kw] = g.kernel;
  const [sh, sw] = g.stride;
  const [pt, pl] = g.padding;
  const [dh, dw] = g.dilation;
  const nIn = C * H * W, nOut = O * OH * OW, kk = C * kh * kw;
  const rowsU = Array.from({ length: kh }, (_, u) => validRange(OH, H, sh, pt, u * dh));
  const colsV = Array.from({ length: kw }, (_, v) => validRange(OW, W, sw, pl, v * dw));
  for (let s = 0; s < B; s++) {
    const xs = s * nIn, ys = s * nOut;
    for (let o = 0; o < O; o++) {
      const yo = ys + o * OH * OW;
      for (let q = 0; q < OH * OW; q++) Y[yo + q] = 0 as never;
      const ko = o * kk;
      for (let c = 0; c < C; c++) {
        const xc = xs + c * H * W;
        for (let u = 0; u < kh; u++) {
          const [i0, i1] = rowsU[u];
          for (let v = 0; v < kw; v++) {
            const k = K[ko + (c * kh + u) * kw + v];
            const [j0, j1] = colsV[v];
            const cOff = v * dw - pl;
            for (let i = i0; i < i1; i++) {
              const xr = xc + (i * sh - pt + u * dh) * W + cOff;
              const yr = yo + i * OW;
              if (sw === 1) for (let j = j0; j < j1; j++) Y[yr + j] += k * X[xr + j];
              else for (let j = j0; j < j1; j++) Y[yr + j] += k * X[xr + j * sw];
            }
          }
        }
      }
    }
  }
  return Y;
}

/** X[B, C·H·W] = convᵀ(Y[B, O·OH·OW], K): the adjoint of conv2dForward. */
export function conv2dTranspose<T extends Arr>(Y: ArrayLike<number>, K: ArrayLike<number>, B: number, g: ConvGeom, X: T): T {
  const [C, H, W] = g.inShape;
  const [O, OH, OW] = g.outShape;
  const [kh, kw] = g.kernel;
  const [sh, sw] = g.stride;
  const [pt, pl] = g.padding;
  const [dh, dw] = g.dilation;
  const nIn = C * H * W, nOut = O * OH * OW, kk = C * kh * kw;
  X.fill(0);
  for (let s = 0; s < B; s++) {
    const xs = s * nIn, ys = s * nOut;
    for (let o = 0; o < O; o++) {
      const ko = o * kk;
      for (let i = 0; i < OH; i++) {
        for (let j = 0; j < OW; j++) {
          const y = Y[ys + (o * OH + i) * OW + j];
          if (y === 0) continue;
          for (let c = 0; c < C; c++) {
            const kc = ko + c * kh * kw;
            const xc = xs + c * H * W;
            for (let u = 0; u < kh; u++) {
              const r = i * sh - pt + u * dh;
              if (r < 0 || r >= H) continue;
              const kr = kc + u * kw;
              const xr = xc + r * W;
              for (let v = 0; v < kw; v++) {
                const q = j * sw - pl + v * dw;
                if (q < 0 || q >= W) continue;
                X[xr + q] += K[kr + v] * y;
              }
            }
          }
        }
      }
    }
  }
  return X;
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
  for (let s = 0; s < B; s++) {
    for (let c = 0; c < C; c++) {
      const xc = s * nIn + c * H * W;
      for (let i = 0; i < OH; i++) {
        for (let j = 0; j < OW; j++) {
          let best = -1;
          let bv = -Infinity;
          for (let u = 0; u < kh; u++) {
            const r = i * sh - pt + u;
            if (r < 0 || r >= H) continue;
            for (let v = 0; v < kw; v++) {
              const q = j * sw - pl + v;
              if (q < 0 || q >= W) continue;
              const val = X[xc + r * W + q];
              // Strictly greater: a later equal value never replaces the first maximum.
              if (best < 0 || val > bv) {
                bv = val;
                best = xc + r * W + q;
              }
            }
          }
          idx[s * nOut + (c * OH + i) * OW + j] = best;
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

function avgDivisor(g: PoolGeom, i: number, j: number): number {
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
