/** DDIM (Song et al.), as improved-diffusion's `ddim_sample`: per-step coefficients in float64, tensors float32. */
import type { Denoiser } from './denoiser.ts';
import { runSampleLoop, type SampleOptions } from './sample-loop.ts';
import { calibratedStd, requireNoise, type StepInput, type StepResult, stepLayout } from './step.ts';

export interface DdimStepInput extends StepInput {
  /** 0 = deterministic DDIM, 1 = DDPM-like noise level. Default 0. */
  eta?: number;
}

/** x_{i-1} from x_i: predict x_0, clip it, re-derive epsilon from the clipped x_0, then DDIM's equation 12. */
export function ddimStep(input: DdimStepInput): StepResult {
  const { diffusion, index, x, modelOutput, batch, channels } = input;
  const eta = checkEta(input.eta ?? 0);
  const clip = input.clipDenoised ?? true;
  const { pixels, outChannels } = stepLayout(input);
  const abar = diffusion.alphasCumprod[index];
  const abarPrev = diffusion.alphasCumprodPrev[index];
  const recip = Math.sqrt(1 / abar);
  const recipM1 = Math.sqrt(1 / abar - 1);
  const sigma = eta * Math.sqrt((1 - abarPrev) / (1 - abar)) * Math.sqrt(1 - abar / abarPrev);
  const sqrtAbarPrev = Math.sqrt(abarPrev);
  // NOTE: 1 - abarPrev - sigma^2 is >= 0 in exact arithmetic (it is 0 at eta=1, i=0); keep rounding from a NaN.
  const direction = Math.sqrt(Math.max(0, 1 - abarPrev - sigma * sigma));
  // NOTE: epsilon enters x_{i-1} as direction * eps - sqrt(abar_prev) * sqrt(1/abar - 1) * eps (through x_0).
  const epsGain = direction - sqrtAbarPrev * recipM1;
  const noiseScale = index > 0 ? calibratedStd(sigma, epsGain, input.epsilonNoiseVariance) : 0;
  const z = index > 0 && sigma > 0 ? requireNoise(input) : null;

  const sample = new Float32Array(x.length);
  const predXStart = new Float32Array(x.length);
  for (let b = 0; b < batch; b++) {
    for (let c = 0; c < channels; c++) {
      const row = (b * channels + c) * pixels;
      const epsRow = (b * outChannels + c) * pixels;
      for (let p = 0; p < pixels; p++) {
        const xt = x[row + p];
        let x0 = recip * xt - recipM1 * modelOutput[epsRow + p];
        if (clip) x0 = Math.min(1, Math.max(-1, x0));
        // NOTE: epsilon is re-derived from the clipped x_0, not the model's raw output (improved-diffusion does so).
        const eps = (recip * xt - x0) / recipM1;
        let next = x0 * sqrtAbarPrev + direction * eps;
        if (z) next += noiseScale * z[row + p];
        sample[row + p] = next;
        predXStart[row + p] = x0;
      }
    }
  }
  return { sample, predXStart };
}

/** DDIM over every respaced step; returns x_0 [batch, C, H, W] (in [-1, 1] when clipDenoised). */
export function ddimSample(denoiser: Denoiser, options: SampleOptions): Promise<Float32Array> {
  const eta = checkEta(options.eta ?? 0);
  return runSampleLoop(denoiser, options, {
    needsNoise: (index) => eta > 0 && index > 0,
    step: (input) => ddimStep({ ...input, eta }),
  });
}

function checkEta(eta: number): number {
  if (!Number.isFinite(eta) || eta < 0) throw new Error(`DDIM eta must be a finite number >= 0, got ${eta}`);
  return eta;
}
