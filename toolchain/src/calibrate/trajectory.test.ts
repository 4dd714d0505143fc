import { createDiffusion, type Denoiser, ddimSample, dpmpp2mSample } from '@qdm/shared';
import { describe, expect, it } from 'vitest';
import { collectCalibration } from './trajectory.ts';

const diffusion = createDiffusion(
  { diffusionSteps: 1000, noiseSchedule: 'cosine', learnSigma: false, rescaleTimesteps: true },
  'ddim20',
);
const shape: [number, number, number] = [3, 4, 4];
const size = 48;

// A deterministic stand-in for the U-Net: depends on x and t, so a wrong pairing of x and t is visible.
const toy: Denoiser = async (x, t, batch) => {
  const out = new Float32Array(x.length);
  for (let b = 0; b < batch; b++) {
    for (let k = 0; k < size; k++) out[b * size + k] = Math.tanh(0.8 * x[b * size + k] + 0.001 * t[b]);
  }
  return out;
};

/** Every (x, t) the model is fed when sampling trajectory `k` alone. */
async function feedLog(k: number, seed: number, sample = ddimSample): Promise<{ x: Float32Array; t: number }[]> {
  const log: { x: Float32Array; t: number }[] = [];
  const logging: Denoiser = async (x, t, n) => {
    log.push({ x: Float32Array.from(x), t: t[0] });
    return toy(x, t, n);
  };
  await sample(logging, { diffusion, shape, batch: 1, seed, firstSample: k });
  return log;
}

describe('collectCalibration', () => {
  it('follows the serving sampler: DPM-Solver++(2M) pairs are its own trajectory, not DDIM', async () => {
    const seed = 5;
    const options = { diffusion, shape, policy: { kind: 'uniform' as const }, samples: 20, trajectories: 3 };
    const set = await collectCalibration(toy, { ...options, batch: 2, seed, noise: 'gaussian', sampler: 'dpm++2m' });
    const dpm = await Promise.all(Array.from({ length: 3 }, (_, k) => feedLog(k, seed, dpmpp2mSample)));
    const ddim = await Promise.all(Array.from({ length: 3 }, (_, k) => feedLog(k, seed)));
    const found = (logs: typeof dpm, j: number) => {
      const call = diffusion.numSteps - 1 - set.stepIndex[j];
      const x = set.x.subarray(j * size, (j + 1) * size);
      return logs.some((log) => log[call].t === set.t[j] && log[call].x.every((v, e) => v === x[e]));
    };
    const all = Array.from({ length: set.count }, (_, j) => j);
    expect(all.every((j) => found(dpm, j))).toBe(true);
    // the first call of both is x_T; after it the two trajectories part
    expect(all.filter((j) => set.stepIndex[j] < diffusion.numSteps - 2).some((j) => !found(ddim, j))).toBe(true);
  });

  it('records exactly the x_t and t the model was fed, whatever the batch', async () => {
    const seed = 11;
    const set = await collectCalibration(toy, {
      diffusion,
      shape,
      policy: { kind: 'uniform' },
      samples: 40,
      trajectories: 6,
      batch: 4,
      seed,
      noise: 'gaussian',
    });
    expect(set.count).toBe(40);
    const logs = await Promise.all(Array.from({ length: 6 }, (_, k) => feedLog(k, seed)));
    for (let j = 0; j < set.count; j++) {
      const index = set.stepIndex[j];
      expect(set.t[j]).toBe(diffusion.modelTime(index));
      const call = diffusion.numSteps - 1 - index;
      const x = set.x.subarray(j * size, (j + 1) * size);
      // The pair must come from one of the trajectories' calls at that step, bit for bit.
      const match = logs.some((log) => log[call].t === set.t[j] && log[call].x.every((v, e) => v === x[e]));
      expect(match).toBe(true);
    }
    // Uniform policy: 40 pairs over 20 steps, two per step.
    const perStep = new Map<number, number>();
    for (const i of set.stepIndex) perStep.set(i, (perStep.get(i) ?? 0) + 1);
    expect([...perStep.values()].every((n) => n === 2)).toBe(true);
  });

  it('di2n starts from a re-noised two-step result, not from plain noise', async () => {
    const options = {
      diffusion,
      shape,
      policy: { kind: 'every-k', every: 20 } as const,
      samples: 2,
      trajectories: 2,
      batch: 2,
      seed: 5,
    };
    const plain = await collectCalibration(toy, { ...options, noise: 'gaussian' });
    const di2n = await collectCalibration(toy, { ...options, noise: 'di2n' });
    expect(plain.stepIndex[0]).toBe(19);
    expect(di2n.stepIndex[0]).toBe(19);
    expect(di2n.x.some((v, k) => v !== plain.x[k])).toBe(true);
    // Re-noised to the last step: still unit-variance-like noise.
    const variance = di2n.x.reduce((a, v) => a + v * v, 0) / di2n.x.length;
    expect(variance).toBeGreaterThan(0.5);
    expect(variance).toBeLessThan(1.6);
  });

  it('data mode forward-noises the given images with q_sample', async () => {
    const x0 = new Float32Array(2 * size).fill(0.5);
    const set = await collectCalibration(toy, {
      diffusion,
      shape,
      policy: { kind: 'uniform' },
      samples: 20,
      trajectories: 1,
      batch: 1,
      seed: 3,
      noise: 'data',
      data: { x: x0, count: 2 },
    });
    // At the cleanest step the pair is close to the image; at the noisiest it is mostly noise.
    const mean = (j: number) => set.x.subarray(j * size, (j + 1) * size).reduce((a, v) => a + v, 0) / size;
    const clean = [...set.stepIndex].indexOf(0);
    expect(Math.abs(mean(clean) - 0.5 * Math.sqrt(diffusion.alphasCumprod[0]))).toBeLessThan(0.05);
    expect(set.t[clean]).toBe(diffusion.modelTime(0));
    await expect(
      collectCalibration(toy, {
        diffusion,
        shape,
        policy: { kind: 'uniform' },
        samples: 4,
        trajectories: 1,
        batch: 1,
        seed: 3,
        noise: 'data',
      }),
    ).rejects.toThrow(/--calib-data/);
  });
});
