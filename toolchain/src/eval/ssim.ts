/**
 * Structural similarity (Wang et al. 2004) of uint8 images, the common Gaussian-window form:
 * - window 11 x 11, sigma 1.5, weights normalised to sum 1 (separable: the 1-D kernel applied along rows, then
 *   columns); data range 255, C1 = (0.01 * 255)^2, C2 = (0.03 * 255)^2;
 * - window-weighted local means, variances and covariance in population form (E[x^2] - mu^2);
 * - the SSIM map averaged over the positions where the window lies inside the image, then over channels.
 * This equals scikit-image's `structural_similarity(gaussian_weights=True, sigma=1.5,
 * use_sample_covariance=False, data_range=255)` (it filters with reflection and crops the 5-pixel border).
 */

const RADIUS = 5;
const SIGMA = 1.5;
const RANGE = 255;
const C1 = (0.01 * RANGE) ** 2;
const C2 = (0.03 * RANGE) ** 2;

/** The normalised 1-D Gaussian of the window (11 taps). */
export function ssimKernel(): Float64Array {
  const k = new Float64Array(2 * RADIUS + 1);
  let sum = 0;
  for (let i = -RADIUS; i <= RADIUS; i++) {
    k[i + RADIUS] = Math.exp(-(i * i) / (2 * SIGMA * SIGMA));
    sum += k[i + RADIUS];
  }
  for (let i = 0; i < k.length; i++) k[i] /= sum;
  return k;
}

/**
 * Weighted sums over every valid window of one channel: `plane` is [h, w] float64, the result [h-10, w-10].
 * Rows first, then columns.
 */
function filterValid(plane: Float64Array, h: number, w: number, k: Float64Array): Float64Array {
  const span = k.length;
  const ow = w - span + 1;
  const oh = h - span + 1;
  const rows = new Float64Array(h * ow);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < ow; x++) {
      let s = 0;
      for (let t = 0; t < span; t++) s += k[t] * plane[y * w + x + t];
      rows[y * ow + x] = s;
    }
  }
  const out = new Float64Array(oh * ow);
  for (let y = 0; y < oh; y++) {
    for (let x = 0; x < ow; x++) {
      let s = 0;
      for (let t = 0; t < span; t++) s += k[t] * rows[(y + t) * ow + x];
      out[y * ow + x] = s;
    }
  }
  return out;
}

/** SSIM of one channel of two images (NHWC uint8 at `offset` with `c` channels). */
function channelSsim(a: Uint8Array, b: Uint8Array, offset: number, h: number, w: number, c: number, ch: number) {
  const k = ssimKernel();
  const plane = h * w;
  const x = new Float64Array(plane);
  const y = new Float64Array(plane);
  for (let p = 0; p < plane; p++) {
    x[p] = a[offset + p * c + ch];
    y[p] = b[offset + p * c + ch];
  }
  const xx = x.map((v) => v * v);
  const yy = y.map((v) => v * v);
  const xy = x.map((v, i) => v * y[i]);
  const [mx, my, mxx, myy, mxy] = [x, y, xx, yy, xy].map((p) => filterValid(p, h, w, k));
  let sum = 0;
  for (let i = 0; i < mx.length; i++) {
    // NOTE: E[x^2] - mu^2 in float64: values up to 65025 leave ~1e-11 of cancellation, far below C2 = 58.5.
    const vx = mxx[i] - mx[i] * mx[i];
    const vy = myy[i] - my[i] * my[i];
    const cov = mxy[i] - mx[i] * my[i];
    const num = (2 * mx[i] * my[i] + C1) * (2 * cov + C2);
    const den = (mx[i] * mx[i] + my[i] * my[i] + C1) * (vx + vy + C2);
    sum += num / den;
  }
  return sum / mx.length;
}

/** SSIM of every image pair of two NHWC uint8 sets of the same shape (images at least 11 x 11). */
export function ssimPerImage(a: Uint8Array, b: Uint8Array, n: number, h: number, w: number, c: number): number[] {
  const size = h * w * c;
  if (a.length !== n * size || b.length !== n * size) throw new Error(`ssim: expected two sets of ${n}x${h}x${w}x${c}`);
  if (h < 2 * RADIUS + 1 || w < 2 * RADIUS + 1) throw new Error(`ssim: images of ${h}x${w} are smaller than 11x11`);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let ch = 0; ch < c; ch++) s += channelSsim(a, b, i * size, h, w, c, ch);
    out.push(s / c);
  }
  return out;
}
