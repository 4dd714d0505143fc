/** Summaries of the per-sample and per-layer numbers shown in cards, captions and table footers. */
import type { BuildReport } from './types.ts';

/** Mean, min and max of the finite values; undefined when there are none. */
export function summarize(values: readonly number[]): { mean: number; min: number; max: number } | undefined {
  let sum = 0;
  let n = 0;
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  for (const v of values) {
    if (!Number.isFinite(v)) continue;
    sum += v;
    n++;
    min = Math.min(min, v);
    max = Math.max(max, v);
  }
  return n === 0 ? undefined : { mean: sum / n, min, max };
}

/** Mean same-seed PSNR of a variant's samples against fp32. */
export function meanPsnr(report: BuildReport, variant: string): number | undefined {
  const grid = report.samples.find((s) => s.variant === variant && s.psnrDb && s.psnrDb.length > 0);
  return grid ? summarize(grid.psnrDb!)?.mean : undefined;
}

/** Byte size of the fp32 variant, the yardstick for compression ratios. */
export function fp32Bytes(report: BuildReport): number | undefined {
  const fp32 = report.variants.find((v) => v.precision === 'fp32') ?? report.variants.find((v) => v.name === 'fp32');
  return fp32?.bytes;
}
