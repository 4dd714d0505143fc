import { gaussianNoise } from '@qdm/shared';
import { describe, expect, it } from 'vitest';
import type { CalibrationSet } from '../../calibrate/trajectory.ts';
import { fitNoiseCorrection } from './noise-correction.ts';

const C = 3;
const P = 64;
const times = [12.5, 260, 511.25, 990];
const k = [0.08, -0.03, 0.015, -0.12];
const bias = [
  [0.02, -0.01, 0.005],
  [-0.04, 0.03, 0],
  [0.001, 0.002, -0.003],
  [0.1, -0.2, 0.05],
];
const noiseStd = [0.01, 0.05, 0.002, 0.1];

/** A deterministic "fp32" denoiser of x and t, learn_sigma layout (2C channels). */
const reference = async (x: Float32Array, t: Float32Array, batch: number) => {
  const out = new Float32Array(batch * 2 * C * P);
  for (let b = 0; b < batch; b++) {
    for (let c = 0; c < C; c++) {
      for (let p = 0; p < P; p++) {
        const v = x[(b * C + c) * P + p];
        out[(b * 2 * C + c) * P + p] = Math.tanh(0.8 * v + 0.001 * t[b] * (c + 1)) + 0.3 * c;
        out[(b * 2 * C + C + c) * P + p] = 0.5;
      }
    }
  }
  return out;
};

/** The "quantized" one: (1 + k_t) eps + b_t + noise of a known std (seeded per pair). */
let calls = 0;
const quantized = async (x: Float32Array, t: Float32Array, batch: number) => {
  const out = await reference(x, t, batch);
  for (let b = 0; b < batch; b++) {
    const s = times.indexOf(t[b]);
    const z = gaussianNoise(9, calls++, 0, C * P);
    for (let c = 0; c < C; c++) {
      for (let p = 0; p < P; p++) {
        const i = (b * 2 * C + c) * P + p;
        out[i] = (1 + k[s]) * out[i] + bias[s][c] + noiseStd[s] * z[c * P + p];
      }
    }
  }
  return out;
};

function calibration(perStep: number): CalibrationSet {
  const count = perStep * times.length;
  const x = new Float32Array(count * C * P);
  const t = new Float32Array(count);
  const stepIndex = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    x.set(gaussianNoise(4, i, 0, C * P), i * C * P);
    t[i] = times[i % times.length];
    stepIndex[i] = i % times.length;
  }
  return { x, t, stepIndex, count, shape: [C, 8, 8] };
}

describe('PTQD fit on a synthetic denoiser with a known (1 + k) eps + bias error', () => {
  it('recovers k, the per-channel bias and the residual variance at every t', async () => {
    const fit = await fitNoiseCorrection(reference, quantized, calibration(40), {
      steps: 'test',
      outChannels: 2 * C,
      batch: 7,
    });
    expect(fit.t).toEqual(times);
    for (let s = 0; s < times.length; s++) {
      expect(Math.abs(fit.k[s] - k[s])).toBeLessThan(3 * noiseStd[s] * 0.02 + 1e-6);
      for (let c = 0; c < C; c++)
        expect(Math.abs(fit.bias[s][c] - bias[s][c])).toBeLessThan(5 * noiseStd[s] * 0.01 + 1e-6);
      expect(fit.residualVariance[s] / noiseStd[s] ** 2).toBeCloseTo(1, 1);
    }
  });

  it('without noise the fit is exact', async () => {
    const clean = async (x: Float32Array, t: Float32Array, batch: number) => {
      const out = await reference(x, t, batch);
      for (let b = 0; b < batch; b++) {
        const s = times.indexOf(t[b]);
        for (let c = 0; c < C; c++) {
          for (let p = 0; p < P; p++)
            out[(b * 2 * C + c) * P + p] = (1 + k[s]) * out[(b * 2 * C + c) * P + p] + bias[s][c];
        }
      }
      return out;
    };
    const fit = await fitNoiseCorrection(reference, clean, calibration(3), { steps: 'test', outChannels: 2 * C });
    for (let s = 0; s < times.length; s++) {
      expect(fit.k[s]).toBeCloseTo(k[s], 5);
      for (let c = 0; c < C; c++) expect(fit.bias[s][c]).toBeCloseTo(bias[s][c], 5);
      expect(fit.residualVariance[s]).toBeLessThan(1e-10);
    }
  });

  it('an identical model fits k = 0, bias 0, variance 0', async () => {
    const fit = await fitNoiseCorrection(reference, reference, calibration(2), { steps: 'test', outChannels: 2 * C });
    expect(fit.k.every((v) => v === 0)).toBe(true);
    expect(fit.residualVariance.every((v) => v === 0)).toBe(true);
  });
});
