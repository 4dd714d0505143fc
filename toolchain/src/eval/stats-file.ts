/**
 * Cached reference statistics as `.npz`. The keys `mu`, `sigma` (pool features) and `mu_s`, `sigma_s` (spatial
 * features) are the ones the ADM evaluator reads from its reference batches, so its published reference files load
 * here too (their statistics are TF-Inception ones: compare only with samples scored by that same network).
 * Precision and recall need the reference features themselves, not just moments: a file saved with
 * `poolFeatures` (key `pool_features`, float32 [N, D]) and optionally their k-NN radii (`radii`, `radii_k`) can
 * stand in for the reference images; a file without them cannot, and `--ref` images are needed.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { decodeNpz, encodeNpz, type Tensor } from '@qdm/shared';
import type { FeatureMatrix, GaussianStats } from './moments.ts';

export interface ReferenceStats {
  pool?: GaussianStats;
  spatial?: GaussianStats;
  /** Pool features of every reference image, for precision/recall. */
  poolFeatures?: FeatureMatrix;
  /** Squared k-NN radii of `poolFeatures` (see precision-recall.ts). */
  radii?: { k: number; values: Float64Array };
}

const KEYS = {
  pool: { mean: 'mu', cov: 'sigma', count: 'count' },
  spatial: { mean: 'mu_s', cov: 'sigma_s', count: 'count_s' },
} as const;

/** The arrays of the stats file, by key. */
export function encodeStats(stats: ReferenceStats): Record<string, Tensor> {
  const out: Record<string, Tensor> = {};
  for (const role of ['pool', 'spatial'] as const) {
    const s = stats[role];
    if (!s) continue;
    const keys = KEYS[role];
    out[keys.mean] = { dtype: 'float64', shape: [s.dim], data: s.mean };
    out[keys.cov] = { dtype: 'float64', shape: [s.dim, s.dim], data: s.cov };
    out[keys.count] = { dtype: 'int64', shape: [], data: BigInt64Array.of(BigInt(s.count)) };
  }
  const f = stats.poolFeatures;
  if (f) out.pool_features = { dtype: 'float32', shape: [f.rows, f.dim], data: Float32Array.from(f.data) };
  if (stats.radii) {
    if (!f || stats.radii.values.length !== f.rows)
      throw new Error('stats: radii need the pool features they belong to');
    out.radii = { dtype: 'float64', shape: [f.rows], data: stats.radii.values };
    out.radii_k = { dtype: 'int64', shape: [], data: BigInt64Array.of(BigInt(stats.radii.k)) };
  }
  return out;
}

export function decodeStats(arrays: Record<string, Tensor>): ReferenceStats {
  const stats: ReferenceStats = {};
  for (const role of ['pool', 'spatial'] as const) {
    const keys = KEYS[role];
    const mean = arrays[keys.mean];
    const cov = arrays[keys.cov];
    if (!mean && !cov) continue;
    if (!mean || !cov) throw new Error(`stats: "${keys.mean}" and "${keys.cov}" must come together`);
    const dim = mean.shape[0];
    if (mean.shape.length !== 1 || cov.shape.length !== 2 || cov.shape[0] !== dim || cov.shape[1] !== dim) {
      throw new Error(`stats: "${keys.mean}" [${mean.shape}] and "${keys.cov}" [${cov.shape}] do not fit together`);
    }
    const count = arrays[keys.count] ? scalar(arrays[keys.count]) : 0; // ADM files carry no count
    stats[role] = { dim, count, mean: toFloat64(mean), cov: toFloat64(cov) };
  }
  const f = arrays.pool_features;
  if (f) {
    if (f.shape.length !== 2) throw new Error(`stats: pool_features must be [N, D], got [${f.shape}]`);
    stats.poolFeatures = { rows: f.shape[0], dim: f.shape[1], data: toFloat32(f) };
  }
  if (arrays.radii) {
    if (!stats.poolFeatures || arrays.radii.data.length !== stats.poolFeatures.rows || !arrays.radii_k) {
      throw new Error('stats: radii need pool_features of the same length and radii_k');
    }
    stats.radii = { k: scalar(arrays.radii_k), values: toFloat64(arrays.radii) };
  }
  return stats;
}

export async function saveStats(path: string, stats: ReferenceStats): Promise<void> {
  await writeFile(path, encodeNpz(encodeStats(stats)));
}

export async function loadStats(path: string): Promise<ReferenceStats> {
  return decodeStats(decodeNpz(new Uint8Array(await readFile(path))));
}

function scalar(t: Tensor): number {
  if (t.data.length !== 1) throw new Error(`stats: expected a scalar, got shape [${t.shape}]`);
  return Number(t.data[0]);
}

function toFloat64(t: Tensor): Float64Array {
  if (t.dtype === 'float64') return Float64Array.from(t.data as Float64Array);
  if (t.dtype === 'float32') return Float64Array.from(t.data as Float32Array);
  throw new Error(`stats: expected float32 or float64, got ${t.dtype}`);
}

function toFloat32(t: Tensor): Float32Array {
  if (t.dtype === 'float32') return Float32Array.from(t.data as Float32Array);
  if (t.dtype === 'float64') return Float32Array.from(t.data as Float64Array);
  throw new Error(`stats: expected float32 or float64 features, got ${t.dtype}`);
}
