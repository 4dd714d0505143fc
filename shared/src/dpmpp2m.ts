/**
 * DPM-Solver++(2M) (Lu et al., arXiv 2211.01095, Algorithm 2): a second-order multistep solver of the diffusion ODE
 * in data prediction, over the respaced model times (ddimK: K model calls at the times DDIM uses). Per-step
 * coefficients in float64, tensors float32, as the DDIM step.
 *
 * With alpha = sqrt(abar), sigma = sqrt(1 - abar), lambda = log(alpha / sigma) and the data prediction
 * D = clip((x - sigma eps) / alpha), a step from index i to i-1 with h = lambda_{i-1} - lambda_i is
 *   x_{i-1} = (sigma_{i-1} / sigma_i) x_i - alpha_{i-1} (e^{-h} - 1) D',
 * D' = D_i at the first step (first order: DDIM's step) and (1 + 1/(2r)) D_i - 1/(2r) D_{i+1} after it, with
 * r = h_{i+1} / h_i the ratio of the previous step's h to this one's. The last step lands on sigma = 0 (h infinite):
 * it can only be first order and returns D_0, as DDIM's last step returns its x_0.
 */
import type { Denoiser } from './denoiser.ts';
import type { SpacedDiffusion } from './diffusion.ts';
import type { MultistepRule, PreviousStep } from './multistep.ts';
import { runSampleLoop, type SampleOptions } from './sample-loop.ts';
import { type StepInput, type StepResult, stepLayout } from './step.ts';

/** lambda = log(alpha / sigma) = (log abar - log(1 - abar)) / 2 at respaced index i. */
export function logSnrHalf(diffusion: SpacedDiffusion, index: number): number {
  const abar = diffusion.alphasCumprod[index];
  return 0.5 * (Math.log(abar) - Math.log1p(-abar));
}

/** The float64 coefficients of one step: x_{i-1} = xGain x_i + dGain D_i + dPrevGain D_{i+1}. */
export interface DpmSolverCoefficients {
  alpha: number;
  sigma: number;
  /** 0 at the last step (x_{i-1} = D_i). */
  xGain: number;
  dGain: number;
  /** 0 at a first-order step. */
  dPrevGain: number;
  order: 1 | 2;
}

/** Coefficients from i to i-1; `previousIndex` is the index of the step before (i+1), or null at the first step. */
export function dpmSolverCoefficients(
  diffusion: SpacedDiffusion,
  index: number,
  previousIndex: number | null,
): DpmSolverCoefficients {
  const abar = diffusion.alphasCumprod[index];
  const abarPrev = diffusion.alphasCumprodPrev[index];
  const alpha = Math.sqrt(abar);
  const sigma = Math.sqrt(1 - abar);
  if (index === 0 || abarPrev >= 1) return { alpha, sigma, xGain: 0, dGain: 1, dPrevGain: 0, order: 1 };
  const alphaPrev = Math.sqrt(abarPrev);
  const sigmaPrev = Math.sqrt(1 - abarPrev);
  const lambda = logSnrHalf(diffusion, index);
  const lambdaPrev = 0.5 * (Math.log(abarPrev) - Math.log1p(-abarPrev));
  const h = lambdaPrev - lambda;
  // -alpha_{i-1} (e^{-h} - 1), with expm1 for small h.
  const gain = -alphaPrev * Math.expm1(-h);
  const xGain = sigmaPrev / sigma;
  if (previousIndex === null) return { alpha, sigma, xGain, dGain: gain, dPrevGain: 0, order: 1 };
  const hLast = lambda - logSnrHalf(diffusion, previousIndex);
  const half = h / (2 * hLast); // 1 / (2r)
  return { alpha, sigma, xGain, dGain: gain * (1 + half), dPrevGain: -gain * half, order: 2 };
}

/** One DPM-Solver++(2M) step; `previous` holds the step before this one (empty at the first step). */
export function dpmpp2mStep(input: StepInput, previous: readonly PreviousStep[]): StepResult {
  const { diffusion, index, x, modelOutput, batch, channels } = input;
  const clip = input.clipDenoised ?? true;
  const { pixels, outChannels } = stepLayout(input);
  const last = previous[0];
  if (last && (last.index !== index + 1 || last.predXStart.length !== x.length)) {
    throw new Error(`DPM-Solver++(2M) step ${index} was handed step ${last.index}'s output, expected ${index + 1}'s`);
  }
  const k = dpmSolverCoefficients(diffusion, index, last ? last.index : null);
  const dPrev = k.order === 2 ? last.predXStart : null;
  const sample = new Float32Array(x.length);
  const predXStart = new Float32Array(x.length);
  for (let b = 0; b < batch; b++) {
    for (let c = 0; c < channels; c++) {
      const row = (b * channels + c) * pixels;
      const epsRow = (b * outChannels + c) * pixels;
      for (let p = 0; p < pixels; p++) {
        const xt = x[row + p];
        let d = (xt - k.sigma * modelOutput[epsRow + p]) / k.alpha;
        if (clip) d = Math.min(1, Math.max(-1, d));
        let next = k.xGain * xt + k.dGain * d;
        if (dPrev) next += k.dPrevGain * dPrev[row + p];
        sample[row + p] = next;
        predXStart[row + p] = d;
      }
    }
  }
  return { sample, predXStart };
}

/** The rule: deterministic (no noise), reads the one step before. */
export const DPMPP_2M_RULE: MultistepRule = {
  history: 1,
  needsNoise: () => false,
  step: dpmpp2mStep,
};

/**
 * DPM-Solver++(2M) over every respaced step (one model call each); returns x_0 [batch, C, H, W] (in [-1, 1] when
 * clipDenoised). `eta` does not apply (the solver is deterministic) and must be 0 or unset.
 */
export async function dpmpp2mSample(denoiser: Denoiser, options: SampleOptions): Promise<Float32Array> {
  if (options.eta !== undefined && options.eta !== 0) {
    throw new Error(`DPM-Solver++(2M) is deterministic and takes no eta, got ${options.eta}`);
  }
  return runSampleLoop(denoiser, options, DPMPP_2M_RULE);
}
