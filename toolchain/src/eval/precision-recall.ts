/**
 * Improved precision and recall (Kynkaanniemi et al. 2019) exactly as the ADM evaluator's ManifoldEstimator
 * (openai/guided-diffusion evaluations/evaluator.py) computes them:
 * - distances are SQUARED Euclidean, max(|u|^2 - 2 u.v + |v|^2, 0), radii included;
 * - the radius of a point is entry k (0-based) of its sorted distances to every point of its own set, the point
 *   itself included: with the self-distance 0 in front, that is the distance to its k-th nearest other point
 *   (k = 3). A duplicate point counts as a neighbour at distance 0, as in np.partition.
 * - precision = fraction of samples within (<=) the radius of at least one reference point;
 *   recall = fraction of reference points within the radius of at least one sample.
 * NOTE: the evaluator computes the distances in float16 on the GPU (falling back to float32 when a float16
 * value is not finite) and keeps radii in float32; here everything is float64, so borderline points can differ
 * from the published TF numbers by that rounding, while agreeing with a float64 numpy port of the same logic.
 * Cost: N_ref^2 + N_sample^2 + N_ref N_sample dot products of length D, in cache-sized blocks on one core: seconds
 * at a thousand a side, minutes at ten thousand (bench/eval.ts).
 */
import type { FeatureMatrix } from './moments.ts';

export const DEFAULT_NEIGHBOURHOOD = 3;

export interface PrecisionRecall {
  precision: number;
  recall: number;
}

export interface PrecisionRecallOptions {
  /** Neighbourhood size k (default 3). */
  k?: number;
  /** Radii already computed with `manifoldRadii` (for example cached with the reference statistics). */
  refRadii?: Float64Array;
  sampleRadii?: Float64Array;
}

const BLOCK = 64; // rows per distance tile: 64 rows x D float64 stays in L2 for D up to 2048

/** Squared k-NN radius of every point of `features` within its own set (see the module note). */
export function manifoldRadii(features: FeatureMatrix, k = DEFAULT_NEIGHBOURHOOD): Float64Array {
  checkFeatures(features, 'features');
  if (!Number.isInteger(k) || k < 1) throw new Error(`manifold radii: k must be a positive integer, got ${k}`);
  if (features.rows <= k) throw new Error(`manifold radii: need more than k=${k} points, got ${features.rows}`);
  const n = features.rows;
  const norms = squaredNorms(features);
  const nearest = new Float64Array(n * (k + 1)).fill(Infinity); // per row, the k+1 smallest, ascending
  const tile = new Float64Array(BLOCK * BLOCK);
  for (let i0 = 0; i0 < n; i0 += BLOCK) {
    const i1 = Math.min(i0 + BLOCK, n);
    for (let j0 = 0; j0 < n; j0 += BLOCK) {
      const j1 = Math.min(j0 + BLOCK, n);
      distanceTile(features, norms, i0, i1, features, norms, j0, j1, tile);
      const width = j1 - j0;
      for (let i = i0; i < i1; i++) {
        for (let j = 0; j < width; j++) keepSmallest(nearest, i * (k + 1), k + 1, tile[(i - i0) * width + j]);
      }
    }
  }
  const radii = new Float64Array(n);
  for (let i = 0; i < n; i++) radii[i] = nearest[i * (k + 1) + k];
  return radii;
}

/** Precision and recall of `sample` against `ref` (pool features of the same network). */
export function precisionRecall(
  ref: FeatureMatrix,
  sample: FeatureMatrix,
  options: PrecisionRecallOptions = {},
): PrecisionRecall {
  checkFeatures(ref, 'reference');
  checkFeatures(sample, 'sample');
  if (ref.dim !== sample.dim) throw new Error(`precision/recall: dimensions differ (${ref.dim} vs ${sample.dim})`);
  const k = options.k ?? DEFAULT_NEIGHBOURHOOD;
  const refRadii = options.refRadii ?? manifoldRadii(ref, k);
  const sampleRadii = options.sampleRadii ?? manifoldRadii(sample, k);
  if (refRadii.length !== ref.rows || sampleRadii.length !== sample.rows) {
    throw new Error('precision/recall: radii do not match the feature rows');
  }
  const refNorms = squaredNorms(ref);
  const sampleNorms = squaredNorms(sample);
  const sampleCovered = new Uint8Array(sample.rows); // inside some reference ball: precision
  const refCovered = new Uint8Array(ref.rows); // inside some sample ball: recall
  const tile = new Float64Array(BLOCK * BLOCK);
  for (let i0 = 0; i0 < ref.rows; i0 += BLOCK) {
    const i1 = Math.min(i0 + BLOCK, ref.rows);
    for (let j0 = 0; j0 < sample.rows; j0 += BLOCK) {
      const j1 = Math.min(j0 + BLOCK, sample.rows);
      distanceTile(ref, refNorms, i0, i1, sample, sampleNorms, j0, j1, tile);
      const width = j1 - j0;
      for (let i = i0; i < i1; i++) {
        for (let j = j0; j < j1; j++) {
          const d = tile[(i - i0) * width + (j - j0)];
          if (d <= refRadii[i]) sampleCovered[j] = 1;
          if (d <= sampleRadii[j]) refCovered[i] = 1;
        }
      }
    }
  }
  return { precision: mean(sampleCovered), recall: mean(refCovered) };
}

function checkFeatures(f: FeatureMatrix, what: string): void {
  if (f.data.length !== f.rows * f.dim) throw new Error(`${what}: expected ${f.rows}x${f.dim} values`);
}

function mean(flags: Uint8Array): number {
  let s = 0;
  for (const f of flags) s += f;
  return s / flags.length;
}

function squaredNorms({ rows, dim, data }: FeatureMatrix): Float64Array {
  const out = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let c = 0; c < dim; c++) s += data[r * dim + c] * data[r * dim + c];
    out[r] = s;
  }
  return out;
}

/** Inserts x into the ascending list at [base, base + size) if it is smaller than the last entry. */
function keepSmallest(list: Float64Array, base: number, size: number, x: number): void {
  let i = base + size - 1;
  if (!(x < list[i])) return;
  while (i > base && list[i - 1] > x) {
    list[i] = list[i - 1];
    i--;
  }
  list[i] = x;
}

/** tile[(i - i0) * (j1 - j0) + (j - j0)] = max(|u_i|^2 - 2 u_i.v_j + |v_j|^2, 0). */
function distanceTile(
  u: FeatureMatrix,
  uNorms: Float64Array,
  i0: number,
  i1: number,
  v: FeatureMatrix,
  vNorms: Float64Array,
  j0: number,
  j1: number,
  tile: Float64Array,
): void {
  const width = j1 - j0;
  let i = i0;
  for (; i + 1 < i1; i += 2) {
    let j = j0;
    for (; j + 3 < j1; j += 4) dotBlock(u, i, v, j, tile, (i - i0) * width + (j - j0), width);
    for (; j < j1; j++) {
      tile[(i - i0) * width + (j - j0)] = dot(u, i, v, j);
      tile[(i + 1 - i0) * width + (j - j0)] = dot(u, i + 1, v, j);
    }
  }
  if (i < i1) for (let j = j0; j < j1; j++) tile[(i - i0) * width + (j - j0)] = dot(u, i, v, j);
  for (let r = i0; r < i1; r++) {
    const base = (r - i0) * width;
    // NOTE: the evaluator's order, (|u|^2 - 2 u.v) + |v|^2, clipped at 0
    for (let j = j0; j < j1; j++) tile[base + j - j0] = Math.max(uNorms[r] - 2 * tile[base + j - j0] + vNorms[j], 0);
  }
}

function dot(u: FeatureMatrix, i: number, v: FeatureMatrix, j: number): number {
  const dim = u.dim;
  const a = u.data;
  const b = v.data;
  let s = 0;
  for (let c = 0; c < dim; c++) s += a[i * dim + c] * b[j * dim + c];
  return s;
}

// NOTE: a 2 x 4 block of dot products (rows i, i+1 of u against rows j..j+3 of v): six loads feed eight
// multiply-adds, about twice the speed of one dot product at a time in V8.
function dotBlock(
  u: FeatureMatrix,
  i: number,
  v: FeatureMatrix,
  j: number,
  tile: Float64Array,
  at: number,
  width: number,
) {
  const dim = u.dim;
  const a = u.data;
  const b = v.data;
  const a0 = i * dim;
  const a1 = a0 + dim;
  const b0 = j * dim;
  const b1 = b0 + dim;
  const b2 = b1 + dim;
  const b3 = b2 + dim;
  let s00 = 0;
  let s01 = 0;
  let s02 = 0;
  let s03 = 0;
  let s10 = 0;
  let s11 = 0;
  let s12 = 0;
  let s13 = 0;
  for (let c = 0; c < dim; c++) {
    const x = a[a0 + c];
    const y = a[a1 + c];
    const p0 = b[b0 + c];
    const p1 = b[b1 + c];
    const p2 = b[b2 + c];
    const p3 = b[b3 + c];
    s00 += x * p0;
    s01 += x * p1;
    s02 += x * p2;
    s03 += x * p3;
    s10 += y * p0;
    s11 += y * p1;
    s12 += y * p2;
    s13 += y * p3;
  }
  tile[at] = s00;
  tile[at + 1] = s01;
  tile[at + 2] = s02;
  tile[at + 3] = s03;
  tile[at + width] = s10;
  tile[at + width + 1] = s11;
  tile[at + width + 2] = s12;
  tile[at + width + 3] = s13;
}
