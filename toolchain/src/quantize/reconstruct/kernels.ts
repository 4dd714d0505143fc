/**
 * Matrix kernels: the few dense products that carry almost all flops of Cholesky, GPTQ, AdaRound and moment
 * accumulation. Backends live apart from the interface (see kernels-ort.ts); algorithms take a `MatrixKernels`.
 */
import { addBlock, block, type Matrix, matrix, transpose } from './matrix.ts';

export interface GemmOptions {
  transA?: boolean;
  transB?: boolean;
}

/** Row-major float32 operands (layer inputs as onnxruntime returns them), for `gemm32`. */
export interface Matrix32 {
  rows: number;
  cols: number;
  data: Float32Array;
}

/** A product of `gemm32`: float32 from float32 kernels, float64 otherwise. */
export interface Product {
  rows: number;
  cols: number;
  data: Float32Array | Float64Array;
}

/** Row-major 8-bit codes with their zero point: the matrix stands for `data - zeroPoint`. */
export interface CodeMatrix<T extends Uint8Array | Int8Array> {
  rows: number;
  cols: number;
  data: T;
  zeroPoint: number;
}

/** An exact integer product. */
export interface IntegerProduct {
  rows: number;
  cols: number;
  data: Int32Array;
}

export interface MatrixKernels {
  readonly name: string;
  /** op(A) @ op(B), op(X) = X^T when the matching flag is set. */
  gemm(a: Matrix, b: Matrix, opts?: GemmOptions): Promise<Matrix>;
  /**
   * The same on float32 operands, in the kernels' precision. NOTE: moment accumulation feeds its float32 buffers
   * here directly; a float64 copy of every chunk (and back to float32 for float32 kernels) cost more than the
   * products themselves on the CIFAR-10 U-Net.
   */
  gemm32(a: Matrix32, b: Matrix32, opts?: GemmOptions): Promise<Product>;
  /**
   * (A - za)^T (B - zb), exact in int32 (|sum| < 2^31 for up to 33k rows): A uint8, B int8, as onnxruntime's
   * MatMulInteger runs fastest (u8 x s8 dot products, faster than float32 gemm: bench/quant-math.ts). The moments
   * of layer inputs that a uint8 quantizer produced come from their codes this way.
   */
  integerGramTransA(a: CodeMatrix<Uint8Array>, b: CodeMatrix<Int8Array>): Promise<IntegerProduct>;
  /** Release native resources (sessions); the kernels must not be used afterwards. */
  dispose(): Promise<void>;
}

type Shape = { rows: number; cols: number };

/** Shapes of op(A) @ op(B), checked. */
export function gemmShape(a: Shape, b: Shape, opts: GemmOptions = {}): { m: number; k: number; n: number } {
  const [m, k] = opts.transA ? [a.cols, a.rows] : [a.rows, a.cols];
  const [kb, n] = opts.transB ? [b.cols, b.rows] : [b.rows, b.cols];
  if (k !== kb) throw new Error(`gemm: inner dimensions differ (${m}x${k} @ ${kb}x${n})`);
  return { m, k, n };
}

export interface GramOptions {
  /** X X^T instead of X^T X. */
  outer?: boolean;
  scale?: number; // default 1
  blockSize?: number; // default 768
  /** The product lands at acc[offset.., offset..] (default 0). */
  offset?: number;
}

/**
 * acc[o.., o..] += scale * X^T X (or X X^T) on the LOWER block triangle only: blocks strictly above the diagonal blocks
 * are left untouched (diagonal blocks are written in full). NOTE: the product is symmetric, so one gemm per
 * block pair below the diagonal does ~(b+1)/(2b) of the flops of a full gemm, and no n x n temporary is made.
 */
export async function addGramLower(acc: Matrix, x: Matrix, kernels: MatrixKernels, opts: GramOptions = {}) {
  const outer = opts.outer ?? false;
  const blockSize = opts.blockSize ?? 768;
  const scale = opts.scale ?? 1;
  const offset = opts.offset ?? 0;
  const n = outer ? x.rows : x.cols;
  if (acc.rows !== acc.cols || acc.rows < offset + n) {
    throw new Error(`gram: ${n}x${n} product does not fit ${acc.rows}x${acc.cols} at ${offset}`);
  }
  const gemmOpts = outer ? { transB: true } : { transA: true };
  const starts: number[] = [];
  for (let c = 0; c < n; c += blockSize) starts.push(c);
  const parts = starts.map((c0) => {
    const c1 = Math.min(c0 + blockSize, n);
    if (starts.length === 1) return x;
    return outer ? block(x, c0, c1, 0, x.cols) : block(x, 0, x.rows, c0, c1);
  });
  for (let i = 0; i < starts.length; i++) {
    for (let j = 0; j <= i; j++) {
      addBlock(acc, offset + starts[i], offset + starts[j], await kernels.gemm(parts[i], parts[j], gemmOpts), scale);
    }
  }
}

/** Copies the lower triangle onto the upper one (in place). */
export function mirrorLower(a: Matrix): void {
  const n = a.rows;
  for (let i = 0; i < n; i++) for (let j = 0; j < i; j++) a.data[j * n + i] = a.data[i * n + j];
}

/** X^T X (or X X^T), full symmetric matrix. */
export async function gram(x: Matrix, kernels: MatrixKernels, opts: Omit<GramOptions, 'scale'> = {}): Promise<Matrix> {
  const n = opts.outer ? x.rows : x.cols;
  const out = matrix(n, n);
  await addGramLower(out, x, kernels, opts);
  mirrorLower(out);
  return out;
}

/** Pure-JS kernels: portable reference backend (~1-2 GFLOP/s), used by tests and as a fallback. */
export function jsKernels(): MatrixKernels {
  return {
    name: 'js',
    gemm: async (a, b, opts = {}) => gemmJs(a, b, opts),
    gemm32: async (a, b, opts = {}) => gemmJs(widen(a), widen(b), opts),
    integerGramTransA: async (a, b) => integerGramJs(a, b),
    dispose: async () => {},
  };
}

function integerGramJs(a: CodeMatrix<Uint8Array>, b: CodeMatrix<Int8Array>): IntegerProduct {
  if (a.rows !== b.rows) throw new Error(`integer gram: ${a.rows} rows against ${b.rows}`);
  const out = new Int32Array(a.cols * b.cols);
  for (let r = 0; r < a.rows; r++) {
    for (let i = 0; i < a.cols; i++) {
      const ai = a.data[r * a.cols + i] - a.zeroPoint;
      if (ai === 0) continue;
      const row = i * b.cols;
      for (let j = 0; j < b.cols; j++) out[row + j] += ai * (b.data[r * b.cols + j] - b.zeroPoint);
    }
  }
  return { rows: a.cols, cols: b.cols, data: out };
}

function widen(a: Matrix32): Matrix {
  return { rows: a.rows, cols: a.cols, data: new Float64Array(a.data) };
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
