/**
 * Same-seed pixel comparisons of uint8 image sets (NHWC): mean squared error and PSNR = 10 log10(255^2 / MSE),
 * per image and pooled over every value of the set. Identical images have MSE 0 and infinite PSNR; JSON output
 * shows that as `null` beside `mse: 0`.
 */

export interface PixelDiff {
  /** MSE over every value of the set, in uint8 levels squared. */
  mse: number;
  /** PSNR of the pooled MSE (Infinity when identical). */
  psnr: number;
  /** Per-image PSNR (Infinity for an identical image). */
  psnrPerImage: number[];
  /** Largest |a - b| of any value, in uint8 levels. */
  maxAbs: number;
}

export function psnrFromMse(mse: number): number {
  return mse === 0 ? Number.POSITIVE_INFINITY : 10 * Math.log10((255 * 255) / mse);
}

export function pixelDiff(a: Uint8Array, b: Uint8Array, n: number): PixelDiff {
  if (a.length !== b.length) throw new Error(`pixel diff: sets of ${a.length} and ${b.length} values`);
  if (n < 1 || a.length % n !== 0) throw new Error(`pixel diff: ${a.length} values do not split into ${n} images`);
  const size = a.length / n;
  const psnrPerImage: number[] = [];
  let total = 0;
  let maxAbs = 0;
  for (let i = 0; i < n; i++) {
    let sum = 0;
    for (let j = i * size; j < (i + 1) * size; j++) {
      const d = a[j] - b[j];
      sum += d * d;
      if (Math.abs(d) > maxAbs) maxAbs = Math.abs(d);
    }
    total += sum;
    psnrPerImage.push(psnrFromMse(sum / size));
  }
  const mse = total / a.length;
  return { mse, psnr: psnrFromMse(mse), psnrPerImage, maxAbs };
}

/** A number for JSON: non-finite values (an infinite PSNR) become null. */
export function finiteOrNull(x: number | null | undefined): number | null {
  return typeof x === 'number' && Number.isFinite(x) ? x : null;
}
