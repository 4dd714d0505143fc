/**
 * Same-seed pixel agreement of two uint8 image sets (NHWC, image i of one against image i of the other): the one
 * PSNR every part of qdm reports (build manifest and report, `toolchain table` and `compare`, the benches, the
 * browser page). SSIM, which needs more code than the browser wants, is toolchain/src/eval/ssim.ts.
 *
 * The convention:
 * - PSNR of an image = 10 log10(255^2 / MSE) over its uint8 values, capped at PSNR_CAP_DB; an identical image
 *   (MSE 0) is exactly PSNR_CAP_DB.
 * - The PSNR of a set (`psnrMean`, what "same-seed PSNR" means in the manifest, tables and README) is the mean of
 *   its images' PSNR; `psnrMin` the worst image, `psnrPooled` the PSNR of the MSE over every value of the set.
 *   `identical` counts the images with MSE 0, so no reader has to infer it from the value.
 *
 * Why a cap and not Infinity: a set's mean stays a number when a few images match exactly (common between two
 * runtimes of the same graph), JSON needs no null that could also mean "not measured", and every consumer agrees
 * on the same number. Why this cap: an image of N values that differs from its twin by one level in one value has
 * PSNR 10 log10(255^2 N), below 100 dB for every N up to 10^10 / 255^2 (226 x 226 x 3 images), so for the models
 * qdm serves the cap is reached only by identical images and keeps the order of every other pair. It is also the
 * value the earlier manifests and benches gave identical images, so their numbers keep their meaning.
 */

/** The PSNR of an identical image pair, and the largest PSNR reported. */
export const PSNR_CAP_DB = 100;

/** PSNR (dB) of uint8 values with mean squared error `mse` (in levels squared), capped at PSNR_CAP_DB. */
export function psnrFromMse(mse: number): number {
  if (!(mse >= 0)) throw new Error(`psnr: mean squared error must be >= 0, got ${mse}`);
  return mse === 0 ? PSNR_CAP_DB : Math.min(PSNR_CAP_DB, 10 * Math.log10((255 * 255) / mse));
}

export interface PixelDiff {
  /** Images compared. */
  n: number;
  /** MSE over every value of the set, in uint8 levels squared. */
  mse: number;
  /** Mean over the images of each image's PSNR: the set's same-seed PSNR. */
  psnrMean: number;
  /** The worst (lowest) image PSNR. */
  psnrMin: number;
  /** PSNR of the pooled MSE. */
  psnrPooled: number;
  psnrPerImage: number[];
  /** Images identical to their twin (MSE 0, PSNR_CAP_DB). */
  identical: number;
  /** Largest |a - b| of any value, in uint8 levels. */
  maxAbs: number;
}

/** Compares two uint8 sets of `n` images of the same size, image by image. */
export function pixelDiff(a: Uint8Array, b: Uint8Array, n: number): PixelDiff {
  if (a.length !== b.length) throw new Error(`pixel diff: sets of ${a.length} and ${b.length} values`);
  if (!(n >= 1) || a.length % n !== 0) throw new Error(`pixel diff: ${a.length} values do not split into ${n} images`);
  const size = a.length / n;
  const psnrPerImage: number[] = [];
  let total = 0;
  let maxAbs = 0;
  let identical = 0;
  for (let i = 0; i < n; i++) {
    let sum = 0;
    for (let j = i * size; j < (i + 1) * size; j++) {
      const d = a[j] - b[j];
      sum += d * d;
      if (Math.abs(d) > maxAbs) maxAbs = Math.abs(d);
    }
    total += sum;
    if (sum === 0) identical++;
    psnrPerImage.push(psnrFromMse(sum / size));
  }
  const mse = total / a.length;
  return {
    n,
    mse,
    psnrMean: psnrPerImage.reduce((s, p) => s + p, 0) / n,
    psnrMin: Math.min(...psnrPerImage),
    psnrPooled: psnrFromMse(mse),
    psnrPerImage,
    identical,
    maxAbs,
  };
}

/** The same-seed PSNR of a set from its images' PSNR (the mean; null for no image). */
export function meanPsnr(psnrPerImage: readonly number[]): number | null {
  return psnrPerImage.length ? psnrPerImage.reduce((s, p) => s + p, 0) / psnrPerImage.length : null;
}
