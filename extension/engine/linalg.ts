// Small dense linear algebra in float64: the Moore–Penrose pseudo-inverse
// (for the layer rule pinv) through a one-sided Jacobi SVD, which is exact
// enough for the layer sizes DTD is used on and needs no dependency.

/** pinv of the row-major [m, n] matrix A, returned row-major [n, m]. */
export function pseudoInverse(A: ArrayLike<number>, m: number, n: number, rcond = 1e-12): Float64Array {
  // Work on the transpose when m < n so the Jacobi sweep runs over the shorter side's columns.
  const transpose = m < n;
  const rows = transpose ? n : m;
  const cols = transpose ? m : n;
  // U starts as the (possibly transposed) matrix [rows, cols]; V = I [cols, cols].
  const U = new Float64Array(rows * cols);
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) {
    if (transpose) U[j * cols + i] = A[i * n + j];
    else U[i * cols + j] = A[i * n + j];
  }
  const V = new Float64Array(cols * cols);
  for (let i = 0; i < cols; i++) V[i * cols + i] = 1;
  for (let sweep = 0; sweep < 60; sweep++) {
    let off = 0;
    for (let p = 0; p < cols - 1; p++) {
      for (let q = p + 1; q < cols; q++) {
        let alpha = 0, beta = 0, gamma = 0;
        for (let i = 0; i < rows; i++) {
          const up = U[i * cols + p], uq = U[i * cols + q];
          alpha += up * up;
          beta += uq * uq;
          gamma += up * uq;
        }
        if (Math.abs(gamma) <= 1e-15 * Math.sqrt(alpha * beta) || gamma === 0) continue;
        off = Math.max(off, Math.abs(gamma) / Math.sqrt(alpha * beta));
        const zeta = (beta - alpha) / (2 * gamma);
        const t = Math.sign(zeta || 1) / (Math.abs(zeta) + Math.sqrt(1 + zeta * zeta));
        const c = 1 / Math.sqrt(1 + t * t), s = c * t;
        for (let i = 0; i < rows; i++) {
          const up = U[i * cols + p], uq = U[i * cols + q];
          U[i * cols + p] = c * up - s * uq;
          U[i * cols + q] = s * up + c * uq;
        }
        for (let i = 0; i < cols; i++) {
          const vp = V[i * cols + p], vq = V[i * cols + q];
          V[i * cols + p] = c * vp - s * vq;
          V[i * cols + q] = s * vp + c * vq;
        }
      }
    }
    if (off < 1e-15) break;
  }
  // Singular values are the column norms of U; B = transpose ? A' : A = U Σ Vᵀ → pinv(B) = V Σ⁻¹ Uᵀ.
  const sigma = new Float64Array(cols);
  let smax = 0;
  for (let j = 0; j < cols; j++) {
    let s = 0;
    for (let i = 0; i < rows; i++) s += U[i * cols + j] ** 2;
    sigma[j] = Math.sqrt(s);
    smax = Math.max(smax, sigma[j]);
  }
  // pinv(B) [cols, rows] = Σ_j V[:,j] U[:,j]ᵀ / σ_j²  (U columns are σ_j·u_j).
  const P = new Float64Array(cols * rows);
  for (let j = 0; j < cols; j++) {
    if (sigma[j] <= rcond * smax || sigma[j] === 0) continue;
    const inv = 1 / (sigma[j] * sigma[j]);
    for (let a = 0; a < cols; a++) {
      const va = V[a * cols + j] * inv;
      if (va === 0) continue;
      for (let b = 0; b < rows; b++) P[a * rows + b] += va * U[b * cols + j];
    }
  }
  if (!transpose) return P; // [n, m]
  // B = Aᵀ [n, m]; pinv(A) = pinv(B)ᵀ: P is [m, n] → transpose to [n, m].
  const out = new Float64Array(n * m);
  for (let a = 0; a < m; a++) for (let b = 0; b < n; b++) out[b * m + a] = P[a * n + b];
  return out;
}
