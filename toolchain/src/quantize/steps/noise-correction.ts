/**
 * PTQD's noise-correction fit (arXiv 2305.10657): on the calibration pairs, per model time t, the quantized
 * model's epsilon error e = eps_q - eps is split by least squares into a part correlated with eps and a residual,
 * e = k_t eps + r, with r's per-channel mean b_t and variance v_t. The samplers in @qdm/shared apply the result
 * (shared/src/noise-correction.ts); this file only fits it.
 */
import type { Denoiser, NoiseCorrection } from '@qdm/shared';
import type { CalibrationSet } from '../../calibrate/trajectory.ts';

export interface FitOptions {
  /** The respacing the calibration pairs came from (recorded, e.g. "ddim50"). */
  steps: string;
  /** Output channels of the model (2C with learn_sigma); epsilon is the first set.shape[0]. */
  outChannels: number;
  /** Pairs per model call (default 16). */
  batch?: number;
  signal?: AbortSignal;
}

/** Running sums of one step's least-squares fit, per channel. */
class StepFit {
  readonly n: number[];
  readonly sx: number[];
  readonly se: number[];
  readonly sxx: number[];
  readonly sxe: number[];
  readonly see: number[];
  constructor(channels: number) {
    const zeros = () => new Array<number>(channels).fill(0);
    this.n = zeros();
    this.sx = zeros();
    this.se = zeros();
    this.sxx = zeros();
    this.sxe = zeros();
    this.see = zeros();
  }

  add(c: number, eps: Float32Array, epsQ: Float32Array): void {
    let sx = 0;
    let se = 0;
    let sxx = 0;
    let sxe = 0;
    let see = 0;
    for (let i = 0; i < eps.length; i++) {
      const x = eps[i];
      const e = epsQ[i] - x;
      sx += x;
      se += e;
      sxx += x * x;
      sxe += x * e;
      see += e * e;
    }
    this.n[c] += eps.length;
    this.sx[c] += sx;
    this.se[c] += se;
    this.sxx[c] += sxx;
    this.sxe[c] += sxe;
    this.see[c] += see;
  }

  /**
   * One k shared by the channels, one bias per channel: the least-squares solution of e = k x + b_c, from the
   * channel-centred sums (b_c = mean_c(e) - k mean_c(x)).
   */
  solve(): { k: number; bias: number[]; residualVariance: number } {
    let cxx = 0;
    let cxe = 0;
    let cee = 0;
    let n = 0;
    for (let c = 0; c < this.n.length; c++) {
      if (this.n[c] === 0) continue;
      cxx += this.sxx[c] - (this.sx[c] * this.sx[c]) / this.n[c];
      cxe += this.sxe[c] - (this.sx[c] * this.se[c]) / this.n[c];
      cee += this.see[c] - (this.se[c] * this.se[c]) / this.n[c];
      n += this.n[c];
    }
    const k = cxx > 0 ? cxe / cxx : 0;
    const bias = this.n.map((m, c) => (m > 0 ? (this.se[c] - k * this.sx[c]) / m : 0));
    // NOTE: residual sum of squares of the centred fit, cee - k cxe; clamp the float64 rounding at zero.
    const residualVariance = n > 0 ? Math.max(0, cee - k * cxe) / n : 0;
    return { k, bias, residualVariance };
  }
}

/**
 * Runs both denoisers on every calibration pair and fits the coefficients at each distinct t of the set (the
 * steps with pairs; the samplers interpolate between them).
 */
export async function fitNoiseCorrection(
  reference: Denoiser,
  quantized: Denoiser,
  set: CalibrationSet,
  options: FitOptions,
): Promise<NoiseCorrection> {
  const [channels, h, w] = set.shape;
  const pixels = h * w;
  const size = channels * pixels;
  const batchSize = options.batch ?? 16;
  const fits = new Map<number, StepFit>();
  const order = Array.from({ length: set.count }, (_, i) => i).sort((a, b) => set.t[a] - set.t[b]);
  for (let start = 0; start < order.length; start += batchSize) {
    options.signal?.throwIfAborted();
    const pick = order.slice(start, start + batchSize);
    const x = new Float32Array(pick.length * size);
    const t = new Float32Array(pick.length);
    pick.forEach((i, b) => {
      x.set(set.x.subarray(i * size, (i + 1) * size), b * size);
      t[b] = set.t[i];
    });
    const ref = await reference(x, t, pick.length);
    const got = await quantized(x, t, pick.length);
    pick.forEach((_, b) => {
      let fit = fits.get(t[b]);
      if (!fit) {
        fit = new StepFit(channels);
        fits.set(t[b], fit);
      }
      for (let c = 0; c < channels; c++) {
        const at = (b * options.outChannels + c) * pixels;
        fit.add(c, ref.subarray(at, at + pixels), got.subarray(at, at + pixels));
      }
    });
  }
  const ts = [...fits.keys()].sort((a, b) => a - b);
  if (ts.length === 0) throw new Error('noise correction: the calibration set holds no pairs');
  const solved = ts.map((t) => fits.get(t)!.solve());
  return {
    method: 'ptqd',
    steps: options.steps,
    t: ts,
    k: solved.map((s) => s.k),
    bias: solved.map((s) => s.bias),
    residualVariance: solved.map((s) => s.residualVariance),
  };
}
