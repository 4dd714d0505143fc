// The real model through the whole sampling path: mnist32 imported to ONNX, 10 DDIM steps in onnxruntime-node
// from a given x_T, against improved-diffusion's own ddim_sample_loop in PyTorch (fixtures/ddim/make_reference.py).
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { decodeNpy } from '@qdm/shared';
import { describe, expect, it } from 'vitest';
import { loadFlags } from '../src/artifact/import.ts';
import { readCheckpoint } from '../src/checkpoint/index.ts';
import { buildUNet } from '../src/models/unet.ts';
import { encodeModel } from '../src/onnx/model.ts';
import { createSession, sessionDenoiser } from '../src/runtime/ort.ts';
import { sampleWith } from '../src/sampling/run.ts';
import { sharedPath } from './paths.ts';

const fixture = (name: string) =>
  decodeNpy(new Uint8Array(readFileSync(resolve(import.meta.dirname, 'fixtures/ddim', name)))).data as Float32Array;

describe('DDIM on mnist32 against improved-diffusion', () => {
  it('10 steps from the same x_T agree within 1e-3', async () => {
    const flags = await loadFlags(sharedPath('models/mnist32/flags.json'));
    const checkpoint = await readCheckpoint(sharedPath('models/mnist32/ema.pt'));
    const session = await createSession(encodeModel(buildUNet(flags.unet, checkpoint.tensors)));
    const manifest = {
      model: { inChannels: 3, imageSize: 32 },
      diffusion: { diffusionSteps: 1000, noiseSchedule: 'cosine', learnSigma: true, rescaleTimesteps: true },
    } as Parameters<typeof sampleWith>[1];
    const result = await sampleWith(sessionDenoiser(session, { learnSigma: true }), manifest, {
      firstSample: 0,
      count: 2,
      seed: 0,
      steps: 'ddim10',
      eta: 0,
      batch: 2,
      sampler: 'ddim',
      initNoise: fixture('x_T.npy'),
    });
    await session.release();
    const expected = fixture('x0.npy');
    let maxError = 0;
    for (let i = 0; i < expected.length; i++) maxError = Math.max(maxError, Math.abs(result.raw[i] - expected[i]));
    console.log(`ddim10 max abs error vs PyTorch: ${maxError}`);
    expect(maxError).toBeLessThan(1e-3);
    // And not trivially: the samples are images, not the clip bounds.
    expect(new Set(expected).size).toBeGreaterThan(1000);
  });
});
