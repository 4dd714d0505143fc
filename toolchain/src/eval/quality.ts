/**
 * The quality metrics of one sample set against a reference: IS (from the samples alone), FID, sFID, precision
 * and recall. A metric that cannot be computed is null, with the reason under `reasons` (no reference, a role the
 * network does not produce, reference statistics without features, too few images), never a guess.
 */
import { EvaluationError } from './errors.ts';
import { frechetDistance } from './fid.ts';
import { inceptionScore } from './inception-score.ts';
import type { GaussianStats } from './moments.ts';
import { DEFAULT_NEIGHBOURHOOD, type PrecisionRecall, precisionRecall } from './precision-recall.ts';
import type { SetFeatures } from './set-features.ts';
import type { ReferenceStats } from './stats-file.ts';

export type MetricName = 'is' | 'fid' | 'sfid' | 'precision' | 'recall';

export interface QualityMetrics {
  is: number | null;
  /** Standard deviation over the IS splits (0 for one split). */
  is_std: number | null;
  is_splits: number;
  fid: number | null;
  sfid: number | null;
  precision: number | null;
  recall: number | null;
  /** Why each null metric is null. */
  reasons: Partial<Record<MetricName, string>>;
}

export interface QualityOptions {
  isSplits?: number;
  /** Neighbourhood size of precision/recall (default 3). */
  k?: number;
  /** The reason given when there is no reference (default: "no reference (--ref or --ref-stats)"). */
  noReference?: string;
}

const FEW_IMAGES = 'needs 2 images or more';

export function scoreAgainst(
  sample: SetFeatures,
  ref: ReferenceStats | undefined,
  options: QualityOptions = {},
): QualityMetrics {
  const splits = options.isSplits ?? 1;
  const k = options.k ?? DEFAULT_NEIGHBOURHOOD;
  const reasons: QualityMetrics['reasons'] = {};
  const out: QualityMetrics = {
    is: null,
    is_std: null,
    is_splits: splits,
    fid: null,
    sfid: null,
    precision: null,
    recall: null,
    reasons,
  };
  if (!sample.logits) reasons.is = 'no logits output selected (see --features-outputs)';
  else if (splits > sample.n) reasons.is = `--is-splits ${splits} is more than the ${sample.n} images`;
  else {
    const score = inceptionScore(sample.logits, splits);
    out.is = score.mean;
    out.is_std = score.std;
  }
  if (!ref) {
    const why = options.noReference ?? 'no reference (--ref or --ref-stats)';
    for (const key of ['fid', 'sfid', 'precision', 'recall'] as const) reasons[key] = why;
    return out;
  }
  const missing = (output: string) =>
    sample.n < 2 ? FEW_IMAGES : `no ${output} output selected (see --features-outputs)`;
  const fid = frechetOrReason(sample.pool, ref.pool, 'pool', missing('pooled features'));
  const sfid = frechetOrReason(sample.spatial, ref.spatial, 'spatial', missing('spatial'));
  if (typeof fid === 'number') out.fid = fid;
  else reasons.fid = fid;
  if (typeof sfid === 'number') out.sfid = sfid;
  else reasons.sfid = sfid;
  const pr = precisionRecallOrReason(sample, ref, k);
  if (typeof pr === 'string') {
    reasons.precision = pr;
    reasons.recall = pr;
  } else {
    out.precision = pr.precision;
    out.recall = pr.recall;
  }
  return out;
}

function frechetOrReason(
  sample: GaussianStats | undefined,
  ref: GaussianStats | undefined,
  role: string,
  missing: string,
): number | string {
  if (!sample) return missing;
  if (!ref) return `the reference statistics hold no ${role} moments`;
  if (sample.dim !== ref.dim) {
    throw new EvaluationError(
      `${role} features are ${sample.dim}-d but the reference statistics are ${ref.dim}-d: they come from another ` +
        'feature network or output',
    );
  }
  return frechetDistance(sample, ref);
}

function precisionRecallOrReason(sample: SetFeatures, ref: ReferenceStats, k: number): PrecisionRecall | string {
  if (!sample.poolFeatures) return 'no pooled features output selected (see --features-outputs)';
  if (!ref.poolFeatures) {
    return (
      'precision/recall need the reference features, not only their moments, and these reference statistics ' +
      'hold none: pass --ref images, or statistics saved by --save-ref-stats'
    );
  }
  if (ref.poolFeatures.dim !== sample.poolFeatures.dim) {
    throw new EvaluationError(
      `pool features are ${sample.poolFeatures.dim}-d but the reference features are ${ref.poolFeatures.dim}-d`,
    );
  }
  if (sample.n <= k || ref.poolFeatures.rows <= k) {
    return `precision/recall need more than k=${k} images in each set (samples ${sample.n}, reference ${ref.poolFeatures.rows})`;
  }
  const refRadii = ref.radii?.k === k ? ref.radii.values : undefined;
  return precisionRecall(ref.poolFeatures, sample.poolFeatures, { k, refRadii });
}
