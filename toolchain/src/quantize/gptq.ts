/**
 * GPTQ (OBQ in one pass): quantize the columns of W [out, in] one at a time, each rounding error fed back into
 * the not-yet-quantized columns so that tr(dW H dW^T) stays small. Per-output-channel scales are fixed up front.
 *
 * Formulation. With H = U U^T, U upper triangular (a Cholesky factor of the reversed H), the error of one row is
 * ||U^T d||^2 and (U^T d)_k depends only on d_0..d_k. After rounding columns < i, the best compensation of the
 * remaining columns makes the target of column i  t_i = w_i - sum_{j<i} d_j U_ji / U_ii  (d = q*s - w), which
 * is exactly GPTQ's update through the upper Cholesky factor of H^{-1} (= U^{-1}); working with U needs no
 * inverse. Updates inside a block of columns are applied eagerly, the block's effect on later columns is one
 * gemm (GPTQ's lazy batch updates), so nearly all flops are the Cholesky and those gemms.
 */
import { cholesky } from './cholesky.ts';
import type { MatrixKernels } from './kernels.ts';
import { block, type Matrix, matrix, permuteColumns, permuteSymmetric } from './matrix.ts';
import { DEFAULT_DAMPING, dampedMoments, difference, quadraticError } from './objective.ts';
import { dequantizeWeights, type Grid, quantizeWeights, roundHalfEven } from './quant.ts';
import { type LpSearchOptions, type ScaleMethod, weightScales } from './range-search.ts';

export interface GptqOptions extends LpSearchOptions {
  grid: Grid;
  /** Per-row scales; computed from W by `scaleMethod` when absent. */
  scales?: Float32Array;
  scaleMethod?: ScaleMethod; // default 'absmax'
  damping?: number; // fraction of mean(diag H), default 0.01
  blockSize?: number; // lazy-update block, default 128
  /** Quantize columns in order of decreasing H_ii (GPTQ's act-order); default false. */
  actOrder?: boolean;
}

export interface WeightRounding {
  q: Int8Array; // [out, in] integers on the grid
  scales: Float32Array; // [out]
  /** tr(dW H dW^T) with nearest rounding and with this rounding (undamped H). */
  errorNearest: number;
  error: number;
}

export async function gptq(w: Matrix, h: Matrix, kernels: MatrixKernels, opts: GptqOptions): Promise<WeightRounding> {
  const n = w.cols;
  if (h.rows !== n || h.cols !== n) throw new Error(`gptq: H is ${h.rows}x${h.cols}, W has ${n} columns`);
  const scales = opts.scales ?? weightScales(w, opts.grid, { ...opts, method: opts.scaleMethod });
  const damped = dampedMoments(h, opts.damping ?? DEFAULT_DAMPING);
  const perm = opts.actOrder ? decreasingDiagonal(h) : null;
  const hp = perm ? permuteSymmetric(damped, perm) : damped;
  const wp = perm ? permuteColumns(w, perm) : w;
  const u = await unitUpperFactor(hp, kernels);
  const qp = await sweep(wp, u, scales, opts.grid, opts.blockSize ?? 128, kernels);
  const q = perm ? unpermuteColumns(qp, w.rows, n, perm) : qp;
  const nearest = quantizeWeights(w, scales, opts.grid);
  return {
    q,
    scales,
    errorNearest: await quadraticError(difference(dequantizeWeights(nearest, scales, n), w), h, kernels),
    error: await quadraticError(difference(dequantizeWeights(q, scales, n), w), h, kernels),
  };
}

/** U with H = U U^T, upper triangular, columns scaled to unit diagonal (entry (j, i) = U_ji / U_ii). */
async function unitUpperFactor(h: Matrix, kernels: MatrixKernels): Promise<Matrix> {
  const n = h.rows;
  const reversed = matrix(n, n);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < n; j++) reversed.data[i * n + j] = h.data[(n - 1 - i) * n + (n - 1 - j)];
  const l = await cholesky(reversed, kernels);
  const u = matrix(n, n);
  for (let i = 0; i < n; i++) {
    for (let j = i; j < n; j++) {
      // U_ij = L_{n-1-i, n-1-j}; divide column j by U_jj.
      u.data[i * n + j] = l.data[(n - 1 - i) * n + (n - 1 - j)] / l.data[(n - 1 - j) * n + (n - 1 - j)];
    }
  }
  return u;
}

/** Column-by-column rounding with error feedback; returns integer weights. */
async function sweep(
  w: Matrix,
  u: Matrix,
  scales: Float32Array,
  grid: Grid,
  blockSize: number,
  kernels: MatrixKernels,
): Promise<Int8Array> {
  const { rows, cols: n } = w;
  const target = matrix(rows, n, w.data); // running targets t
  const q = new Int8Array(rows * n);
  for (let b0 = 0; b0 < n; b0 += blockSize) {
    const b1 = Math.min(b0 + blockSize, n);
    const delta = matrix(rows, b1 - b0); // d = q*s - w for this block
    for (let r = 0; r < rows; r++) {
      const s = Math.fround(scales[r]);
      const base = r * n;
      for (let i = b0; i < b1; i++) {
        const qi = clampToGrid(roundHalfEven(target.data[base + i] / s), grid);
        q[base + i] = qi;
        // NOTE: d is measured against the original w_i, not the running target: that is what the U form
        // feeds back (GPTQ's form feeds back t_i - q_i s through U^{-1}; the two agree).
        const d = Math.fround(qi * s) - w.data[base + i];
        delta.data[r * delta.cols + i - b0] = d;
        const urow = i * n;
        for (let j = i + 1; j < b1; j++) target.data[base + j] -= d * u.data[urow + j];
      }
    }
    if (b1 < n) {
      const update = await kernels.gemm(delta, block(u, b0, b1, b1, n));
      for (let r = 0; r < rows; r++) {
        const dst = r * n + b1;
        const src = r * update.cols;
        for (let j = 0; j < update.cols; j++) target.data[dst + j] -= update.data[src + j];
      }
    }
  }
  return q;
}

function clampToGrid(v: number, grid: Grid): number {
  return v < grid.qmin ? grid.qmin : Math.min(v, grid.qmax);
}

function decreasingDiagonal(h: Matrix): Int32Array {
  const n = h.rows;
  const perm = Int32Array.from({ length: n }, (_, i) => i);
  return perm.sort((a, b) => h.data[b * n + b] - h.data[a * n + a] || a - b);
}

function unpermuteColumns(q: Int8Array, rows: number, cols: number, perm: Int32Array): Int8Array {
  const out = new Int8Array(q.length);
  for (let r = 0; r < rows; r++) for (let i = 0; i < cols; i++) out[r * cols + perm[i]] = q[r * cols + i];
  return out;
}
