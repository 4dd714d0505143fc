/**
 * Which activation sites to plot: the ones whose range changes most across time steps. A per-tensor activation
 * quantizer fit over all steps is sized by the widest step, so at the narrowest step only about
 * 1/ratio of its levels are in use; that ratio is the case for time-aware calibration.
 */
import type { ActivationRange } from './types.ts';

export interface SiteVariation {
  range: ActivationRange;
  /** Widest (max - min) over narrowest across steps; Infinity when some step has a zero-width range. */
  widthRatio: number;
  overallMin: number;
  overallMax: number;
}

export function siteVariation(range: ActivationRange): SiteVariation {
  let widest = 0;
  let narrowest = Number.POSITIVE_INFINITY;
  let overallMin = Number.POSITIVE_INFINITY;
  let overallMax = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < range.steps.length; i++) {
    const lo = range.min[i];
    const hi = range.max[i];
    if (!Number.isFinite(lo) || !Number.isFinite(hi)) continue;
    const width = hi - lo;
    widest = Math.max(widest, width);
    narrowest = Math.min(narrowest, width);
    overallMin = Math.min(overallMin, lo);
    overallMax = Math.max(overallMax, hi);
  }
  let widthRatio = Number.NaN;
  if (narrowest !== Number.POSITIVE_INFINITY)
    widthRatio = narrowest > 0 ? widest / narrowest : widest > 0 ? Number.POSITIVE_INFINITY : 1;
  return { range, widthRatio, overallMin, overallMax };
}

/** The `count` most time-varying sites, most varying first; sites without finite data sort last. */
export function mostTimeVarying(ranges: readonly ActivationRange[], count: number): SiteVariation[] {
  const scored = ranges.map(siteVariation);
  const key = (s: SiteVariation): number => (Number.isNaN(s.widthRatio) ? -1 : s.widthRatio);
  scored.sort((a, b) => (key(a) === key(b) ? 0 : key(a) < key(b) ? 1 : -1));
  return scored.slice(0, count);
}
