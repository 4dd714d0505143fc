/**
 * Calibration pairs from the fp32 model's own trajectory of the serving sampler (DDIM by default, or DPM-Solver++(2M)):
 * for every chosen respaced step we record exactly the x_t the model was fed and exactly the t value it saw
 * (rescaled), never a label reconstructed afterwards.
 */
import {
  batchNoise,
  type Denoiser,
  ddimSample,
  INIT_NOISE_STREAM,
  type SamplerName,
  type SpacedDiffusion,
  sampleBy,
} from '@qdm/shared';
import { assignToTrajectories, CalibrationError, sampleTimesteps, type TimestepPolicy } from './timesteps.ts';

export type CalibrationNoise = 'gaussian' | 'di2n' | 'data';

export interface CalibrationSet {
  /** [count, C, H, W] model inputs, exactly as fed. */
  x: Float32Array;
  /** [count] the t input the model saw. */
  t: Float32Array;
  /** [count] respaced step index of each pair (T'-1 = noisiest). */
  stepIndex: Int32Array;
  count: number;
  shape: [number, number, number];
}

/** The deterministic samplers a calibration trajectory can follow. */
export type CalibrationSampler = Extract<SamplerName, 'ddim' | 'dpm++2m'>;

export interface TrajectoryOptions {
  diffusion: SpacedDiffusion;
  /** The sampler whose fp32 trajectory the pairs come from (default ddim); one model call per respaced step. */
  sampler?: CalibrationSampler;
  shape: [number, number, number];
  policy: TimestepPolicy;
  samples: number;
  trajectories: number;
  batch: number;
  seed: number;
  noise: CalibrationNoise;
  /** For noise 'data': clean images [n, C, H, W] in [-1, 1], forward-noised with q_sample. */
  data?: { x: Float32Array; count: number };
  onProgress?: (done: number, total: number) => void;
  signal?: AbortSignal;
}

function emptySet(count: number, shape: [number, number, number]): CalibrationSet {
  const size = shape[0] * shape[1] * shape[2];
  return {
    x: new Float32Array(count * size),
    t: new Float32Array(count),
    stepIndex: new Int32Array(count),
    count,
    shape,
  };
}

/** Collects calibration pairs; returns them ordered by trajectory, then step. */
export async function collectCalibration(denoiser: Denoiser, options: TrajectoryOptions): Promise<CalibrationSet> {
  const { diffusion, shape, samples } = options;
  const steps = sampleTimesteps(options.policy, diffusion.numSteps, samples, options.seed);
  if (options.noise === 'data') return forwardNoisedPairs(steps, options);
  const perTrajectory = assignToTrajectories(steps, options.trajectories, options.seed);
  const size = shape[0] * shape[1] * shape[2];
  const set = emptySet(samples, shape);
  let filled = 0;
  const totalCalls = options.trajectories * diffusion.numSteps;
  let calls = 0;
  for (let first = 0; first < options.trajectories; first += options.batch) {
    const batch = Math.min(options.batch, options.trajectories - first);
    const start = options.noise === 'di2n' ? await di2nStart(denoiser, options, first, batch) : undefined;
    let call = 0;
    const recording: Denoiser = async (x, t, n) => {
      // The sampler calls the model once per step, noisiest first: the k-th call sees respaced index T'-1-k.
      const index = diffusion.numSteps - 1 - call++;
      for (let b = 0; b < n; b++) {
        if (!perTrajectory[first + b].has(index)) continue;
        set.x.set(x.subarray(b * size, (b + 1) * size), filled * size);
        set.t[filled] = t[b];
        set.stepIndex[filled] = index;
        filled++;
      }
      calls += n;
      options.onProgress?.(calls, totalCalls);
      return denoiser(x, t, n);
    };
    await sampleBy(options.sampler ?? 'ddim', recording, {
      diffusion,
      shape,
      batch,
      seed: options.seed,
      firstSample: first,
      eta: 0,
      initNoise: start,
      signal: options.signal,
    });
  }
  if (filled !== samples) throw new Error(`internal: recorded ${filled} calibration pairs, expected ${samples}`);
  return set;
}

/**
 * DI2N's start ("fake_loop"): two fp32 DDIM steps from Gaussian noise, then the result is re-noised to the last
 * time step with q_sample, and the calibration trajectory starts from there.
 */
async function di2nStart(
  denoiser: Denoiser,
  options: TrajectoryOptions,
  first: number,
  batch: number,
): Promise<Float32Array> {
  const { diffusion, shape } = options;
  const size = shape[0] * shape[1] * shape[2];
  let calls = 0;
  const twoSteps: Denoiser = async (x, t, n) => {
    if (calls++ >= 2) throw new StopAfterTwo(x);
    return denoiser(x, t, n);
  };
  let partial: Float32Array;
  try {
    await ddimSample(twoSteps, { diffusion, shape, batch, seed: options.seed ^ 0x2f6b1d3, firstSample: first, eta: 0 });
    throw new CalibrationError('--calib-noise di2n needs calibration trajectories of at least 3 steps (--calib-steps)');
  } catch (error) {
    if (!(error instanceof StopAfterTwo)) throw error;
    partial = error.x;
  }
  const last = diffusion.numSteps - 1;
  const a = Math.sqrt(diffusion.alphasCumprod[last]);
  const s = Math.sqrt(1 - diffusion.alphasCumprod[last]);
  const z = batchNoise(options.seed ^ 0x51ed27, first, batch, size, INIT_NOISE_STREAM);
  const out = new Float32Array(batch * size);
  for (let k = 0; k < out.length; k++) out[k] = a * partial[k] + s * z[k];
  return out;
}

class StopAfterTwo extends Error {
  readonly x: Float32Array;
  constructor(x: Float32Array) {
    super('stop');
    this.x = Float32Array.from(x);
  }
}

/** 'data' mode: q_sample(x0, t) = sqrt(abar_t) x0 + sqrt(1 - abar_t) z for real images x0 at the chosen steps. */
function forwardNoisedPairs(steps: number[], options: TrajectoryOptions): CalibrationSet {
  const { diffusion, shape, data } = options;
  if (!data || data.count < 1) throw new CalibrationError('--calib-noise data needs images (--calib-data)');
  const size = shape[0] * shape[1] * shape[2];
  if (data.x.length !== data.count * size) {
    throw new CalibrationError(
      `--calib-data images are not ${shape.join('x')} (got ${data.x.length / data.count} values each)`,
    );
  }
  const set = emptySet(steps.length, shape);
  steps.forEach((index, j) => {
    const image = j % data.count;
    const a = Math.sqrt(diffusion.alphasCumprod[index]);
    const s = Math.sqrt(1 - diffusion.alphasCumprod[index]);
    const z = batchNoise(options.seed, j, 1, size, index);
    for (let k = 0; k < size; k++) set.x[j * size + k] = a * data.x[image * size + k] + s * z[k];
    set.t[j] = diffusion.modelTime(index);
    set.stepIndex[j] = index;
  });
  options.onProgress?.(steps.length, steps.length);
  return set;
}
