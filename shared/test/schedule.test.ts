import { describe, expect, it } from 'vitest';
import { alphasCumprod, betasForSchedule, type NoiseSchedule } from '../src/schedule.ts';
import { reference } from './reference.ts';

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  return worst;
}

describe('betasForSchedule against improved-diffusion', () => {
  for (const [key, ref] of Object.entries(reference.schedules)) {
    const [schedule, steps] = key.split(':') as [NoiseSchedule, string];
    it(`${schedule} T=${steps}`, () => {
      const betas = betasForSchedule(schedule, Number(steps));
      const abar = alphasCumprod(betas);
      expect(betas.length).toBe(Number(steps));
      // NOTE: linear is bit-exact (numpy's linspace order); cosine goes through Math.cos vs libm cos, 1 ulp apart
      // at most, which 1 - ratio turns into an absolute error of a few 1e-16.
      const tol = schedule === 'linear' ? 0 : 1e-15;
      expect(
        maxAbsDiff(
          ref.indices.map((i) => betas[i]),
          ref.betas,
        ),
      ).toBeLessThanOrEqual(tol);
      expect(
        maxAbsDiff(
          ref.indices.map((i) => abar[i]),
          ref.alphas_cumprod,
        ),
      ).toBeLessThanOrEqual(1e-14);
      expect(Math.abs(betas.reduce((s, v) => s + v, 0) - ref.betas_sum)).toBeLessThanOrEqual(1e-12);
      expect(Math.abs(abar.reduce((s, v) => s + v, 0) - ref.alphas_cumprod_sum)).toBeLessThanOrEqual(1e-11);
      if (ref.betas_all) expect(maxAbsDiff(betas, ref.betas_all)).toBeLessThanOrEqual(tol);
    });
  }

  it('caps cosine betas at 0.999 (the last step)', () => {
    const betas = betasForSchedule('cosine', 1000);
    expect(betas[999]).toBe(0.999);
    expect(Math.max(...betas)).toBe(0.999);
  });

  it('rejects unknown schedules and step counts by name', () => {
    expect(() => betasForSchedule('quadratic' as NoiseSchedule, 1000)).toThrow(/quadratic/);
    expect(() => betasForSchedule('linear', 0)).toThrow(/0/);
    expect(() => betasForSchedule('linear', 2.5)).toThrow(/2\.5/);
  });
});
