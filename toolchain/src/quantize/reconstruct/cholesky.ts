/**
 * Blocked Cholesky factorization and triangular inverse. Only blocks of at most 128 are factored/inverted in JS;
 * the panel solves and trailing updates, which carry the O(n^3) flops, go through `MatrixKernels.gemm`.
 */
import { addGramLower, type MatrixKernels } from './kernels.ts';
import { addBlock, block, type Matrix, matrix, setBlock } from './matrix.ts';

export class NotPositiveDefiniteError extends Error {
  readonly column: number;
  constructor(column: number, pivot: number) {
    super(`matrix is not positive definite: pivot ${pivot} at column ${column} (increase damping)`);
    this.column = column;
  }
}

export interface CholeskyOptions {
  /** Panel width (default 512). Diagonal blocks wider than 128 are factored recursively through the kernels. */
  blockSize?: number;
  /** Factor `a` in place (saves an n x n copy); otherwise `a` is left untouched. */
  inPlace?: boolean;
}

const LEAF = 128;

/** Lower-triangular L with A = L L^T. Only A's lower triangle is read; L's upper triangle is zero. */
export async function cholesky(a: Matrix, kernels: MatrixKernels, opts: CholeskyOptions = {}): Promise<Matrix> {
  const n = a.rows;
  if (a.cols !== n) throw new Error(`cholesky: matrix is ${a.rows}x${a.cols}, not square`);
  const work = opts.inPlace ? a : matrix(n, n, a.data);
  await factorLower(work, kernels, opts.blockSize ?? 512, 0, false);
  for (let i = 0; i < n; i++) work.data.fill(0, i * n + i + 1, (i + 1) * n);
  return work;
}

/**
 * Right-looking blocked Cholesky on the lower triangle of `work` (upper triangle left as garbage). With
 * `inverse`, also returns L^{-1}, assembled from the diagonal blocks' inverses that the factorization needs
 * anyway (so no block is inverted twice).
 */
async function factorLower(
  work: Matrix,
  kernels: MatrixKernels,
  blockSize: number,
  offset: number,
  inverse: boolean,
): Promise<Matrix | undefined> {
  const n = work.rows;
  if (n <= LEAF) {
    choleskyInPlace(work, offset);
    return inverse ? invertLowerSmall(work) : undefined;
  }
  const diagInvs: Matrix[] = [];
  for (let k0 = 0; k0 < n; k0 += blockSize) {
    const k1 = Math.min(k0 + blockSize, n);
    const diag = block(work, k0, k1, k0, k1);
    const needInverse = inverse || k1 < n;
    const diagInv = await factorLower(diag, kernels, Math.max(LEAF, blockSize / 4), offset + k0, needInverse);
    setBlock(work, k0, k0, diag);
    if (diagInv) diagInvs.push(diagInv);
    if (k1 === n) break;
    // Panel: L21 = A21 L11^{-T}; trailing: A22 -= L21 L21^T (lower blocks only).
    const panel = await kernels.gemm(block(work, k1, n, k0, k1), diagInv!, { transB: true });
    setBlock(work, k1, k0, panel);
    await addGramLower(work, panel, kernels, { outer: true, scale: -1, offset: k1 });
  }
  return inverse ? assembleInverse(work, diagInvs, blockSize, kernels) : undefined;
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

/** Inverse of a small lower-triangular matrix (upper triangle of the input ignored), row by row. */
export function invertLowerSmall(l: Matrix): Matrix {
  const n = l.rows;
  const inv = matrix(n, n);
  const L = l.data;
  const X = inv.data;
  // Row i of X = (e_i - sum_{p<i} L_ip X_p) / L_ii; row p of X is zero beyond column p (contiguous axpys).
  for (let i = 0; i < n; i++) {
    const xi = i * n;
    for (let p = 0; p < i; p++) {
      const lip = L[xi + p];
      if (lip === 0) continue;
      const xp = p * n;
      for (let j = 0; j <= p; j++) X[xi + j] -= lip * X[xp + j];
    }
    X[xi + i] = 1;
    const d = 1 / L[xi + i];
    for (let j = 0; j <= i; j++) X[xi + j] *= d;
  }
  return inv;
}

/**
 * Inverse of a lower-triangular matrix, blocked: column block j of X = L^{-1} solves
 * L[j:, j:] X[j:, j] = E, done block row by block row with one gemm per block row.
 */
export async function invertLower(l: Matrix, kernels: MatrixKernels, blockSize = LEAF): Promise<Matrix> {
  const diagInvs: Matrix[] = [];
  for (let k0 = 0; k0 < l.rows; k0 += blockSize)
    diagInvs.push(
      invertLowerSmall(block(l, k0, Math.min(k0 + blockSize, l.rows), k0, Math.min(k0 + blockSize, l.rows))),
    );
  return assembleInverse(l, diagInvs, blockSize, kernels);
}

/** L^{-1} from L and the inverses of its diagonal blocks (of `blockSize`, the last one possibly smaller). */
async function assembleInverse(l: Matrix, diagInvs: Matrix[], blockSize: number, kernels: MatrixKernels) {
  const n = l.rows;
  const inv = matrix(n, n);
  diagInvs.forEach((di, b) => {
    setBlock(inv, b * blockSize, b * blockSize, di);
  });
  // Block row i (rows [r0,r1)): X[i, :r0] = -Linv_ii (L[i, :r0] X[:r0, :r0]).
  for (let bi = 1, r0 = blockSize; r0 < n; bi++, r0 += blockSize) {
    const r1 = Math.min(r0 + blockSize, n);
    const partial = await kernels.gemm(block(l, r0, r1, 0, r0), block(inv, 0, r0, 0, r0));
    const rowBlock = await kernels.gemm(diagInvs[bi], partial);
    addBlock(inv, r0, 0, rowBlock, -1);
  }
  return inv;
}
