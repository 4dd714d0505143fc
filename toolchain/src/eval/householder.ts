/**
 * Householder reduction of a real symmetric matrix to tridiagonal form, T = Q^T A Q, in float64.
 */

/**
 * Reduces the lower triangle of `a` in place to T = Q^T A Q, T tridiagonal with diagonal d and off-diagonal e
 * (e[i] couples i and i+1, e[n-1] = 0). Reflector k is H_k = I - tau[k] v v^T on indices k+1..n-1 with v[0] = 1;
 * the rest of v is left in row k right of the diagonal (the upper triangle, otherwise unused).
 * Step k updates the trailing block B <- H B H = B - v w^T - w v^T with w = p - (tau/2)(p.v) v, p = tau B v.
 * NOTE: the update of step k and the product B' v' of step k+1 share one pass over B: the first column of the
 * updated block (which defines v') is done first, then each row is updated and immediately fed to B' v'.
 */
export function tridiagonalize(a: Float64Array, n: number): { d: Float64Array; e: Float64Array; tau: Float64Array } {
  const d = new Float64Array(n);
  const e = new Float64Array(n);
  const tau = new Float64Array(n);
  let v = new Float64Array(n);
  let vNext = new Float64Array(n);
  let p = new Float64Array(n);
  let pNext = new Float64Array(n);
  let reflector = n > 2 ? makeReflector(a, n, 0, v) : { beta: 0, tau: 0 };
  let haveProduct = false; // p already holds tau B v for the current reflector
  for (let k = 0; k + 2 < n; k++) {
    const off = k + 1;
    const m = n - off;
    d[k] = a[k * n + k];
    e[k] = reflector.beta;
    tau[k] = reflector.tau;
    const hasNext = k + 3 < n;
    if (reflector.tau === 0) {
      if (hasNext) reflector = makeReflector(a, n, k + 1, v);
      haveProduct = false;
      continue;
    }
    for (let i = 1; i < m; i++) a[k * n + off + i] = v[i];
    if (!haveProduct) symmetricTimesVector(a, n, off, m, v, p, reflector.tau);
    let pv = 0;
    for (let i = 0; i < m; i++) pv += p[i] * v[i];
    const half = 0.5 * reflector.tau * pv;
    for (let i = 0; i < m; i++) p[i] -= half * v[i]; // p is now w
    for (let i = 0; i < m; i++) a[(off + i) * n + off] -= v[i] * p[0] + p[i] * v[0]; // first column of B
    const next = hasNext ? makeReflector(a, n, k + 1, vNext) : { beta: 0, tau: 0 };
    haveProduct = next.tau !== 0;
    updateAndMultiply(a, n, off, m, v, p, haveProduct ? vNext : undefined, pNext, next.tau);
    [v, vNext] = [vNext, v];
    [p, pNext] = [pNext, p];
    reflector = next;
  }
  if (n >= 2) {
    d[n - 2] = a[(n - 2) * n + n - 2];
    e[n - 2] = a[(n - 1) * n + n - 2];
  }
  if (n >= 1) d[n - 1] = a[(n - 1) * n + n - 1];
  return { d, e, tau };
}

/**
 * Rows 1..m-1 of the trailing block at `off`: B -= v w^T + w v^T on the lower triangle right of column 0, and,
 * when u (the next reflector, on indices 1..m-1) is given, q = tauNext * B' u from the updated rows.
 */
function updateAndMultiply(
  a: Float64Array,
  n: number,
  off: number,
  m: number,
  v: Float64Array,
  w: Float64Array,
  u: Float64Array | undefined,
  q: Float64Array,
  tauNext: number,
): void {
  if (!u) {
    for (let i = 1; i < m; i++) {
      const row = (off + i) * n + off;
      const vi = v[i];
      const wi = w[i];
      for (let j = 1; j <= i; j++) a[row + j] -= vi * w[j] + wi * v[j];
    }
    return;
  }
  q.fill(0, 0, m - 1);
  // NOTE: row-oriented symmetric product: row i of the lower triangle feeds q[i] (as B[i, j]) and q[j] (as B[j, i]);
  // two rows per pass share the loads of v, w, u and q.
  let i = 1;
  for (; i + 1 < m; i += 2) {
    const row0 = (off + i) * n + off;
    const row1 = row0 + n;
    const v0 = v[i];
    const w0 = w[i];
    const u0 = u[i - 1];
    const v1 = v[i + 1];
    const w1 = w[i + 1];
    const u1 = u[i];
    let sum0 = 0;
    let sum1 = 0;
    for (let j = 1; j < i; j++) {
      const vj = v[j];
      const wj = w[j];
      const uj = u[j - 1];
      const b0 = a[row0 + j] - (v0 * wj + w0 * vj);
      const b1 = a[row1 + j] - (v1 * wj + w1 * vj);
      a[row0 + j] = b0;
      a[row1 + j] = b1;
      sum0 += b0 * uj;
      sum1 += b1 * uj;
      q[j - 1] += b0 * u0 + b1 * u1;
    }
    // the 2x2 corner: (i, i), (i+1, i), (i+1, i+1)
    const b00 = a[row0 + i] - 2 * v0 * w0;
    const b10 = a[row1 + i] - (v1 * w0 + w1 * v0);
    const b11 = a[row1 + i + 1] - 2 * v1 * w1;
    a[row0 + i] = b00;
    a[row1 + i] = b10;
    a[row1 + i + 1] = b11;
    q[i - 1] += sum0 + b00 * u0 + b10 * u1;
    q[i] += sum1 + b10 * u0 + b11 * u1;
  }
  for (; i < m; i++) {
    const row = (off + i) * n + off;
    const vi = v[i];
    const wi = w[i];
    const ui = u[i - 1];
    let sum = 0;
    for (let j = 1; j < i; j++) {
      const b = a[row + j] - (vi * w[j] + wi * v[j]);
      a[row + j] = b;
      sum += b * u[j - 1];
      q[j - 1] += b * ui;
    }
    const bii = a[row + i] - 2 * vi * wi;
    a[row + i] = bii;
    q[i - 1] += sum + bii * ui;
  }
  for (let i = 0; i < m - 1; i++) q[i] *= tauNext;
}

/**
 * The reflector that maps column k below the diagonal, x = a[k+1.., k], onto beta e_1. Writes v (v[0] = 1).
 * NOTE: beta takes the sign opposite to x[0] so x[0] - beta never cancels.
 */
function makeReflector(a: Float64Array, n: number, k: number, v: Float64Array): { beta: number; tau: number } {
  const x0 = a[(k + 1) * n + k];
  let tail = 0;
  for (let i = k + 2; i < n; i++) tail += a[i * n + k] * a[i * n + k];
  if (tail === 0) return { beta: x0, tau: 0 };
  const norm = Math.sqrt(x0 * x0 + tail);
  const beta = x0 >= 0 ? -norm : norm;
  const scale = 1 / (x0 - beta);
  v[0] = 1;
  for (let i = k + 2; i < n; i++) v[i - k - 1] = a[i * n + k] * scale;
  return { beta, tau: (beta - x0) / beta };
}

/** p = tau * B v for the symmetric trailing block B = a[off.., off..] of size m, reading its lower triangle. */
function symmetricTimesVector(
  a: Float64Array,
  n: number,
  off: number,
  m: number,
  v: Float64Array,
  p: Float64Array,
  tau: number,
): void {
  p.fill(0, 0, m);
  // NOTE: row-oriented: row i of the lower triangle feeds p[i] (as B[i, j]) and p[j] (as B[j, i]), so the
  // whole product streams through memory once, contiguously.
  for (let i = 0; i < m; i++) {
    const row = (off + i) * n + off;
    const vi = v[i];
    let sum = 0;
    for (let j = 0; j < i; j++) {
      const bij = a[row + j];
      sum += bij * v[j];
      p[j] += bij * vi;
    }
    p[i] += sum + a[row + i] * vi;
  }
  for (let i = 0; i < m; i++) p[i] *= tau;
}
