/**
 * Same-seed pixel agreement: the PSNR and its convention (an identical image is PSNR_CAP_DB, a set's PSNR is the
 * mean of its images') live in @qdm/shared (shared/src/pixel-metrics.ts), so the build, `table`, `compare`, the
 * benches and the browser page compute one number; SSIM is ./ssim.ts.
 */
export { meanPsnr, type PixelDiff, PSNR_CAP_DB, pixelDiff, psnrFromMse } from '@qdm/shared';

/** A number for JSON: non-finite values become null. */
export function finiteOrNull(x: number | null | undefined): number | null {
  return typeof x === 'number' && Number.isFinite(x) ? x : null;
}
