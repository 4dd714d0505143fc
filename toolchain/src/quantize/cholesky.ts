/**
 * Blocked Cholesky factorization and triangular inverse. The diagonal blocks are factored in JS (b^3/3 flops);
 * the panel solves and trailing updates, which carry O(n^3) flops, go through `MatrixKernels.gemm`.
 */
import { gram, type MatrixKernels } from './kernels.ts';
import { addBlock, block, type Matrix, matrix, setBlock } from './matrix.ts';

export class NotPositiveDefiniteError extends Error {
  readonly column: number;
  constructor(column: number, pivot: number) {
    super(`matrix is not positive definite: pivot ${pivot} at column ${column} (increase damping)`);
    this.column = column;
  }
}

/** Lower-triangular L with A = L L^T. Only A's lower triangle is read; A is not modified. */
export async function cholesky(a: Matrix, kernels: MatrixKernels, blockSize = 256): Promise<Matrix> {
  const n = a.rows;
  if (a.cols !== n) throw new Error(`cholesky: matrix is ${a.rows}x${a.cols}, not square`);
  const work = matrix(n, n, a.data);
  for (let k0 = 0; k0 < n; k0 += blockSize) {
    const k1 = Math.min(k0 + blockSize, n);
    const diag = block(work, k0, k1, k0, k1);
    choleskyInPlace(diag, k0);
    setBlock(work, k0, k0, diag);
    if (k1 === n) break;
    // Panel: L21 = A21 L11^{-T}; trailing: A22 -= L21 L21^T.
    const panel = await kernels.gemm(block(work, k1, n, k0, k1), invertLowerSmall(diag), { transB: true });
    setBlock(work, k1, k0, panel);
    const update = await gram(panel, kernels, { outer: true });
    addBlock(work, k1, k1, update, -1);
  }
  for (let i = 0; i < n; i++) work.data.fill(0, i * n + i + 1, (i + 1) * n);
  return work;
}

/** Unblocked Cholesky of a small SPD block, in place (lower triangle; upper left as is). */
export function choleskyInPlace(a: Matrix, columnOffset = 0): void {
  const n = a.rows;
  const d = a.data;
  for (let j = 0; j < n; j++) {
    let s = d[j * n + j];
    for (let p = 0; p < j; p++) s -= d[j * n + p] * d[j * n + p];
    if (!(s > 0)) throw new NotPositiveDefiniteError(columnOffset + j, s);
    const ljj = Math.sqrt(s);
    d[j * n + j] = ljj;
    for (let i = j + 1; i < n; i++) {
      let t = d[i * n + j];
      for (let p = 0; p < j; p++) t -= d[i * n + p] * d[j * n + p];
      d[i * n + j] = t / ljj;
    }
  }
}

/** Inverse of a small lower-triangular matrix by forward substitution (upper triangle of the input ignored). */
export function invertLowerSmall(l: Matrix): Matrix {
  const n = l.rows;
  const inv = matrix(n, n);
  const L = l.data;
  const X = inv.data;
  for (let j = 0; j < n; j++) {
    X[j * n + j] = 1 / L[j * n + j];
    for (let i = j + 1; i < n; i++) {
      let s = 0;
      for (let p = j; p < i; p++) s += L[i * n + p] * X[p * n + j];
      X[i * n + j] = -s / L[i * n + i];
    }
  }
  return inv;
}

/**
 * Inverse of a lower-triangular matrix, blocked: column block j of X = L^{-1} solves
 * L[j:, j:] X[j:, j] = E, done block row by block row with one gemm per block row.
 */
export async function invertLower(l: Matrix, kernels: MatrixKernels, blockSize = 256): Promise<Matrix> {
  const n = l.rows;
  const inv = matrix(n, n);
  const diagInv: Matrix[] = [];
  for (let k0 = 0; k0 < n; k0 += blockSize) {
    const k1 = Math.min(k0 + blockSize, n);
    const di = invertLowerSmall(block(l, k0, k1, k0, k1));
    diagInv.push(di);
    setBlock(inv, k0, k0, di);
  }
  // Block row i (rows [r0,r1)): X[i, :r0] = -Linv_ii (L[i, :r0] X[:r0, :r0]).
  for (let bi = 1, r0 = blockSize; r0 < n; bi++, r0 += blockSize) {
    const r1 = Math.min(r0 + blockSize, n);
    const partial = await kernels.gemm(block(l, r0, r1, 0, r0), block(inv, 0, r0, 0, r0));
    const rowBlock = await kernels.gemm(diagInv[bi], partial);
    addBlock(inv, r0, 0, rowBlock, -1);
  }
  return inv;
}
