/** PTQD correction in the samplers: lookup by t, exact inversion of a known error, variance taken out of the noise. */
import { describe, expect, it } from 'vitest';
import { ddimSample, ddimStep } from '../src/ddim.ts';
import type { Denoiser } from '../src/denoiser.ts';
import { createDiffusion, type DiffusionConfig } from '../src/diffusion.ts';
import { parseManifest } from '../src/manifest.ts';
import { correctEpsilon, correctionAt, type NoiseCorrection, noiseCorrectionProblem } from '../src/noise-correction.ts';
import { toyDenoiser } from './toy-denoiser.ts';

const C = 3;
const H = 4;
const W = 4;
const P = H * W;
const config: DiffusionConfig = {
  diffusionSteps: 1000,
  noiseSchedule: 'linear',
  learnSigma: true,
  rescaleTimesteps: true,
};
const diffusion = createDiffusion(config, 'ddim8');
const times = Array.from({ length: diffusion.numSteps }, (_, i) => diffusion.modelTime(i));
const kOf = (t: number) => 0.05 - 0.0001 * t;
const biasOf = (t: number) => [0.01, -0.02 + 0.00001 * t, 0.03];

/** The toy model with a known PTQD-shaped error: eps_q = (1 + k_t) eps + b_t (variance channels untouched). */
function distorted(base: Denoiser): Denoiser {
  return async (x, t, batch) => {
    const out = await base(x, t, batch);
    for (let b = 0; b < batch; b++) {
      const bias = biasOf(t[b]);
      for (let c = 0; c < C; c++) {
        const row = (b * 2 * C + c) * P;
        for (let p = 0; p < P; p++) out[row + p] = (1 + kOf(t[b])) * out[row + p] + bias[c];
      }
    }
    return out;
  };
}

const exact: NoiseCorrection = {
  method: 'ptqd',
  steps: 'ddim8',
  t: times,
  k: times.map(kOf),
  bias: times.map(biasOf),
  residualVariance: times.map(() => 0),
};

describe('PTQD correction in the DDIM loop', () => {
  it('exact coefficients undo a (1 + k) eps + bias error: same samples as the clean model', async () => {
    const base = toyDenoiser(C, P, true);
    const opts = { diffusion, shape: [C, H, W] as [number, number, number], batch: 2, seed: 3 };
    const clean = await ddimSample(base, opts);
    const broken = await ddimSample(distorted(base), opts);
    const fixed = await ddimSample(distorted(base), { ...opts, correction: exact });
    const maxDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);
    expect(maxDiff(clean, broken)).toBeGreaterThan(1e-2);
    expect(maxDiff(clean, fixed)).toBeLessThan(1e-5);
  });

  it('a variant without coefficients samples exactly as before', async () => {
    const base = toyDenoiser(C, P, true);
    const opts = { diffusion, shape: [C, H, W] as [number, number, number], batch: 1, seed: 5, eta: 0.5 };
    expect(await ddimSample(base, { ...opts, correction: undefined })).toEqual(await ddimSample(base, opts));
  });

  it('interpolates by t between fitted steps and clamps outside them', () => {
    const c: NoiseCorrection = {
      ...exact,
      t: [100, 300],
      k: [0.1, 0.3],
      bias: [
        [0, 0, 0],
        [2, 4, 6],
      ],
      residualVariance: [1, 3],
    };
    expect(correctionAt(c, 150)).toEqual({ k: 0.15, bias: [0.5, 1, 1.5], residualVariance: 1.5 });
    expect(correctionAt(c, 300).k).toBe(0.3);
    expect(correctionAt(c, 50).k).toBe(0.1);
    expect(correctionAt(c, 900).bias).toEqual([2, 4, 6]);
  });

  it('correctEpsilon leaves the learned-variance channels alone', () => {
    const out = new Float32Array(2 * C * P).fill(1.5);
    const fixed = correctEpsilon(out, { k: 0.5, bias: [0.5, 0.5, 0.5], residualVariance: 0 }, 1, C, 2 * C);
    expect(fixed.subarray(0, C * P).every((v) => Math.abs(v - 2 / 3) < 1e-6)).toBe(true);
    expect(fixed.subarray(C * P).every((v) => v === 1.5)).toBe(true);
  });

  it('eta > 0: the residual variance comes out of the added noise (and never below zero)', () => {
    const index = 4;
    const x = new Float32Array(C * P).fill(0.3);
    const modelOutput = new Float32Array(2 * C * P).fill(0.1);
    const noise = new Float32Array(C * P).fill(1);
    const step = (v: number) =>
      ddimStep({ diffusion, index, x, modelOutput, batch: 1, channels: C, eta: 1, noise, epsilonNoiseVariance: v })
        .sample[0];
    const noNoise = ddimStep({ diffusion, index, x, modelOutput, batch: 1, channels: C, eta: 0 }).sample[0];
    const abar = diffusion.alphasCumprod[index];
    const prev = diffusion.alphasCumprodPrev[index];
    const sigma = Math.sqrt((1 - prev) / (1 - abar)) * Math.sqrt(1 - abar / prev);
    const direction = Math.sqrt(1 - prev - sigma * sigma);
    const gain = direction - Math.sqrt(prev) * Math.sqrt(1 / abar - 1);
    const v = 0.25 * (sigma / gain) ** 2;
    // eta 1 vs eta 0 differ in the direction term too; compare against eta 1 with no residual.
    const full = step(0);
    expect(full).not.toBeCloseTo(noNoise, 3);
    expect(step(v) - (full - sigma)).toBeCloseTo(Math.sqrt(sigma * sigma - gain * gain * v), 6);
    expect(step(1e6) - (full - sigma)).toBeCloseTo(0, 6);
  });
});

describe('noiseCorrection in the manifest', () => {
  const manifest = (noiseCorrection: unknown) => ({
    schema: 'qdm.artifact/1',
    name: 'm',
    createdAt: '2026-01-01T00:00:00Z',
    model: {
      architecture: 'improved-diffusion-unet',
      imageSize: 4,
      inChannels: 3,
      outChannels: 6,
      classCond: false,
      parameters: 1,
      flags: {},
    },
    diffusion: {
      diffusionSteps: 1000,
      noiseSchedule: 'linear',
      learnSigma: true,
      rescaleTimesteps: true,
      timestepRespacing: '',
    },
    variants: {
      int8: { file: 'model.int8.onnx', bytes: 1, sha256: 'a'.repeat(64), precision: 'w8a8', noiseCorrection },
    },
  });

  it('accepts well-formed coefficients', () => {
    expect(parseManifest(manifest(exact)).variants.int8.noiseCorrection?.k).toEqual(exact.k);
  });

  it('names the bad field', () => {
    expect(() => parseManifest(manifest({ ...exact, k: exact.k.slice(1) }))).toThrow(
      /variants\.int8\.noiseCorrection: k must hold 8/,
    );
    expect(noiseCorrectionProblem({ ...exact, t: [...exact.t].reverse() }, 3)).toMatch(/strictly increasing/);
    expect(noiseCorrectionProblem({ ...exact, bias: exact.bias.map((b) => b.slice(1)) }, 3)).toMatch(/bias/);
  });
});
