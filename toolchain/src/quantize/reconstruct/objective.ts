/**
 * The layer-wise quadratic objective. For a layer y = W x with input moments H = E[x x^T],
 * E||(W^ - W) x||^2 = tr(dW H dW^T). With quantized (or QDrop-mixed) inputs x~, G = E[x~ x~^T] and
 * C = E[x x~^T]: E||W x - W^ x~||^2 = tr((W^ - W*) G (W^ - W*)^T) + const, W* = W C G^{-1}, so every
 * rounding method runs on (target W*, G) unchanged and reports the error above that constant.
 */
import { cholesky, invertLower } from './cholesky.ts';
import type { MatrixKernels } from './kernels.ts';
import { type Matrix, matrix } from './matrix.ts';

export const DEFAULT_DAMPING = 0.01;

/** Per-row tr(dW H dW^T) terms, dW [out, in], H [in, in]. */
export async function quadraticErrors(dw: Matrix, h: Matrix, kernels: MatrixKernels): Promise<Float64Array> {
  const dwh = await kernels.gemm(dw, h);
  const out = new Float64Array(dw.rows);
  for (let r = 0; r < dw.rows; r++) {
    let s = 0;
    for (let c = r * dw.cols; c < (r + 1) * dw.cols; c++) s += dwh.data[c] * dw.data[c];
    out[r] = s;
  }
  return out;
}

export async function quadraticError(dw: Matrix, h: Matrix, kernels: MatrixKernels): Promise<number> {
  return (await quadraticErrors(dw, h, kernels)).reduce((a, b) => a + b, 0);
}

export function difference(a: Matrix, b: Matrix): Matrix {
  return matrix(
    a.rows,
    a.cols,
    a.data.map((v, i) => v - b.data[i]),
  );
}

/**
 * What damping adds to each diagonal entry of H: lambda = damping * mean(diag H), or 1 on a zero diagonal (a dead
 * channel, never nonzero in the calibration data), so that H + diag(extra) is definite.
 */
export function dampingDiagonal(h: Matrix, damping = DEFAULT_DAMPING): Float64Array {
  const n = h.rows;
  let mean = 0;
  for (let i = 0; i < n; i++) mean += h.data[i * n + i];
  const lambda = (damping * mean) / n;
  const extra = new Float64Array(n);
  for (let i = 0; i < n; i++) extra[i] = h.data[i * n + i] === 0 ? 1 : lambda;
  return extra;
}

/** H + diag(dampingDiagonal(H)), a copy. */
export function dampedMoments(h: Matrix, damping = DEFAULT_DAMPING): Matrix {
  const n = h.rows;
  const out = matrix(n, n, h.data);
  dampingDiagonal(h, damping).forEach((e, i) => {
    out.data[i * n + i] += e;
  });
  return out;
}

/** W* = W C G^{-1} (G damped as GPTQ damps H). */
export async function crossTarget(
  w: Matrix,
  cross: Matrix,
  g: Matrix,
  kernels: MatrixKernels,
  damping = DEFAULT_DAMPING,
): Promise<Matrix> {
  const linv = await invertLower(await cholesky(dampedMoments(g, damping), kernels), kernels);
  const wc = await kernels.gemm(w, cross);
  // G^{-1} = L^{-T} L^{-1}
  return kernels.gemm(await kernels.gemm(wc, linv, { transB: true }), linv);
}
