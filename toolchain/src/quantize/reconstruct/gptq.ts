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

import { type LpSearchOptions, type ScaleMethod, weightScales } from '../observe/range-search.ts';
import { dequantizeWeights, type Grid, quantizeWeights, roundHalfEven } from '../quant.ts';
import { cholesky, NotPositiveDefiniteError } from './cholesky.ts';
import type { MatrixKernels } from './kernels.ts';
import { block, type Matrix, matrix, permuteColumns } from './matrix.ts';
import { DEFAULT_DAMPING, dampingDiagonal, difference, quadraticError } from './objective.ts';

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

export interface GptqResult extends WeightRounding {
  /** The damping that was used: `damping`, or 10x/100x it when the damped H was still not definite. */
  damping: number;
}

export async function gptq(w: Matrix, h: Matrix, kernels: MatrixKernels, opts: GptqOptions): Promise<GptqResult> {
  const n = w.cols;
  if (h.rows !== n || h.cols !== n) throw new Error(`gptq: H is ${h.rows}x${h.cols}, W has ${n} columns`);
  const scales = opts.scales ?? weightScales(w, opts.grid, { ...opts, method: opts.scaleMethod });
  const perm = opts.actOrder ? decreasingDiagonal(h) : null;
  const wp = perm ? permuteColumns(w, perm) : w;
  const f = await factor(h, perm, opts.damping ?? DEFAULT_DAMPING, kernels);
  const swept = await sweep(wp, f, scales, opts.grid, opts.blockSize ?? 128, kernels);
  const q = perm ? unpermuteColumns(swept.q, w.rows, n, perm) : swept.q;
  const nearest = quantizeWeights(w, scales, opts.grid);
  return {
    q,
    scales,
    errorNearest: await quadraticError(difference(dequantizeWeights(nearest, scales, n), w), h, kernels),
    error: swept.error,
    damping: f.damping,
  };
}

interface Factor {
  u: Matrix; // unit upper: entry (j, i) = U_ji / U_ii, H_damped = U U^T
  pivots: Float64Array; // U_ii^2
  extra: Float64Array; // H_damped_ii - H_ii (damping, or 1 on dead columns)
  damping: number;
}

/** The unit upper factor of the damped, permuted H; retries with more damping if rounding broke definiteness. */
async function factor(h: Matrix, perm: Int32Array | null, damping: number, kernels: MatrixKernels): Promise<Factor> {
  for (let attempt = 0; ; attempt++) {
    const d = damping * 10 ** attempt;
    try {
      return { ...(await unitUpperFactor(h, perm, d, kernels)), damping: d };
    } catch (e) {
      if (!(e instanceof NotPositiveDefiniteError) || attempt === 2) throw e;
    }
  }
}

/**
 * H_damped = U U^T with U upper triangular (H damped, then permuted), from the lower Cholesky factor L of the
 * reversed matrix R = J H J (J the reversal): U = J L J. Returned with columns scaled to unit diagonal.
 * NOTE: one n x n buffer does everything (R is built directly, factored in place, then mirrored into U), since
 * for n = 4608 each extra copy costs 170 MB and a noticeable share of the run time.
 */
async function unitUpperFactor(h: Matrix, perm: Int32Array | null, damping: number, kernels: MatrixKernels) {
  const n = h.rows;
  const col = (i: number) => (perm ? perm[i] : i);
  const add = dampingDiagonal(h, damping);
  const extra = Float64Array.from({ length: n }, (_, i) => add[col(i)]);
  const r = matrix(n, n);
  for (let i = 0; i < n; i++) {
    const src = col(n - 1 - i) * n;
    for (let j = 0; j <= i; j++) r.data[i * n + j] = h.data[src + col(n - 1 - j)];
    r.data[i * n + i] += extra[n - 1 - i];
  }
  await cholesky(r, kernels, { inPlace: true });
  const pivots = new Float64Array(n);
  for (let i = 0; i < n; i++) pivots[i] = r.data[(n - 1 - i) * (n + 1)] ** 2;
  // U_ij = L_{n-1-i, n-1-j}: a point reflection of the buffer (swap pairs), then scale column j by 1/U_jj.
  const d = r.data;
  for (let a = 0, b = n * n - 1; a < b; a++, b--) {
    const t = d[a];
    d[a] = d[b];
    d[b] = t;
  }
  const inv = pivots.map((p) => 1 / Math.sqrt(p));
  for (let i = 0; i < n; i++) for (let j = i; j < n; j++) d[i * n + j] *= inv[j];
  return { u: r, pivots, extra };
}

/**
 * Column-by-column rounding with error feedback; returns integer weights and tr(dW H dW^T).
 * NOTE: the error comes for free: (U^T d)_i = U_ii (q_i s - t_i), so d^T H_damped d = sum_i U_ii^2 (q_i s - t_i)^2,
 * and the damping's share sum_i extra_i d_i^2 is subtracted (exact up to the kernels' precision).
 */
async function sweep(
  w: Matrix,
  f: Factor,
  scales: Float32Array,
  grid: Grid,
  blockSize: number,
  kernels: MatrixKernels,
): Promise<{ q: Int8Array; error: number }> {
  const { rows, cols: n } = w;
  let error = 0;
  const target = matrix(rows, n, w.data); // running targets t
  const q = new Int8Array(rows * n);
  for (let b0 = 0; b0 < n; b0 += blockSize) {
    const b1 = Math.min(b0 + blockSize, n);
    const delta = matrix(rows, b1 - b0); // d = q*s - w for this block
    error += roundBlock(w.data, target.data, q, delta.data, f, scales, grid, n, b0, b1);
    if (b1 < n) {
      const update = await kernels.gemm(delta, block(f.u, b0, b1, b1, n));
      subtractColumns(target.data, n, b1, update.data, update.cols, rows);
    }
  }
  return { q, error };
}

/**
 * Rounds columns [b0, b1) of every row, feeding each rounding error into the block's later columns; writes the
 * errors d into `delta` ([rows, b1 - b0]) and returns the block's share of the error.
 * NOTE: a plain function on typed arrays, apart from the async sweep: inside the async function V8 ran this
 * loop several times slower.
 */
function roundBlock(
  w: Float64Array,
  target: Float64Array,
  q: Int8Array,
  delta: Float64Array,
  f: Factor,
  scales: Float32Array,
  grid: Grid,
  n: number,
  b0: number,
  b1: number,
): number {
  const { pivots, extra } = f;
  const u = f.u.data;
  const width = b1 - b0;
  const rows = w.length / n;
  let error = 0;
  for (let r = 0; r < rows; r++) {
    const s = Math.fround(scales[r]);
    const base = r * n;
    for (let i = b0; i < b1; i++) {
      const qi = clampToGrid(roundHalfEven(target[base + i] / s), grid);
      q[base + i] = qi;
      // NOTE: d is measured against the original w_i, not the running target: that is what the U form
      // feeds back (GPTQ's form feeds back t_i - q_i s through U^{-1}; the two agree).
      const wq = Math.fround(qi * s);
      const d = wq - w[base + i];
      error += pivots[i] * (wq - target[base + i]) ** 2 - extra[i] * d * d;
      delta[r * width + i - b0] = d;
      const urow = i * n;
      for (let j = i + 1; j < b1; j++) target[base + j] -= d * u[urow + j];
    }
  }
  return error;
}

/** target[r, c0 + j] -= update[r, j] for every row. */
function subtractColumns(
  target: Float64Array,
  n: number,
  c0: number,
  update: Float64Array,
  cols: number,
  rows: number,
) {
  for (let r = 0; r < rows; r++) {
    const dst = r * n + c0;
    const src = r * cols;
    for (let j = 0; j < cols; j++) target[dst + j] -= update[src + j];
  }
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
