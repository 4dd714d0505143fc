/**
 * Ancestral DDPM sampling, as improved-diffusion's `p_sample`: the posterior mean from the clipped x_0 and a
 * variance that is learned (learn_sigma: LEARNED_RANGE) or fixed-large (betas).
 */
import type { Denoiser } from './denoiser.ts';
import type { SpacedDiffusion } from './diffusion.ts';
import { runSampleLoop, type SampleOptions } from './sample-loop.ts';
import { calibratedStd, requireNoise, type StepInput, type StepResult, stepLayout } from './step.ts';

/** x_{i-1} ~ N(mean(x_0, x_i), variance); no noise at i = 0. */
export function ddpmStep(input: StepInput): StepResult {
  const { diffusion, index, x, modelOutput, batch, channels } = input;
  const clip = input.clipDenoised ?? true;
  const { pixels, outChannels } = stepLayout(input);
  const beta = diffusion.betas[index];
  const abar = diffusion.alphasCumprod[index];
  const abarPrev = diffusion.alphasCumprodPrev[index];
  const recip = Math.sqrt(1 / abar);
  const recipM1 = Math.sqrt(1 / abar - 1);
  const meanX0 = (beta * Math.sqrt(abarPrev)) / (1 - abar);
  const meanXt = ((1 - abarPrev) * Math.sqrt(1 - beta)) / (1 - abar);
  const learned = diffusion.config.learnSigma;
  // LEARNED_RANGE interpolates log-variance between the posterior's (clipped) and beta's.
  const minLog = diffusion.posteriorLogVarianceClipped[index];
  const maxLog = Math.log(beta);
  const fixedStd = Math.exp(0.5 * Math.log(fixedLargeVariance(diffusion, index)));
  const z = index > 0 ? requireNoise(input) : null;
  // epsilon enters the posterior mean through x_0: -meanX0 * sqrt(1/abar - 1) * eps.
  const epsGain = meanX0 * recipM1;
  const noiseVar = input.epsilonNoiseVariance;

  const sample = new Float32Array(x.length);
  const predXStart = new Float32Array(x.length);
  for (let b = 0; b < batch; b++) {
    for (let c = 0; c < channels; c++) {
      const row = (b * channels + c) * pixels;
      const epsRow = (b * outChannels + c) * pixels;
      const varRow = (b * outChannels + channels + c) * pixels;
      for (let p = 0; p < pixels; p++) {
        const xt = x[row + p];
        let x0 = recip * xt - recipM1 * modelOutput[epsRow + p];
        if (clip) x0 = Math.min(1, Math.max(-1, x0));
        let next = meanX0 * x0 + meanXt * xt;
        if (z) {
          let std = fixedStd;
          if (learned) {
            const frac = (modelOutput[varRow + p] + 1) / 2;
            std = Math.exp(0.5 * (frac * maxLog + (1 - frac) * minLog));
          }
          next += calibratedStd(std, epsGain, noiseVar) * z[row + p];
        }
        sample[row + p] = next;
        predXStart[row + p] = x0;
      }
    }
  }
  return { sample, predXStart };
}

// NOTE: improved-diffusion's FIXED_LARGE uses beta_i, except posterior_variance[1] at i = 0 ("a better decoder
// log likelihood"); at i = 0 no noise is added anyway, so that choice never changes a sample.
function fixedLargeVariance(diffusion: SpacedDiffusion, index: number): number {
  return index === 0 ? diffusion.posteriorVariance[1] : diffusion.betas[index];
}

/** Ancestral sampling over every respaced step; returns x_0 [batch, C, H, W]. */
export function ddpmSample(denoiser: Denoiser, options: SampleOptions): Promise<Float32Array> {
  return runSampleLoop(denoiser, options, {
    needsNoise: (index) => index > 0,
    step: ddpmStep,
  });
}
