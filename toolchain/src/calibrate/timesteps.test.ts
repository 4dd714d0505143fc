import { describe, expect, it } from 'vitest';
import { assignToTrajectories, sampleTimesteps } from './timesteps.ts';

function histogram(steps: number[], numSteps: number): number[] {
  const h = new Array(numSteps).fill(0);
  for (const s of steps) h[s]++;
  return h;
}

describe('sampleTimesteps', () => {
  it('uniform covers every step with counts differing by at most one', () => {
    const h = histogram(sampleTimesteps({ kind: 'uniform' }, 50, 1024, 1), 50);
    expect(Math.min(...h)).toBeGreaterThanOrEqual(20);
    expect(Math.max(...h) - Math.min(...h)).toBeLessThanOrEqual(1);
  });

  it('normal follows N(0.4, 0.4) on the respaced index, clamped to the ends', () => {
    const steps = sampleTimesteps({ kind: 'normal', mean: 0.4, std: 0.4 }, 100, 20000, 7);
    const inside = steps.filter((s) => s > 0 && s < 99);
    const mean = inside.reduce((a, b) => a + b, 0) / inside.length / 100;
    // P(x < 0) = Phi(-1) = 0.1587 piles up at index 0; P(x >= 1) = Phi(-1.5) = 0.0668 at the last index.
    const atZero = steps.filter((s) => s === 0).length / steps.length;
    const atEnd = steps.filter((s) => s === 99).length / steps.length;
    expect(atZero).toBeGreaterThan(0.14);
    expect(atZero).toBeLessThan(0.18);
    expect(atEnd).toBeGreaterThan(0.055);
    expect(atEnd).toBeLessThan(0.08);
    expect(mean).toBeGreaterThan(0.38);
    expect(mean).toBeLessThan(0.46);
  });

  it('every-k takes loop positions 0, k, 2k... counted from the noisiest call', () => {
    const steps = new Set(sampleTimesteps({ kind: 'every-k', every: 5 }, 100, 200, 3));
    expect([...steps].sort((a, b) => b - a)).toEqual(Array.from({ length: 20 }, (_, k) => 99 - 5 * k));
  });

  it('is reproducible for a seed and rejects bad counts', () => {
    expect(sampleTimesteps({ kind: 'normal', mean: 0.4, std: 0.4 }, 50, 64, 9)).toEqual(
      sampleTimesteps({ kind: 'normal', mean: 0.4, std: 0.4 }, 50, 64, 9),
    );
    expect(() => sampleTimesteps({ kind: 'uniform' }, 50, 0, 1)).toThrow(/>= 1/);
    expect(() => sampleTimesteps({ kind: 'every-k', every: 0 }, 50, 10, 1)).toThrow(/--every/);
  });
});

describe('assignToTrajectories', () => {
  it('never records one step twice in a trajectory and keeps every pair', () => {
    const steps = sampleTimesteps({ kind: 'uniform' }, 50, 640, 2);
    const assigned = assignToTrajectories(steps, 16, 2);
    const total = assigned.reduce((n, s) => n + s.size, 0);
    expect(total).toBe(640);
    const h = histogram(steps, 50);
    for (let step = 0; step < 50; step++) expect(assigned.filter((s) => s.has(step)).length).toBe(h[step]);
  });

  it('says how many trajectories are needed', () => {
    expect(() => assignToTrajectories(sampleTimesteps({ kind: 'uniform' }, 10, 100, 1), 4, 1)).toThrow(
      /need at least 10 trajectories/,
    );
  });
});
