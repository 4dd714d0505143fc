/**
 * Matrix kernels: the few dense products that carry almost all flops of Cholesky, GPTQ, AdaRound and moment
 * accumulation. Backends live apart from the interface (see kernels-ort.ts); algorithms take a `MatrixKernels`.
 */
import { block, type Matrix, matrix, setBlock, transpose } from './matrix.ts';

export interface GemmOptions {
  transA?: boolean;
  transB?: boolean;
}

export interface MatrixKernels {
  readonly name: string;
  /** op(A) @ op(B), op(X) = X^T when the matching flag is set. */
  gemm(a: Matrix, b: Matrix, opts?: GemmOptions): Promise<Matrix>;
  /** Release native resources (sessions); the kernels must not be used afterwards. */
  dispose(): Promise<void>;
}

/** Shapes of op(A) @ op(B), checked. */
export function gemmShape(a: Matrix, b: Matrix, opts: GemmOptions = {}): { m: number; k: number; n: number } {
  const [m, k] = opts.transA ? [a.cols, a.rows] : [a.rows, a.cols];
  const [kb, n] = opts.transB ? [b.cols, b.rows] : [b.rows, b.cols];
  if (k !== kb) throw new Error(`gemm: inner dimensions differ (${m}x${k} @ ${kb}x${n})`);
  return { m, k, n };
}

/**
 * X^T X for X [rows, n] (or X X^T with `outer`). NOTE: symmetric, so only the lower block triangle is computed
 * (one gemm per block pair, mirrored): ~(b+1)/(2b) of the flops of one full gemm with b blocks.
 */
export async function gram(
  x: Matrix,
  kernels: MatrixKernels,
  opts: { outer?: boolean; blockSize?: number } = {},
): Promise<Matrix> {
  const outer = opts.outer ?? false;
  const blockSize = opts.blockSize ?? 768;
  const n = outer ? x.rows : x.cols;
  const gemmOpts = outer ? { transB: true } : { transA: true };
  if (n <= blockSize) return kernels.gemm(x, x, gemmOpts);
  const out = matrix(n, n);
  const starts: number[] = [];
  for (let c = 0; c < n; c += blockSize) starts.push(c);
  const parts = starts.map((c0) => {
    const c1 = Math.min(c0 + blockSize, n);
    return outer ? block(x, c0, c1, 0, x.cols) : block(x, 0, x.rows, c0, c1);
  });
  for (let i = 0; i < starts.length; i++) {
    for (let j = 0; j <= i; j++) {
      const prod = await kernels.gemm(parts[i], parts[j], gemmOpts);
      setBlock(out, starts[i], starts[j], prod);
      if (i !== j) setBlock(out, starts[j], starts[i], transpose(prod));
    }
  }
  return out;
}

/** Pure-JS kernels: portable reference backend (~1-2 GFLOP/s), used by tests and as a fallback. */
export function jsKernels(): MatrixKernels {
  return {
    name: 'js',
    gemm: async (a, b, opts = {}) => gemmJs(a, b, opts),
    dispose: async () => {},
  };
}

const TILE_I = 32;
const TILE_P = 128;
const TILE_J = 512;

export function gemmJs(a: Matrix, b: Matrix, opts: GemmOptions = {}): Matrix {
  const { m, k, n } = gemmShape(a, b, opts);
  const A = opts.transA ? transpose(a).data : a.data; // [m,k]
  const B = opts.transB ? transpose(b).data : b.data; // [k,n]
  const c = matrix(m, n);
  const C = c.data;
  // NOTE: i-p-j order with tiles so a B tile (TILE_P x TILE_J) stays in L2 while rows of A stream over it;
  // the innermost loop is a contiguous axpy, the form V8 compiles best.
  for (let j0 = 0; j0 < n; j0 += TILE_J) {
    const j1 = Math.min(j0 + TILE_J, n);
    for (let p0 = 0; p0 < k; p0 += TILE_P) {
      const p1 = Math.min(p0 + TILE_P, k);
      for (let i0 = 0; i0 < m; i0 += TILE_I) {
        const i1 = Math.min(i0 + TILE_I, m);
        for (let i = i0; i < i1; i++) {
          const cRow = i * n;
          const aRow = i * k;
          let p = p0;
          for (; p + 1 < p1; p += 2) {
            const a0 = A[aRow + p];
            const a1 = A[aRow + p + 1];
            if (a0 === 0 && a1 === 0) continue;
            const b0 = p * n;
            const b1 = b0 + n;
            for (let j = j0; j < j1; j++) C[cRow + j] += a0 * B[b0 + j] + a1 * B[b1 + j];
          }
          if (p < p1) {
            const a0 = A[aRow + p];
            if (a0 === 0) continue;
            const b0 = p * n;
            for (let j = j0; j < j1; j++) C[cRow + j] += a0 * B[b0 + j];
          }
        }
      }
    }
  }
  return c;
}
