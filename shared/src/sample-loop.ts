/**
 * The reverse-diffusion loop shared by DDIM, DDPM and the multistep solvers: draw x_T, ask the denoiser at every
 * respaced step from T'-1 down to 0, apply one sampler step (a multistep rule also reads the steps before it).
 * Noise follows the contract in noise.ts, so sample k is the same image alone or in any batch.
 */
import type { Denoiser } from './denoiser.ts';
import type { SpacedDiffusion } from './diffusion.ts';
import type { MultistepRule, PreviousStep } from './multistep.ts';
import { batchNoise, gaussianNoise, INIT_NOISE_STREAM } from './noise.ts';
import { correctEpsilon, correctedNoiseVariance, correctionAt, type NoiseCorrection } from './noise-correction.ts';
import type { SamplerRule } from './step.ts';

/** index: respaced i (T'-1..0); step: 0..total-1 in loop order; t: the value the denoiser saw. */
export interface StepInfo {
  index: number;
  step: number;
  total: number;
  t: number;
}

/**
 * Standard normal noise for one sample (`count` = C*H*W values); stream is INIT_NOISE_STREAM for x_T or the
 * respaced index of the step that adds it.
 */
export type NoiseSource = (sampleIndex: number, stream: number, count: number) => Float32Array;

export interface SampleOptions {
  diffusion: SpacedDiffusion;
  shape: [channels: number, height: number, width: number];
  batch: number;
  seed: number;
  /** Global index of the first sample in this batch (default 0). */
  firstSample?: number;
  /** DDIM only, default 0. */
  eta?: number;
  /** Clip the predicted x_0 to [-1, 1] (default true). */
  clipDenoised?: boolean;
  /** Replaces the seeded x_T ([batch, C, H, W]). */
  initNoise?: Float32Array;
  /**
   * Replaces the seeded noise (x_T unless initNoise is given, and every step's z). For exact comparison with
   * other implementations (feed their random draws); leave unset in production.
   */
  noise?: NoiseSource;
  /**
   * PTQD coefficients of a quantized variant (manifest `noiseCorrection`): each step's epsilon is corrected, and a
   * stochastic step adds less noise by the residual's variance. Unset: the model output is used as is.
   */
  correction?: NoiseCorrection;
  onStep?: (info: StepInfo) => void | Promise<void>;
  signal?: AbortSignal;
}

export function runSampleLoop(denoiser: Denoiser, options: SampleOptions, rule: SamplerRule): Promise<Float32Array>;
export function runSampleLoop(denoiser: Denoiser, options: SampleOptions, rule: MultistepRule): Promise<Float32Array>;
export async function runSampleLoop(
  denoiser: Denoiser,
  options: SampleOptions,
  rule: SamplerRule | MultistepRule,
): Promise<Float32Array> {
  const { diffusion, batch, seed, signal } = options;
  const [channels] = options.shape;
  const perSample = checkShape(options);
  const firstSample = options.firstSample ?? 0;
  const draw = options.noise ?? ((k: number, stream: number, count: number) => gaussianNoise(seed, k, stream, count));
  const drawBatch = (stream: number): Float32Array =>
    options.noise
      ? gatherNoise(draw, firstSample, batch, perSample, stream)
      : batchNoise(seed, firstSample, batch, perSample, stream);

  let x = options.initNoise ? checkInitNoise(options.initNoise, batch * perSample) : drawBatch(INIT_NOISE_STREAM);
  const total = diffusion.numSteps;
  const t = new Float32Array(batch);
  const keep = 'history' in rule ? rule.history : 0;
  const previous: PreviousStep[] = [];
  for (let index = total - 1; index >= 0; index--) {
    signal?.throwIfAborted();
    const time = diffusion.modelTime(index);
    t.fill(time);
    let modelOutput = await denoiser(x, t, batch);
    signal?.throwIfAborted();
    let epsilonNoiseVariance: number | undefined;
    if (options.correction) {
      const at = correctionAt(options.correction, time);
      const outChannels = diffusion.config.learnSigma ? 2 * channels : channels;
      modelOutput = correctEpsilon(modelOutput, at, batch, channels, outChannels);
      epsilonNoiseVariance = correctedNoiseVariance(at);
    }
    const noise = rule.needsNoise(index) ? drawBatch(index) : null;
    const result = rule.step(
      {
        diffusion,
        index,
        x,
        modelOutput,
        batch,
        channels,
        clipDenoised: options.clipDenoised,
        noise,
        epsilonNoiseVariance,
      },
      previous,
    );
    x = result.sample;
    if (keep > 0) {
      previous.unshift({ index, predXStart: result.predXStart });
      previous.length = Math.min(previous.length, keep);
    }
    await options.onStep?.({ index, step: total - 1 - index, total, t: time });
  }
  return x;
}

function checkShape(options: SampleOptions): number {
  const dims = [...options.shape, options.batch];
  if (options.shape.length !== 3 || !dims.every((d) => Number.isInteger(d) && d > 0)) {
    throw new Error(`sample shape [${options.shape}] x batch ${options.batch} must be positive integers [C, H, W]`);
  }
  return options.shape[0] * options.shape[1] * options.shape[2];
}

function checkInitNoise(initNoise: Float32Array, expected: number): Float32Array {
  if (initNoise.length !== expected) {
    throw new Error(`initNoise has ${initNoise.length} values, expected batch*C*H*W = ${expected}`);
  }
  return initNoise;
}

function gatherNoise(draw: NoiseSource, first: number, batch: number, perSample: number, stream: number): Float32Array {
  const out = new Float32Array(batch * perSample);
  for (let k = 0; k < batch; k++) {
    const z = draw(first + k, stream, perSample);
    if (z.length !== perSample) throw new Error(`noise source gave ${z.length} values, expected ${perSample}`);
    out.set(z, k * perSample);
  }
  return out;
}
