/** Contracts of the sampling loops: seeded noise, batch invariance, progress, abort, shape checks. */
import { describe, expect, it } from 'vitest';
import { ddimSample, ddimStep } from '../src/ddim.ts';
import { ddpmSample, ddpmStep } from '../src/ddpm.ts';
import type { Denoiser } from '../src/denoiser.ts';
import { createDiffusion, type DiffusionConfig } from '../src/diffusion.ts';
import { batchNoise, gaussianNoise, INIT_NOISE_STREAM } from '../src/noise.ts';
import type { SampleOptions, StepInfo } from '../src/sample-loop.ts';
import { toyDenoiser } from './toy-denoiser.ts';

const C = 3;
const H = 4;
const W = 4;
const N = C * H * W;
const plain: DiffusionConfig = {
  diffusionSteps: 1000,
  noiseSchedule: 'linear',
  learnSigma: false,
  rescaleTimesteps: true,
};
const learned: DiffusionConfig = {
  diffusionSteps: 4000,
  noiseSchedule: 'cosine',
  learnSigma: true,
  rescaleTimesteps: true,
};

function options(config: DiffusionConfig, extra: Partial<SampleOptions> = {}): SampleOptions {
  return { diffusion: createDiffusion(config, 'ddim8'), shape: [C, H, W], batch: 1, seed: 7, ...extra };
}

const samplers = [
  ['ddim eta=1', ddimSample, learned, 1],
  ['ddpm learned', ddpmSample, learned, 0],
  ['ddpm fixed-large', ddpmSample, plain, 0],
] as const;

describe('seeded noise through the loops', () => {
  for (const [name, sample, config, eta] of samplers) {
    it(`${name}: sample k is the same alone or inside a batch`, async () => {
      const denoiser = toyDenoiser(C, H * W, config.learnSigma);
      const together = await sample(denoiser, options(config, { batch: 4, firstSample: 10, eta }));
      const alone = await sample(denoiser, options(config, { batch: 1, firstSample: 12, eta }));
      expect(alone).toEqual(together.subarray(2 * N, 3 * N));
      const otherSeed = await sample(denoiser, options(config, { batch: 1, firstSample: 12, eta, seed: 8 }));
      expect(otherSeed).not.toEqual(alone);
    });

    it(`${name}: x_T and z follow the noise contract (INIT_NOISE_STREAM, then stream = respaced index)`, async () => {
      const denoiser = toyDenoiser(C, H * W, config.learnSigma);
      const streams: number[] = [];
      const firstInputs: Float32Array[] = [];
      const spy: Denoiser = (x, t, n) => {
        if (firstInputs.length === 0) firstInputs.push(x.slice());
        return denoiser(x, t, n);
      };
      const seeded = await sample(spy, options(config, { batch: 2, firstSample: 3, eta }));
      expect(firstInputs[0]).toEqual(batchNoise(7, 3, 2, N, INIT_NOISE_STREAM));
      const fed = await sample(denoiser, {
        ...options(config, { batch: 2, firstSample: 3, eta }),
        noise: (k, stream, count) => {
          streams.push(stream);
          return gaussianNoise(7, k, stream, count);
        },
      });
      expect(fed).toEqual(seeded);
      const steps = [7, 7, 6, 6, 5, 5, 4, 4, 3, 3, 2, 2, 1, 1];
      expect(streams).toEqual([INIT_NOISE_STREAM, INIT_NOISE_STREAM, ...steps]);
    });
  }

  it('deterministic DDIM draws only x_T and stays in [-1, 1]', async () => {
    const streams: number[] = [];
    const out = await ddimSample(toyDenoiser(C, H * W, false), {
      ...options(plain, { batch: 2 }),
      noise: (k, stream, count) => {
        streams.push(stream);
        return gaussianNoise(1, k, stream, count);
      },
    });
    expect(streams).toEqual([INIT_NOISE_STREAM, INIT_NOISE_STREAM]);
    expect(Math.max(...out.map(Math.abs))).toBeLessThanOrEqual(1);
  });

  it('uses initNoise instead of the seeded x_T', async () => {
    const initNoise = gaussianNoise(99, 0, 0, 2 * N);
    const a = await ddimSample(toyDenoiser(C, H * W, false), options(plain, { batch: 2, initNoise }));
    const b = await ddimSample(toyDenoiser(C, H * W, false), options(plain, { batch: 2, seed: 12345, initNoise }));
    expect(a).toEqual(b);
    await expect(ddimSample(toyDenoiser(C, H * W, false), options(plain, { initNoise }))).rejects.toThrow(/96.*48/);
  });
});

describe('progress and abort', () => {
  it('reports every step in order with the model time, awaiting async callbacks', async () => {
    const diffusion = createDiffusion(plain, 'ddim8');
    const seen: StepInfo[] = [];
    const order: string[] = [];
    const denoiser: Denoiser = async (x, t, n) => {
      order.push(`model ${t[0]}`);
      return toyDenoiser(C, H * W, false)(x, t, n);
    };
    await ddimSample(denoiser, {
      ...options(plain),
      onStep: async (info) => {
        await new Promise((resolve) => setTimeout(resolve, 1));
        order.push(`step ${info.step}`);
        seen.push(info);
      },
    });
    expect(seen.map((s) => s.index)).toEqual([7, 6, 5, 4, 3, 2, 1, 0]);
    expect(seen.map((s) => s.step)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(seen.every((s) => s.total === 8)).toBe(true);
    expect(seen.map((s) => s.t)).toEqual([875, 750, 625, 500, 375, 250, 125, 0]);
    expect(seen.map((s) => s.t)).toEqual(seen.map((s) => diffusion.modelTime(s.index)));
    expect(order.slice(0, 4)).toEqual(['model 875', 'step 0', 'model 750', 'step 1']);
  });

  it('stops at the next step when the signal aborts', async () => {
    const controller = new AbortController();
    let calls = 0;
    const denoiser: Denoiser = (x, t, n) => {
      calls++;
      return toyDenoiser(C, H * W, false)(x, t, n);
    };
    const run = ddimSample(denoiser, {
      ...options(plain),
      signal: controller.signal,
      onStep: (info) => {
        if (info.step === 2) controller.abort();
      },
    });
    await expect(run).rejects.toMatchObject({ name: 'AbortError' });
    expect(calls).toBe(3);
  });

  it('does not call the denoiser when already aborted', async () => {
    let calls = 0;
    const denoiser: Denoiser = async () => {
      calls++;
      return new Float32Array(N);
    };
    const run = ddpmSample(denoiser, { ...options(plain), signal: AbortSignal.abort(new Error('user left')) });
    await expect(run).rejects.toThrow('user left');
    expect(calls).toBe(0);
  });
});

describe('single steps', () => {
  const diffusion = createDiffusion(learned, 'ddim8');
  const x = gaussianNoise(3, 0, 0, 2 * N);
  const z = gaussianNoise(3, 0, 1, 2 * N);

  function output(eps: number, v: number): Float32Array {
    const out = new Float32Array(2 * 2 * N);
    for (let b = 0; b < 2; b++) {
      out.fill(eps, b * 2 * N, b * 2 * N + N);
      out.fill(v, b * 2 * N + N, (b + 1) * 2 * N);
    }
    return out;
  }

  it('DDIM reads epsilon from the first C channels only and leaves its inputs alone', () => {
    const before = x.slice();
    const a = ddimStep({ diffusion, index: 5, x, modelOutput: output(0.3, -0.9), batch: 2, channels: C, eta: 0 });
    const b = ddimStep({ diffusion, index: 5, x, modelOutput: output(0.3, 0.8), batch: 2, channels: C, eta: 0 });
    expect(a.sample).toEqual(b.sample);
    expect(x).toEqual(before);
  });

  it('DDPM learned range spans log posterior variance (v=-1) to log beta (v=1)', () => {
    const zero = new Float32Array(2 * N);
    const index = 5;
    for (const [v, variance] of [
      [-1, Math.exp(diffusion.posteriorLogVarianceClipped[index])],
      [1, diffusion.betas[index]],
    ]) {
      const { sample } = ddpmStep({
        diffusion,
        index,
        x: zero,
        modelOutput: output(0, v),
        batch: 2,
        channels: C,
        noise: z,
      });
      // x = 0 and eps = 0 give x_0 = 0 and mean 0, so the sample is std * z
      for (let i = 0; i < 2 * N; i += 7) expect(sample[i]).toBeCloseTo(Math.sqrt(variance) * z[i], 6);
    }
  });

  it('adds no noise at index 0 and requires noise elsewhere', () => {
    const out = output(0.1, 0);
    const last = ddpmStep({ diffusion, index: 0, x, modelOutput: out, batch: 2, channels: C });
    expect(last.sample).toEqual(last.predXStart);
    expect(() => ddpmStep({ diffusion, index: 3, x, modelOutput: out, batch: 2, channels: C })).toThrow(
      /step 3.*noise/,
    );
    expect(() => ddimStep({ diffusion, index: 3, x, modelOutput: out, batch: 2, channels: C, eta: 0.5 })).toThrow(
      /noise/,
    );
  });

  it('checks output channels against learnSigma, indices, eta and shapes', () => {
    const eps = new Float32Array(2 * N);
    expect(() => ddimStep({ diffusion, index: 3, x, modelOutput: eps, batch: 2, channels: C })).toThrow(
      /96.*learnSigma true/,
    );
    expect(() => ddimStep({ diffusion, index: 8, x, modelOutput: output(0, 0), batch: 2, channels: C })).toThrow(
      /index 8/,
    );
    expect(() =>
      ddimStep({ diffusion, index: 3, x, modelOutput: output(0, 0), batch: 2, channels: C, eta: -1 }),
    ).toThrow(/-1/);
    expect(() => ddimStep({ diffusion, index: 3, x, modelOutput: output(0, 0), batch: 5, channels: C })).toThrow(/15/);
  });

  it('rejects a bad shape or batch before sampling', async () => {
    const denoiser = toyDenoiser(C, H * W, false);
    await expect(ddimSample(denoiser, options(plain, { batch: 0 }))).rejects.toThrow(/batch 0/);
    await expect(ddimSample(denoiser, { ...options(plain), shape: [3, 0, 4] })).rejects.toThrow(/3,0,4/);
  });
});
