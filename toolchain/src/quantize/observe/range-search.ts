/**
 * L_p grid search for quantizer ranges (PTQ4DM / Q-Diffusion initialization): among `candidates` shrunken
 * ranges pick the one minimizing mean |x^ - x|^p (p = 2.4 by default).
 * - weights: per output channel, symmetric, scales s0*i/N (i = 1..N) with s0 the tight scale;
 * - activations: per tensor, unsigned affine, ranges [min*i/N, max*i/N] (i = 1..N).
 * Both accept weighted points so the streaming observer can search over histogram bins.
 */

import {
  type AffineParams,
  activationParams,
  fakeQuantizeValue,
  type Grid,
  symmetricParams,
  tightSymmetricScale,
} from '../quant.ts';
import type { Matrix } from '../reconstruct/matrix.ts';

export interface LpSearchOptions {
  p?: number; // default 2.4
  candidates?: number; // default 100
}

export const DEFAULT_P = 2.4;
export const DEFAULT_CANDIDATES = 100;

/** Points x with weights w (null = all 1): the mean L_p quantization error under `params`. */
export function lpError(x: ArrayLike<number>, w: ArrayLike<number> | null, params: AffineParams, p: number): number {
  let err = 0;
  let total = 0;
  for (let i = 0; i < x.length; i++) {
    const wi = w ? w[i] : 1;
    if (wi === 0) continue;
    err += wi * Math.abs(fakeQuantizeValue(x[i], params) - x[i]) ** p;
    total += wi;
  }
  return total > 0 ? err / total : 0;
}

export interface AffineSearchResult {
  params: AffineParams;
  min: number;
  max: number;
  error: number;
  candidate: number; // i in 1..N
}

/** Activation range search over [min*i/N, max*i/N]; min/max default to the points' own extremes. */
export function searchAffineRange(
  x: ArrayLike<number>,
  w: ArrayLike<number> | null,
  grid: Grid,
  opts: LpSearchOptions & { min?: number; max?: number } = {},
): AffineSearchResult {
  const p = opts.p ?? DEFAULT_P;
  const n = opts.candidates ?? DEFAULT_CANDIDATES;
  let lo = opts.min ?? Number.POSITIVE_INFINITY;
  let hi = opts.max ?? Number.NEGATIVE_INFINITY;
  if (opts.min === undefined || opts.max === undefined) {
    for (let i = 0; i < x.length; i++) {
      if (w && w[i] === 0) continue;
      if (opts.min === undefined) lo = Math.min(lo, x[i]);
      if (opts.max === undefined) hi = Math.max(hi, x[i]);
    }
  }
  lo = Math.min(lo, 0);
  hi = Math.max(hi, 0);
  let best: AffineSearchResult | null = null;
  for (let i = 1; i <= n; i++) {
    const cmin = (lo * i) / n;
    const cmax = (hi * i) / n;
    const params = activationParams(cmin, cmax, grid);
    const error = lpError(x, w, params, p);
    if (!best || error < best.error) best = { params, min: cmin, max: cmax, error, candidate: i };
  }
  return best!;
}

export interface ScaleSearchResult {
  scale: number;
  error: number;
  candidate: number;
}

/**
 * Symmetric scale search for one channel: scales s0*i/N, ties going to the smaller i.
 * NOTE: this runs over every weight of the network 100 times, so it is specialized: values are visited in
 * decreasing |x| so that a candidate is abandoned as soon as its (clipping-dominated) error passes the best
 * one, and |d|^p for in-range residuals |d| <= 1/2 step comes from a linearly interpolated table (relative
 * error ~1e-7). Errors ignore the float32 rounding of dequantized values.
 */
export function searchSymmetricScale(x: ArrayLike<number>, grid: Grid, opts: LpSearchOptions = {}): ScaleSearchResult {
  const p = opts.p ?? DEFAULT_P;
  const n = opts.candidates ?? DEFAULT_CANDIDATES;
  const xs = Float64Array.from(x).sort((a, b) => Math.abs(b) - Math.abs(a));
  let lo = 0;
  let hi = 0;
  for (const v of xs) {
    lo = Math.min(lo, v);
    hi = Math.max(hi, v);
  }
  const s0 = tightSymmetricScale(lo, hi, grid);
  if (s0 === 0 || xs.length === 0) return { scale: symmetricParams(0, grid).scale, error: 0, candidate: n };
  const table = powTable(p);
  let best: ScaleSearchResult = { scale: 0, error: Number.POSITIVE_INFINITY, candidate: 0 };
  for (let i = n; i >= 1; i--) {
    const scale = symmetricParams((s0 * i) / n, grid).scale;
    const sp = scale ** p;
    const sum = residualPowerSum(xs, 1 / scale, grid, p, table, (best.error * xs.length) / sp);
    const error = (sum * sp) / xs.length;
    if (error <= best.error) best = { scale, error, candidate: i };
  }
  return best;
}

const TABLE_SIZE = 4096; // intervals over [0, 1/2]
const powTables = new Map<number, Float64Array>();

function powTable(p: number): Float64Array {
  let t = powTables.get(p);
  if (!t) {
    t = new Float64Array(TABLE_SIZE + 2);
    for (let k = 0; k < t.length; k++) t[k] = (k / (2 * TABLE_SIZE)) ** p;
    powTables.set(p, t);
  }
  return t;
}

/** sum |clamp(round(x/s)) - x/s|^p over xs (in units of the step), stopping once past `limit`. */
function residualPowerSum(xs: Float64Array, inv: number, grid: Grid, p: number, table: Float64Array, limit: number) {
  const { qmin, qmax } = grid;
  let e = 0;
  for (let k = 0; k < xs.length; k++) {
    const u = xs[k] * inv;
    let q = Math.round(u); // half-up is fine here: a tie has |d| = 1/2 either way
    if (q < qmin) q = qmin;
    else if (q > qmax) q = qmax;
    const d = Math.abs(q - u);
    if (d <= 0.5) {
      const t = d * 2 * TABLE_SIZE;
      const j = t | 0;
      e += table[j] + (t - j) * (table[j + 1] - table[j]);
    } else {
      e += d ** p;
      if (e > limit) return e;
    }
  }
  return e;
}

export type ScaleMethod = 'absmax' | 'lp';

/** Per-output-channel scales for w [out, in]: the tight scale ('absmax') or the L_p search ('lp'). */
export function weightScales(
  w: Matrix,
  grid: Grid,
  opts: LpSearchOptions & { method?: ScaleMethod } = {},
): Float32Array {
  const scales = new Float32Array(w.rows);
  for (let r = 0; r < w.rows; r++) {
    const row = w.data.subarray(r * w.cols, (r + 1) * w.cols);
    if (opts.method === 'lp') {
      scales[r] = searchSymmetricScale(row, grid, opts).scale;
    } else {
      let lo = 0;
      let hi = 0;
      for (const v of row) {
        lo = Math.min(lo, v);
        hi = Math.max(hi, v);
      }
      scales[r] = symmetricParams(tightSymmetricScale(lo, hi, grid), grid).scale;
    }
  }
  return scales;
}
