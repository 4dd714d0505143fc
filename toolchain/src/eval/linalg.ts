/**
 * Dense row-major float64 matrix products for the evaluation statistics (covariances up to 2048 x 2048).
 * Plain JS on purpose: the metrics must be reproducible to 1e-6 against numpy/scipy, so every sum runs in
 * float64 in an order we control.
 */

const TILE_K = 128; // rows of B per tile: a TILE_K x TILE_J block of B (512 KB) stays in L2
const TILE_J = 512;

/** C = A B for A [m,k] and B [k,n], all row-major. */
export function multiply(a: Float64Array, b: Float64Array, m: number, k: number, n: number): Float64Array {
  return product(a, b, m, k, n, false);
}

/**
 * C = A B for A [n,k] and B [k,n] when the product is known to be symmetric (such as F^T S F): only the upper
 * triangle is computed, then mirrored, which halves the work.
 */
export function multiplySymmetric(a: Float64Array, b: Float64Array, n: number, k: number): Float64Array {
  const c = product(a, b, n, k, n, true);
  for (let i = 0; i < n; i++) for (let j = 0; j < i; j++) c[i * n + j] = c[j * n + i];
  return c;
}

function product(a: Float64Array, b: Float64Array, m: number, k: number, n: number, upper: boolean): Float64Array {
  if (a.length !== m * k || b.length !== k * n) throw new Error(`multiply: shapes [${m},${k}] x [${k},${n}] mismatch`);
  const c = new Float64Array(m * n);
  for (let j0 = 0; j0 < n; j0 += TILE_J) {
    const j1 = Math.min(j0 + TILE_J, n);
    const rows = upper ? Math.min(m, j1) : m; // rows below j1 have nothing left of the diagonal in this tile
    for (let p0 = 0; p0 < k; p0 += TILE_K) {
      const p1 = Math.min(p0 + TILE_K, k);
      let i = 0;
      for (; i + 1 < rows; i += 2) accumulateTwoRows(c, a, b, i, k, n, p0, p1, upper ? Math.max(j0, i) : j0, j1);
      if (i < rows) accumulateRow(c, a, b, i, k, n, p0, p1, upper ? Math.max(j0, i) : j0, j1);
    }
  }
  return c;
}

// NOTE: a 2 x 4 register block: each pass over the C tile reads four rows of B once for two rows of C, which takes
// V8's scalar code from ~1.9 to ~3.5 GFLOP/s; the innermost loops stay contiguous.
function accumulateTwoRows(
  c: Float64Array,
  a: Float64Array,
  b: Float64Array,
  i: number,
  k: number,
  n: number,
  p0: number,
  p1: number,
  j0: number,
  j1: number,
): void {
  const c0 = i * n;
  const c1 = c0 + n;
  const r0 = i * k;
  const r1 = r0 + k;
  let p = p0;
  for (; p + 3 < p1; p += 4) {
    const x0 = a[r0 + p];
    const x1 = a[r0 + p + 1];
    const x2 = a[r0 + p + 2];
    const x3 = a[r0 + p + 3];
    const y0 = a[r1 + p];
    const y1 = a[r1 + p + 1];
    const y2 = a[r1 + p + 2];
    const y3 = a[r1 + p + 3];
    const b0 = p * n;
    const b1 = b0 + n;
    const b2 = b1 + n;
    const b3 = b2 + n;
    for (let j = j0; j < j1; j++) {
      const u0 = b[b0 + j];
      const u1 = b[b1 + j];
      const u2 = b[b2 + j];
      const u3 = b[b3 + j];
      c[c0 + j] += x0 * u0 + x1 * u1 + x2 * u2 + x3 * u3;
      c[c1 + j] += y0 * u0 + y1 * u1 + y2 * u2 + y3 * u3;
    }
  }
  for (; p < p1; p++) {
    const x = a[r0 + p];
    const y = a[r1 + p];
    const b0 = p * n;
    for (let j = j0; j < j1; j++) {
      c[c0 + j] += x * b[b0 + j];
      c[c1 + j] += y * b[b0 + j];
    }
  }
}

function accumulateRow(
  c: Float64Array,
  a: Float64Array,
  b: Float64Array,
  i: number,
  k: number,
  n: number,
  p0: number,
  p1: number,
  j0: number,
  j1: number,
): void {
  const c0 = i * n;
  const r0 = i * k;
  for (let p = p0; p < p1; p++) {
    const x = a[r0 + p];
    const b0 = p * n;
    for (let j = j0; j < j1; j++) c[c0 + j] += x * b[b0 + j];
  }
}

/** The transpose of a row-major [rows, cols] matrix. */
export function transpose(a: Float64Array, rows: number, cols: number): Float64Array {
  const out = new Float64Array(rows * cols);
  const tile = 32; // tiled so both sides stay in cache
  for (let i0 = 0; i0 < rows; i0 += tile) {
    const i1 = Math.min(i0 + tile, rows);
    for (let j0 = 0; j0 < cols; j0 += tile) {
      const j1 = Math.min(j0 + tile, cols);
      for (let i = i0; i < i1; i++) for (let j = j0; j < j1; j++) out[j * rows + i] = a[i * cols + j];
    }
  }
  return out;
}

/** The sub-matrix of a square [n,n] matrix on the given rows and columns (the same index list). */
export function principalSubmatrix(a: Float64Array, n: number, keep: readonly number[]): Float64Array {
  const k = keep.length;
  const out = new Float64Array(k * k);
  for (let i = 0; i < k; i++) {
    const row = keep[i] * n;
    for (let j = 0; j < k; j++) out[i * k + j] = a[row + keep[j]];
  }
  return out;
}

export function trace(a: Float64Array, n: number): number {
  let t = 0;
  for (let i = 0; i < n; i++) t += a[i * n + i];
  return t;
}
