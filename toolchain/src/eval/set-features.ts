/**
 * One image set through the feature network, in batches, keeping only what the metrics need: the logits (IS),
 * the pool features (precision/recall, and their moments for FID) and the moments of the spatial features (sFID),
 * which are accumulated batch by batch and never stored whole.
 */

import type { FeatureNetwork } from './feature-network.ts';
import { streamFeatures } from './features.ts';
import { type FeatureMatrix, type GaussianStats, MomentAccumulator } from './moments.ts';
import { DEFAULT_NEIGHBOURHOOD, manifoldRadii } from './precision-recall.ts';
import type { ReferenceStats } from './stats-file.ts';

/** uint8 NHWC images (1 or 3 channels). `SampleSet` from sampling/files.ts fits. */
export interface ImageSet {
  images: Uint8Array;
  n: number;
  h: number;
  w: number;
  c: number;
}

export interface SetFeatures {
  n: number;
  logits?: FeatureMatrix;
  poolFeatures?: FeatureMatrix;
  /** Moments need two images at least; undefined below that. */
  pool?: GaussianStats;
  spatial?: GaussianStats;
}

export interface FeatureRunOptions {
  batchSize?: number;
  onProgress?: (done: number, total: number) => void;
}

/** Rows of one role, collected batch by batch into one matrix. */
class RowCollector {
  private parts: Float32Array[] = [];
  private dim = 0;

  add(m: FeatureMatrix): void {
    this.dim = m.dim;
    this.parts.push(m.data instanceof Float32Array ? m.data : Float32Array.from(m.data));
  }

  finish(rows: number): FeatureMatrix | undefined {
    if (this.parts.length === 0) return undefined;
    const data = new Float32Array(rows * this.dim);
    let offset = 0;
    for (const p of this.parts) {
      data.set(p, offset);
      offset += p.length;
    }
    return { rows, dim: this.dim, data };
  }
}

export async function featuresOf(
  network: FeatureNetwork,
  set: ImageSet,
  options: FeatureRunOptions = {},
): Promise<SetFeatures> {
  const logits = new RowCollector();
  const pool = new RowCollector();
  const moments: { pool?: MomentAccumulator; spatial?: MomentAccumulator } = {};
  const images = set.images.subarray(0, set.n * set.h * set.w * set.c);
  await streamFeatures(
    network.session,
    images,
    set.n,
    set.h,
    set.w,
    { outputs: network.outputs, batchSize: options.batchSize, onProgress: options.onProgress },
    (batch) => {
      if (batch.logits) logits.add(batch.logits);
      if (batch.pool) pool.add(batch.pool);
      for (const role of ['pool', 'spatial'] as const) {
        const m = batch[role];
        if (!m) continue;
        moments[role] ??= new MomentAccumulator(m.dim);
        moments[role].add(m.data, m.rows);
      }
    },
  );
  const enough = set.n >= 2;
  return {
    n: set.n,
    logits: logits.finish(set.n),
    poolFeatures: pool.finish(set.n),
    pool: enough ? moments.pool?.finish() : undefined,
    spatial: enough ? moments.spatial?.finish() : undefined,
  };
}

/** A set's features as reference statistics: moments, pool features and their k-NN radii (for precision/recall). */
export function referenceStatsOf(features: SetFeatures, k = DEFAULT_NEIGHBOURHOOD): ReferenceStats {
  const stats: ReferenceStats = { pool: features.pool, spatial: features.spatial };
  if (features.poolFeatures) {
    stats.poolFeatures = features.poolFeatures;
    if (features.poolFeatures.rows > k) stats.radii = { k, values: manifoldRadii(features.poolFeatures, k) };
  }
  return stats;
}
