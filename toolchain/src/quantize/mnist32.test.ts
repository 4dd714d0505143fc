/**
 * The real mnist32 checkpoint through the whole pipeline on a small calibration set: integer kernels after
 * fusion, a file under 0.3x fp32, and an epsilon SQNR against fp32 that a broken quantizer cannot reach.
 */
import { readFileSync } from 'node:fs';
import { createDiffusion } from '@qdm/shared';
import { describe, expect, it } from 'vitest';
import { sharedPath } from '../../test/paths.ts';
import { collectCalibration } from '../calibrate/trajectory.ts';
import { readCheckpoint } from '../checkpoint/index.ts';
import { parseFlags } from '../models/flags.ts';
import { buildUNet } from '../models/unet.ts';
import { encodeModel } from '../onnx/model.ts';
import { createSession, sessionDenoiser } from '../runtime/ort.ts';
import { quantizeModel } from './pipeline.ts';

describe('mnist32, full W8A8', () => {
  it('fuses, shrinks and tracks fp32 epsilon', async () => {
    const { unet, diffusion: d } = parseFlags(
      JSON.parse(readFileSync(sharedPath('models/mnist32/flags.json'), 'utf8')),
    );
    const fp32 = buildUNet(unet, (await readCheckpoint(sharedPath('models/mnist32/ema.pt'))).tensors);
    const diffusion = createDiffusion(
      {
        diffusionSteps: d.diffusionSteps,
        noiseSchedule: d.noiseSchedule,
        learnSigma: d.learnSigma,
        rescaleTimesteps: d.rescaleTimesteps,
      },
      'ddim10',
    );
    const session = await createSession(encodeModel(fp32), { threads: 2 });
    const calibration = await collectCalibration(sessionDenoiser(session, { learnSigma: true }), {
      diffusion,
      shape: [3, 32, 32],
      policy: { kind: 'uniform' },
      samples: 40,
      trajectories: 4,
      batch: 4,
      seed: 5,
      noise: 'gaussian',
    });
    await session.release();
    const { report } = await quantizeModel({
      fp32,
      calibration,
      scheme: 'full',
      weightBits: 8,
      activationBits: 8,
      threads: 2,
      evaluation: { sites: 4, epsilon: 40 },
    });
    expect(report.integerNodes.QLinearConv).toBeGreaterThan(50);
    expect(report.fusion.floatLayerTotal).toBe(2); // the image-space ends
    expect(report.bytes.ratio).toBeLessThan(0.3);
    const eps = report.epsilonSqnrByStep.filter((v): v is number => v !== null);
    expect(eps).toHaveLength(10);
    // Noisy half of the trajectory: epsilon within ~3% RMS of fp32 (measured ~37 dB).
    const noisy = eps.slice(5).reduce((a, b) => a + b) / 5;
    expect(noisy).toBeGreaterThan(30);
    expect(report.layers.every((l) => l.weightSqnrDb > 30)).toBe(true);
  });
});
