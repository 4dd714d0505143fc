/**
 * Dense row-major float64 matrices: the one shape every quantization routine here speaks. Float64 on the JS side
 * because GPTQ/Cholesky error feedback accumulates; kernels may compute in float32 internally.
 */
export interface Matrix {
  rows: number;
  cols: number;
  data: Float64Array; // row-major, length rows*cols
}

export function matrix(rows: number, cols: number, data?: ArrayLike<number>): Matrix {
  if (data && data.length !== rows * cols) throw new Error(`matrix ${rows}x${cols}: got ${data.length} values`);
  // NOTE: `new Float64Array(typedArray)` is a fast bulk copy; `Float64Array.from` iterates element by element.
  const copy = data
    ? ArrayBuffer.isView(data)
      ? new Float64Array(data as Float64Array)
      : Float64Array.from(data)
    : null;
  return { rows, cols, data: copy ?? new Float64Array(rows * cols) };
}

export function identity(n: number, scale = 1): Matrix {
  const m = matrix(n, n);
  for (let i = 0; i < n; i++) m.data[i * n + i] = scale;
  return m;
}

export function transpose(a: Matrix): Matrix {
  const out = matrix(a.cols, a.rows);
  const { rows, cols, data } = a;
  const tile = 32; // NOTE: tiled so both sides stay in cache for large matrices
  for (let i0 = 0; i0 < rows; i0 += tile) {
    const i1 = Math.min(i0 + tile, rows);
    for (let j0 = 0; j0 < cols; j0 += tile) {
      const j1 = Math.min(j0 + tile, cols);
      for (let i = i0; i < i1; i++) for (let j = j0; j < j1; j++) out.data[j * rows + i] = data[i * cols + j];
    }
  }
  return out;
}

/** Copy of rows [r0,r1) x cols [c0,c1). */
export function block(a: Matrix, r0: number, r1: number, c0: number, c1: number): Matrix {
  const out = matrix(r1 - r0, c1 - c0);
  for (let r = r0; r < r1; r++) out.data.set(a.data.subarray(r * a.cols + c0, r * a.cols + c1), (r - r0) * out.cols);
  return out;
}

/** a[r0.., c0..] += scale * b (in place). */
export function addBlock(a: Matrix, r0: number, c0: number, b: Matrix, scale = 1): void {
  for (let r = 0; r < b.rows; r++) {
    const base = (r0 + r) * a.cols + c0;
    const src = r * b.cols;
    for (let c = 0; c < b.cols; c++) a.data[base + c] += scale * b.data[src + c];
  }
}

/** Copy b into a at [r0, c0]. */
export function setBlock(a: Matrix, r0: number, c0: number, b: Matrix): void {
  for (let r = 0; r < b.rows; r++) a.data.set(b.data.subarray(r * b.cols, (r + 1) * b.cols), (r0 + r) * a.cols + c0);
}

/** P A P^T for the permutation `perm` (new index i takes old index perm[i]) applied to rows and columns. */
export function permuteSymmetric(a: Matrix, perm: ArrayLike<number>): Matrix {
  const n = a.rows;
  const out = matrix(n, n);
  for (let i = 0; i < n; i++) {
    const src = perm[i] * n;
    for (let j = 0; j < n; j++) out.data[i * n + j] = a.data[src + perm[j]];
  }
  return out;
}

/** Columns reordered: out[:, i] = a[:, perm[i]]. */
export function permuteColumns(a: Matrix, perm: ArrayLike<number>): Matrix {
  const out = matrix(a.rows, a.cols);
  for (let r = 0; r < a.rows; r++) {
    const base = r * a.cols;
    for (let i = 0; i < a.cols; i++) out.data[base + i] = a.data[base + perm[i]];
  }
  return out;
}

/** Frobenius inner product sum_ij a_ij b_ij. */
export function frobeniusDot(a: Matrix, b: Matrix): number {
  let s = 0;
  for (let i = 0; i < a.data.length; i++) s += a.data[i] * b.data[i];
  return s;
}
