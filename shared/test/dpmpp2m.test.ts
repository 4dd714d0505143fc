/**
 * DPM-Solver++(2M): against an independent float64 solver written from the paper (fixtures/dpmpp2m_reference.py,
 * toy denoiser), and the loop contracts it shares with DDIM: seeded noise, batch invariance, PTQD correction.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ddimSample, ddimStep } from '../src/ddim.ts';
import type { Denoiser } from '../src/denoiser.ts';
import { createDiffusion, type DiffusionConfig } from '../src/diffusion.ts';
import { dpmpp2mSample, dpmpp2mStep, dpmSolverCoefficients } from '../src/dpmpp2m.ts';
import { parseSamplerName } from '../src/multistep.ts';
import type { NoiseCorrection } from '../src/noise-correction.ts';
import { sampleBy } from '../src/samplers.ts';
import type { NoiseSchedule } from '../src/schedule.ts';
import { toyDenoiser } from './toy-denoiser.ts';

interface Case {
  noise_schedule: NoiseSchedule;
  diffusion_steps: number;
  respacing: string;
  clip_denoised: boolean;
  model_times: number[];
  final: number[];
}
const reference: { shape: [number, number, number, number]; x_T: number[]; cases: Record<string, Case> } = JSON.parse(
  readFileSync(new URL('./fixtures/dpmpp2m-reference.json', import.meta.url), 'utf8'),
);

const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  expect(a.length).toBe(b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  return worst;
};

describe('DPM-Solver++(2M) against the float64 reference (toy denoiser)', () => {
  const [batch, channels, height, width] = reference.shape;
  for (const [name, ref] of Object.entries(reference.cases)) {
    it(`${name}: model times and final x_0`, async () => {
      const diffusion = createDiffusion(
        {
          diffusionSteps: ref.diffusion_steps,
          noiseSchedule: ref.noise_schedule,
          learnSigma: true,
          rescaleTimesteps: true,
        },
        ref.respacing,
      );
      const seen: number[] = [];
      const out = await dpmpp2mSample(toyDenoiser(channels, height * width, true, seen), {
        diffusion,
        shape: [channels, height, width],
        batch,
        seed: 0,
        clipDenoised: ref.clip_denoised,
        initNoise: Float32Array.from(reference.x_T),
      });
      expect(seen).toEqual(ref.model_times);
      const error = maxAbsDiff(out, ref.final);
      // float32 tensors between steps on both sides, so a few float32 ulps of the largest value (unclipped x_0
      // grow large); clipped ones stay near 1e-7.
      const largest = ref.final.reduce((m, v) => Math.max(m, Math.abs(v)), 1);
      console.log(`${name}: max abs error ${error.toExponential(2)} (largest |x_0| ${largest.toFixed(1)})`);
      expect(error).toBeLessThan(1e-6 * largest);
    });
  }
});

const C = 3;
const H = 4;
const W = 4;
const N = C * H * W;
const learned: DiffusionConfig = {
  diffusionSteps: 1000,
  noiseSchedule: 'cosine',
  learnSigma: true,
  rescaleTimesteps: true,
};

describe('DPM-Solver++(2M) steps', () => {
  const diffusion = createDiffusion(learned, 'ddim10');
  const x = Float32Array.from({ length: N }, (_, i) => Math.sin(i) * 1.3);
  const eps = Float32Array.from({ length: 2 * N }, (_, i) => Math.cos(i * 0.7));

  it('the first step is first order: DDIM (eta 0) up to float rounding', () => {
    const input = { diffusion, index: 9, x, modelOutput: eps, batch: 1, channels: C };
    const dpm = dpmpp2mStep(input, []);
    const ddim = ddimStep(input);
    expect(maxAbsDiff(dpm.sample, ddim.sample)).toBeLessThan(1e-5);
    expect(maxAbsDiff(dpm.predXStart, ddim.predXStart)).toBeLessThan(1e-5);
  });

  it('a later step is second order: differs from DDIM by the D difference term alone', () => {
    const input = { diffusion, index: 5, x, modelOutput: eps, batch: 1, channels: C };
    const first = dpmpp2mStep(input, []);
    const dPrev = Float32Array.from({ length: N }, (_, i) => Math.cos(i) * 0.5);
    const second = dpmpp2mStep(input, [{ index: 6, predXStart: dPrev }]);
    const k = dpmSolverCoefficients(diffusion, 5, 6);
    expect(k.order).toBe(2);
    for (let i = 0; i < N; i++) {
      const d = first.predXStart[i];
      // (1 + 1/2r) D - 1/2r D_prev = D + (1/2r)(D - D_prev): the correction is proportional to D - D_prev
      const expected = first.sample[i] + k.dPrevGain * (dPrev[i] - d);
      expect(second.sample[i]).toBeCloseTo(expected, 5);
    }
    expect(maxAbsDiff(second.sample, first.sample)).toBeGreaterThan(1e-3);
  });

  it('the last step returns the clipped data prediction (sigma = 0)', () => {
    const input = { diffusion, index: 0, x, modelOutput: eps, batch: 1, channels: C };
    const out = dpmpp2mStep(input, [{ index: 1, predXStart: new Float32Array(N).fill(0.3) }]);
    expect(out.sample).toEqual(out.predXStart);
    expect(Math.max(...out.sample)).toBeLessThanOrEqual(1);
    expect(Math.min(...out.sample)).toBeGreaterThanOrEqual(-1);
  });

  it('refuses a history from another step, and eta', async () => {
    const input = { diffusion, index: 5, x, modelOutput: eps, batch: 1, channels: C };
    expect(() => dpmpp2mStep(input, [{ index: 7, predXStart: x }])).toThrow(/step 7's output, expected 6's/);
    const run = dpmpp2mSample(toyDenoiser(C, H * W, true), {
      diffusion,
      shape: [C, H, W],
      batch: 1,
      seed: 1,
      eta: 0.5,
    });
    await expect(run).rejects.toThrow(/takes no eta/);
  });
});

describe('DPM-Solver++(2M) through the loop', () => {
  const diffusion = createDiffusion(learned, 'ddim8');
  const options = { diffusion, shape: [C, H, W] as [number, number, number], seed: 7 };

  it('sample k is the same alone or inside a batch; x_T is the seeded one (as DDIM)', async () => {
    const denoiser = toyDenoiser(C, H * W, true);
    const together = await dpmpp2mSample(denoiser, { ...options, batch: 4, firstSample: 10 });
    const alone = await dpmpp2mSample(denoiser, { ...options, batch: 1, firstSample: 12 });
    expect(alone).toEqual(together.subarray(2 * N, 3 * N));
    const firstInputs: Float32Array[] = [];
    const spy: Denoiser = (x, t, n) => {
      firstInputs.push(x.slice());
      return denoiser(x, t, n);
    };
    await ddimSample(spy, { ...options, batch: 1, firstSample: 12 });
    await dpmpp2mSample(spy, { ...options, batch: 1, firstSample: 12 });
    expect(firstInputs[8]).toEqual(firstInputs[0]);
    expect(firstInputs).toHaveLength(16);
    // and the solver is not DDIM: the second-order steps move the result
    expect(maxAbsDiff(alone, await ddimSample(denoiser, { ...options, batch: 1, firstSample: 12 }))).toBeGreaterThan(
      1e-4,
    );
  });

  it('PTQD correction applies to each call: exact coefficients undo a (1 + k) eps + b error', async () => {
    const times = Array.from({ length: diffusion.numSteps }, (_, i) => diffusion.modelTime(i));
    const kOf = (t: number) => 0.05 - 0.0001 * t;
    const biasOf = (t: number) => [0.01, -0.02 + 0.00001 * t, 0.03];
    const base = toyDenoiser(C, H * W, true);
    const distorted: Denoiser = async (x, t, batch) => {
      const out = await base(x, t, batch);
      for (let b = 0; b < batch; b++) {
        for (let c = 0; c < C; c++) {
          const row = (b * 2 * C + c) * H * W;
          for (let p = 0; p < H * W; p++) out[row + p] = (1 + kOf(t[b])) * out[row + p] + biasOf(t[b])[c];
        }
      }
      return out;
    };
    const correction: NoiseCorrection = {
      method: 'ptqd',
      steps: 'ddim8',
      t: times,
      k: times.map(kOf),
      bias: times.map(biasOf),
      residualVariance: times.map(() => 0.01),
    };
    const clean = await dpmpp2mSample(base, { ...options, batch: 2 });
    const broken = await dpmpp2mSample(distorted, { ...options, batch: 2 });
    const fixed = await dpmpp2mSample(distorted, { ...options, batch: 2, correction });
    expect(maxAbsDiff(clean, broken)).toBeGreaterThan(1e-2);
    expect(maxAbsDiff(clean, fixed)).toBeLessThan(1e-5);
  });

  it('sampleBy runs the named sampler; dpmpp2m is the URL spelling of dpm++2m', async () => {
    const denoiser = toyDenoiser(C, H * W, true);
    const opts = { ...options, batch: 1 };
    expect(await sampleBy('dpm++2m', denoiser, opts)).toEqual(await dpmpp2mSample(denoiser, opts));
    expect(await sampleBy('ddim', denoiser, opts)).toEqual(await ddimSample(denoiser, opts));
    expect(parseSamplerName('dpmpp2m')).toBe('dpm++2m');
    expect(parseSamplerName('DPM++2M')).toBe('dpm++2m');
    expect(parseSamplerName('ddpm')).toBe('ddpm');
    expect(parseSamplerName('euler')).toBeNull();
  });
});
