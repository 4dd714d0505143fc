import { describe, expect, it } from 'vitest';
import { createDiffusion } from '../src/diffusion.ts';
import type { NoiseSchedule } from '../src/schedule.ts';
import { reference } from './reference.ts';

function maxRelDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]) / Math.max(Math.abs(b[i]), 1e-300));
  return worst;
}

describe('createDiffusion against improved-diffusion SpacedDiffusion', () => {
  for (const [key, ref] of Object.entries(reference.diffusions)) {
    const [schedule, steps, respacing] = key.split(':') as [NoiseSchedule, string, string];
    it(`${schedule} T=${steps} "${respacing}"`, () => {
      const d = createDiffusion(
        { diffusionSteps: Number(steps), noiseSchedule: schedule, learnSigma: false, rescaleTimesteps: true },
        respacing,
      );
      expect(d.numSteps).toBe(ref.timestep_map.length);
      expect(d.timestepMap).toEqual(ref.timestep_map);
      // NOTE: respaced betas are 1 - abar/abar_prev, a cancellation: relative error grows where beta is tiny.
      expect(maxRelDiff(d.betas, ref.betas)).toBeLessThan(1e-11);
      expect(maxRelDiff(d.alphasCumprod, ref.alphas_cumprod)).toBeLessThan(1e-12);
      expect(maxRelDiff(d.alphasCumprodPrev, ref.alphas_cumprod_prev)).toBeLessThan(1e-12);
      expect(maxRelDiff(d.posteriorVariance, ref.posterior_variance)).toBeLessThan(1e-11);
      expect(maxRelDiff(d.posteriorLogVarianceClipped, ref.posterior_log_variance_clipped)).toBeLessThan(1e-12);
      // The U-Net's t input must be bit-identical (float32), including the 1000/3000 scale.
      expect(ref.timestep_map.map((_, i) => d.modelTime(i))).toEqual(ref.model_times);
    });
  }

  it('feeds the raw original step when rescaleTimesteps is off', () => {
    const d = createDiffusion(
      { diffusionSteps: 4000, noiseSchedule: 'cosine', learnSigma: true, rescaleTimesteps: false },
      'ddim10',
    );
    expect(d.modelTime(9)).toBe(3600);
    expect(d.modelTime(0)).toBe(0);
  });

  it('keeps every step without respacing', () => {
    const d = createDiffusion({
      diffusionSteps: 1000,
      noiseSchedule: 'linear',
      learnSigma: false,
      rescaleTimesteps: true,
    });
    expect(d.numSteps).toBe(1000);
    expect(d.modelTime(999)).toBe(999);
  });

  it('rejects 1-step respacings and out-of-range indices', () => {
    const config = {
      diffusionSteps: 1000,
      noiseSchedule: 'linear',
      learnSigma: false,
      rescaleTimesteps: true,
    } as const;
    expect(() => createDiffusion(config, '1')).toThrow(/"1".*at least 2/);
    const d = createDiffusion(config, 'ddim10');
    expect(() => d.modelTime(10)).toThrow(/10/);
    expect(() => d.modelTime(-1)).toThrow(/-1/);
  });
});
