/** The inputs and outputs of one pure sampler step (DDIM or DDPM), and the checks both share. */
import type { SpacedDiffusion } from './diffusion.ts';

/** Everything one pure sampler step reads. Tensors are NCHW float32. */
export interface StepInput {
  diffusion: SpacedDiffusion;
  /** Respaced index i of x (the step goes from i to i-1). */
  index: number;
  x: Float32Array;
  /** Denoiser output [batch, C or 2C, H, W]: epsilon first, the learned-variance values after (learnSigma). */
  modelOutput: Float32Array;
  batch: number;
  channels: number;
  clipDenoised?: boolean;
  /** z [batch, C, H, W]; required only when the step adds noise. */
  noise?: Float32Array | null;
  /**
   * Variance of the noise already in the model's epsilon (PTQD's quantization residual): a stochastic step adds
   * that much less variance to x_{i-1} (never below zero). Default 0.
   */
  epsilonNoiseVariance?: number;
}

/**
 * The std of the noise a step adds when epsilon already carries noise of `epsilonVariance`, entering x_{i-1}
 * with coefficient `epsilonGain`: sqrt(max(0, std^2 - gain^2 var)) (PTQD's variance-schedule calibration).
 */
export function calibratedStd(std: number, epsilonGain: number, epsilonVariance: number | undefined): number {
  if (!epsilonVariance || std === 0) return std;
  return Math.sqrt(Math.max(0, std * std - epsilonGain * epsilonGain * epsilonVariance));
}

export interface StepResult {
  sample: Float32Array;
  predXStart: Float32Array;
}

/** What differs between samplers: whether step i adds noise, and the step itself. */
export interface SamplerRule {
  needsNoise(index: number): boolean;
  step(input: StepInput): StepResult;
}

/** Pixels per channel and the model's output channels, after checking every tensor length against the batch. */
export function stepLayout(input: StepInput): { pixels: number; outChannels: number } {
  const { diffusion, index, x, modelOutput, batch, channels } = input;
  if (!Number.isInteger(index) || index < 0 || index >= diffusion.numSteps) {
    throw new Error(`respaced step index ${index} is outside 0..${diffusion.numSteps - 1}`);
  }
  const pixels = x.length / (batch * channels);
  if (!Number.isInteger(pixels) || pixels < 1) {
    throw new Error(`x has ${x.length} values, not a multiple of batch*channels = ${batch * channels}`);
  }
  // NOTE: with learn_sigma the U-Net returns 2C channels, epsilon first; improved-diffusion insists on it.
  const outChannels = diffusion.config.learnSigma ? 2 * channels : channels;
  if (modelOutput.length !== batch * outChannels * pixels) {
    throw new Error(
      `denoiser output has ${modelOutput.length} values, expected [${batch}, ${outChannels}, ${pixels} pixels]` +
        ` (learnSigma ${diffusion.config.learnSigma})`,
    );
  }
  if (input.noise && input.noise.length !== x.length) {
    throw new Error(`step noise has ${input.noise.length} values, expected ${x.length}`);
  }
  return { pixels, outChannels };
}

export function requireNoise(input: StepInput): Float32Array {
  if (!input.noise) throw new Error(`step ${input.index} adds noise but no noise was given`);
  return input.noise;
}
