/** DDIM and DDPM loops against improved-diffusion's ddim_sample_loop / p_sample_loop (fixtures/make_reference.py). */
import { describe, expect, it } from 'vitest';
import { ddimSample, ddimStep } from '../src/ddim.ts';
import { ddpmSample, ddpmStep } from '../src/ddpm.ts';
import { createDiffusion } from '../src/diffusion.ts';
import type { NoiseSource } from '../src/sample-loop.ts';
import { reference, type TrajectoryReference } from './reference.ts';
import { toyDenoiser } from './toy-denoiser.ts';

const [batch, channels, height, width] = reference.shape;
const perSample = channels * height * width;
const xT = Float32Array.from(reference.x_T);
const z = Float32Array.from(reference.z);

/** Python's z[i] for sample k, handed out exactly where our seeded noise would be drawn. */
const fedNoise: NoiseSource = (k, stream, count) => {
  expect(count).toBe(perSample);
  const start = (stream * batch + k) * perSample;
  return z.slice(start, start + perSample);
};

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  return worst;
}

/**
 * The float64 references are the exact math; ours rounds x to float32 after every step, so allow a few float32
 * ulps of the largest value (unclipped x_0 reaches ~160). The `_float32` reference is improved-diffusion as it
 * runs: float32 arithmetic with float32-rounded coefficients, a few 1e-6 off the exact values.
 */
function tolerance(ref: TrajectoryReference, expected: ArrayLike<number>): number {
  if (!ref.float64) return 1e-5;
  let largest = 1;
  for (let i = 0; i < expected.length; i++) largest = Math.max(largest, Math.abs(expected[i]));
  return 1e-6 * largest;
}

function diffusionFor(ref: TrajectoryReference) {
  return createDiffusion(
    {
      diffusionSteps: ref.diffusion_steps,
      noiseSchedule: ref.noise_schedule,
      learnSigma: ref.learn_sigma,
      rescaleTimesteps: ref.rescale_timesteps,
    },
    ref.respacing,
  );
}

describe('samplers against improved-diffusion', () => {
  for (const [name, ref] of Object.entries(reference.trajectories)) {
    it(`${name}: trajectory and final x_0`, async () => {
      const diffusion = diffusionFor(ref);
      const seen: number[] = [];
      const inputs: Float32Array[] = [];
      const toy = toyDenoiser(channels, height * width, ref.learn_sigma, seen);
      const denoiser = (x: Float32Array, t: Float32Array, n: number) => {
        inputs.push(x.slice());
        return toy(x, t, n);
      };
      const sample = ref.sampler === 'ddim' ? ddimSample : ddpmSample;
      const out = await sample(denoiser, {
        diffusion,
        shape: [channels, height, width],
        batch,
        seed: 0,
        eta: ref.eta,
        clipDenoised: ref.clip_denoised,
        initNoise: xT,
        noise: fedNoise,
      });
      expect(seen).toEqual(ref.model_times);
      expect(inputs[0]).toEqual(xT);
      // the denoiser's input at call j+1 is the sample after step j
      ref.samples.forEach((expected, j) => {
        const tol = tolerance(ref, expected);
        if (j + 1 < inputs.length) expect(maxAbsDiff(inputs[j + 1], expected), `step ${j}`).toBeLessThan(tol);
      });
      expect(maxAbsDiff(out, ref.final)).toBeLessThan(tolerance(ref, ref.final));
    });

    it(`${name}: first step's predicted x_0`, async () => {
      const diffusion = diffusionFor(ref);
      const index = diffusion.numSteps - 1;
      const t = new Float32Array(batch).fill(diffusion.modelTime(index));
      const modelOutput = await toyDenoiser(channels, height * width, ref.learn_sigma)(xT, t, batch);
      const noise = z.subarray(index * batch * perSample, (index + 1) * batch * perSample);
      const input = { diffusion, index, x: xT, modelOutput, batch, channels, clipDenoised: ref.clip_denoised, noise };
      const step = ref.sampler === 'ddim' ? ddimStep({ ...input, eta: ref.eta }) : ddpmStep(input);
      expect(maxAbsDiff(step.predXStart, ref.pred_xstart_first)).toBeLessThan(tolerance(ref, ref.pred_xstart_first));
      expect(maxAbsDiff(step.sample, ref.samples[0])).toBeLessThan(tolerance(ref, ref.samples[0]));
    });
  }
});
