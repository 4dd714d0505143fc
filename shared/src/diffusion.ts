/**
 * A respaced Gaussian diffusion: improved-diffusion's `SpacedDiffusion` reduced to the float64 tables the
 * samplers read, plus the time value the U-Net must see at each respaced step.
 */
import { spaceTimesteps } from './respace.ts';
import { alphasCumprod, betasForSchedule, type NoiseSchedule } from './schedule.ts';

export interface DiffusionConfig {
  diffusionSteps: number;
  noiseSchedule: NoiseSchedule;
  learnSigma: boolean;
  rescaleTimesteps: boolean;
}

export interface SpacedDiffusion {
  config: DiffusionConfig;
  /** T' after respacing. */
  numSteps: number;
  /** Original step of each respaced index, ascending. */
  timestepMap: number[];
  betas: Float64Array;
  alphasCumprod: Float64Array;
  alphasCumprodPrev: Float64Array;
  posteriorVariance: Float64Array;
  /** log of posteriorVariance with index 0 replaced by index 1 (the true value there is 0). */
  posteriorLogVarianceClipped: Float64Array;
  /** The float fed to the U-Net's t input at respaced index i. */
  modelTime(i: number): number;
}

/** `respacing` as in `spaceTimesteps` ("250", "10,20,30", "ddim50", "" or undefined = all steps). */
export function createDiffusion(config: DiffusionConfig, respacing?: string | number): SpacedDiffusion {
  const timestepMap = spaceTimesteps(config.diffusionSteps, respacing);
  if (timestepMap.length < 2) {
    // improved-diffusion cannot build a 1-step process either (it reads posterior_variance[1]).
    throw new Error(`timestep respacing ${JSON.stringify(respacing)} keeps 1 step; a sampler needs at least 2`);
  }
  const betas = respacedBetas(
    alphasCumprod(betasForSchedule(config.noiseSchedule, config.diffusionSteps)),
    timestepMap,
  );
  const abar = alphasCumprod(betas);
  const abarPrev = shiftRight(abar, 1);
  const posteriorVariance = betas.map((beta, i) => (beta * (1 - abarPrev[i])) / (1 - abar[i]));
  const posteriorLogVarianceClipped = posteriorVariance.map((v, i) => Math.log(i === 0 ? posteriorVariance[1] : v));
  return {
    config: { ...config },
    numSteps: timestepMap.length,
    timestepMap,
    betas,
    alphasCumprod: abar,
    alphasCumprodPrev: abarPrev,
    posteriorVariance,
    posteriorLogVarianceClipped,
    modelTime: modelTimeFor(timestepMap, config),
  };
}

/** Betas of the kept steps: 1 - abar[t_i] / abar[t_{i-1}], so the kept alpha-bars are unchanged. */
function respacedBetas(baseAlphasCumprod: Float64Array, timestepMap: number[]): Float64Array {
  const betas = new Float64Array(timestepMap.length);
  let last = 1;
  timestepMap.forEach((step, i) => {
    betas[i] = 1 - baseAlphasCumprod[step] / last;
    last = baseAlphasCumprod[step];
  });
  return betas;
}

function shiftRight(values: Float64Array, first: number): Float64Array {
  const out = new Float64Array(values.length);
  out[0] = first;
  out.set(values.subarray(0, values.length - 1), 1);
  return out;
}

function modelTimeFor(timestepMap: number[], config: DiffusionConfig): (i: number) => number {
  // NOTE: PyTorch computes `map[i].float() * (1000.0 / T)` in float32 (the scalar is cast to float32 first), so
  // round both factors and the product to float32 to hand the U-Net the very same value.
  const scale = Math.fround(1000 / config.diffusionSteps);
  return (i: number) => {
    if (!Number.isInteger(i) || i < 0 || i >= timestepMap.length) {
      throw new Error(`respaced step index ${i} is outside 0..${timestepMap.length - 1}`);
    }
    return config.rescaleTimesteps ? Math.fround(timestepMap[i] * scale) : timestepMap[i];
  };
}
