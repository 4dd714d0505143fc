// DPM-Solver++(2M) through the whole sampling path: mnist32 imported to ONNX, run in onnxruntime-node from a given
// x_T at 5, 10 and 20 model calls, against an independent float64 solver written from the paper driving
// improved-diffusion's own UNetModel in PyTorch (fixtures/dpmpp2m/make_reference.py).
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { decodeNpy } from '@qdm/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadFlags } from '../src/artifact/import.ts';
import { readCheckpoint } from '../src/checkpoint/index.ts';
import { buildUNet } from '../src/models/unet.ts';
import { encodeModel } from '../src/onnx/model.ts';
import { createSession, type Session, sessionDenoiser } from '../src/runtime/ort.ts';
import { sampleWith } from '../src/sampling/run.ts';
import { sharedPath } from './paths.ts';

const fixture = (path: string) =>
  decodeNpy(new Uint8Array(readFileSync(resolve(import.meta.dirname, 'fixtures', path)))).data as Float32Array;

const manifest = {
  model: { inChannels: 3, imageSize: 32 },
  diffusion: { diffusionSteps: 1000, noiseSchedule: 'cosine', learnSigma: true, rescaleTimesteps: true },
} as Parameters<typeof sampleWith>[1];

describe('DPM-Solver++(2M) on mnist32 against the float64 reference', () => {
  let session: Session;
  beforeAll(async () => {
    const flags = await loadFlags(sharedPath('models/mnist32/flags.json'));
    const checkpoint = await readCheckpoint(sharedPath('models/mnist32/ema.pt'));
    session = await createSession(encodeModel(buildUNet(flags.unet, checkpoint.tensors)));
  });
  afterAll(() => session?.release());

  for (const calls of [5, 10, 20]) {
    it(`${calls} model calls from the same x_T agree within 1e-3`, async () => {
      const seen: number[] = [];
      const denoiser = sessionDenoiser(session, { learnSigma: true });
      const result = await sampleWith(
        (x, t, n) => {
          seen.push(t[0]);
          return denoiser(x, t, n);
        },
        manifest,
        {
          firstSample: 0,
          count: 2,
          seed: 0,
          steps: `ddim${calls}`,
          eta: 0,
          batch: 2,
          sampler: 'dpm++2m',
          initNoise: fixture('ddim/x_T.npy'),
        },
      );
      expect(seen).toHaveLength(calls);
      const expected = fixture(`dpmpp2m/x0-ddim${calls}.npy`);
      let maxError = 0;
      for (let i = 0; i < expected.length; i++) maxError = Math.max(maxError, Math.abs(result.raw[i] - expected[i]));
      console.log(`dpm++2m ${calls} calls: max abs error vs the float64 reference ${maxError.toExponential(2)}`);
      expect(maxError).toBeLessThan(1e-3);
      // And not trivially: the samples are images, not the clip bounds, and not DDIM's.
      expect(new Set(expected).size).toBeGreaterThan(1000);
    });
  }

  it('is not DDIM: the same x_T and calls give a different image', async () => {
    const request = {
      firstSample: 0,
      count: 2,
      seed: 0,
      steps: 'ddim10',
      eta: 0,
      batch: 2,
      initNoise: fixture('ddim/x_T.npy'),
    };
    const denoiser = sessionDenoiser(session, { learnSigma: true });
    const dpm = await sampleWith(denoiser, manifest, { ...request, sampler: 'dpm++2m' });
    const ddim = await sampleWith(denoiser, manifest, { ...request, sampler: 'ddim' });
    let maxDiff = 0;
    for (let i = 0; i < dpm.raw.length; i++) maxDiff = Math.max(maxDiff, Math.abs(dpm.raw[i] - ddim.raw[i]));
    expect(maxDiff).toBeGreaterThan(1e-2);
  });
});
