/**
 * PTQD's quantization-noise correction (arXiv 2305.10657), applied by the samplers: the quantized model's epsilon
 * was fit at build time as eps_q = (1 + k_t) eps + r, r with per-channel mean b_t and variance v_t. The sampler
 * inverts the correlated part, eps = (eps_q - b_t) / (1 + k_t), and with stochastic DDIM (eta > 0) takes the
 * residual's variance, which already acts as noise in x_{t-1}, out of the noise it adds (PTQD's variance-schedule
 * calibration).
 *
 * Coefficients are keyed by the model time t (the value the U-Net's t input sees), not by a respaced index, so one
 * fit serves every respacing: a step whose t was fitted uses its own coefficients; any other t is interpolated
 * linearly between the two fitted neighbours (clamped to the first/last fitted t outside their range).
 */

/** Per-variant coefficients as stored in the manifest (`variants.<name>.noiseCorrection`). */
export interface NoiseCorrection {
  method: 'ptqd';
  /** The respacing the coefficients were fit on (e.g. "ddim50"); informative: lookup is by `t`. */
  steps: string;
  /** Model times t of the fitted steps, strictly increasing. */
  t: number[];
  /** k_t per fitted step: eps_q = (1 + k_t) eps + r. */
  k: number[];
  /** Mean of r per fitted step and output channel: [steps][channels]. */
  bias: number[][];
  /** Variance of r - bias per fitted step (one value over all channels and pixels). */
  residualVariance: number[];
}

/** The coefficients at one model time. */
export interface CorrectionAt {
  k: number;
  bias: number[];
  residualVariance: number;
}

/** Coefficients at model time t: exact at a fitted t, linear between fitted neighbours, clamped outside. */
export function correctionAt(correction: NoiseCorrection, t: number): CorrectionAt {
  const ts = correction.t;
  const at = (i: number): CorrectionAt => ({
    k: correction.k[i],
    bias: correction.bias[i],
    residualVariance: correction.residualVariance[i],
  });
  if (t <= ts[0]) return at(0);
  if (t >= ts[ts.length - 1]) return at(ts.length - 1);
  let hi = 1;
  while (ts[hi] < t) hi++;
  const lo = hi - 1;
  const w = (t - ts[lo]) / (ts[hi] - ts[lo]);
  const mix = (a: number, b: number) => a + w * (b - a);
  return {
    k: mix(correction.k[lo], correction.k[hi]),
    bias: correction.bias[lo].map((b, c) => mix(b, correction.bias[hi][c])),
    residualVariance: mix(correction.residualVariance[lo], correction.residualVariance[hi]),
  };
}

/**
 * The model output with its epsilon channels corrected (a new array; the variance channels of learn_sigma models
 * are copied unchanged). Layout [batch, outChannels, pixels], epsilon in the first `channels`.
 */
export function correctEpsilon(
  output: Float32Array,
  at: CorrectionAt,
  batch: number,
  channels: number,
  outChannels: number,
): Float32Array {
  const pixels = output.length / (batch * outChannels);
  const out = output.slice();
  const gain = 1 / (1 + at.k);
  for (let b = 0; b < batch; b++) {
    for (let c = 0; c < channels; c++) {
      const row = (b * outChannels + c) * pixels;
      const bias = at.bias[c] ?? 0;
      for (let p = 0; p < pixels; p++) out[row + p] = (output[row + p] - bias) * gain;
    }
  }
  return out;
}

/** The corrected epsilon's remaining noise variance: the residual's, scaled by the 1 / (1 + k) gain. */
export function correctedNoiseVariance(at: CorrectionAt): number {
  return at.residualVariance / (1 + at.k) ** 2;
}

/** Checks the shape of stored coefficients; returns a message naming the first problem, or null. */
export function noiseCorrectionProblem(value: unknown, channels: number): string | null {
  if (typeof value !== 'object' || value === null) return 'must be an object';
  const c = value as Partial<NoiseCorrection>;
  if (c.method !== 'ptqd') return `method must be "ptqd", got ${JSON.stringify(c.method)}`;
  if (typeof c.steps !== 'string') return 'steps must be a string';
  const n = Array.isArray(c.t) ? c.t.length : 0;
  if (n < 1) return 't must be a non-empty array';
  const finite = (a: unknown): a is number[] =>
    Array.isArray(a) && a.length === n && a.every((v) => typeof v === 'number' && Number.isFinite(v));
  if (!finite(c.t)) return 't must hold finite numbers';
  if (c.t.some((v, i) => i > 0 && v <= (c.t as number[])[i - 1])) return 't must be strictly increasing';
  if (!finite(c.k) || c.k.some((k) => k <= -1)) return `k must hold ${n} finite numbers > -1`;
  if (!finite(c.residualVariance) || c.residualVariance.some((v) => v < 0)) {
    return `residualVariance must hold ${n} finite numbers >= 0`;
  }
  const rowOk = (row: unknown) =>
    Array.isArray(row) && row.length === channels && row.every((v) => typeof v === 'number' && Number.isFinite(v));
  if (!Array.isArray(c.bias) || c.bias.length !== n || !c.bias.every(rowOk)) {
    return `bias must be ${n} rows of ${channels} finite numbers`;
  }
  return null;
}
