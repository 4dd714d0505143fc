import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeNpy } from '@qdm/shared';
import { expect, it } from 'vitest';
import { hashInput } from '../../test/fixtures/unet/hash-tensors.ts';
import { repoRoot, sharedPath } from '../../test/paths.ts';
import { readCheckpoint } from '../checkpoint/index.ts';
import { encodeModel } from '../onnx/model.ts';
import { sessionDenoiser, withSession } from '../runtime/ort.ts';
import { parseFlags } from './flags.ts';
import { buildUNet } from './unet.ts';

const fixtures = join(repoRoot, 'toolchain/test/fixtures/unet');

it.each([
  ['plain', undefined],
  ['winograd F(4x4,3x3)', 4],
] as const)(
  'the trained mnist32 checkpoint matches improved-diffusion UNetModel within 1e-4 (%s)',
  async (_, winograd) => {
    const reference = JSON.parse(readFileSync(join(fixtures, 'reference.json'), 'utf8'));
    const c = reference.cases.find((r: { name: string }) => r.name === 'mnist32');
    const flags = parseFlags(JSON.parse(readFileSync(sharedPath('models/mnist32/flags.json'), 'utf8')));
    const { tensors } = await readCheckpoint(sharedPath('models/mnist32/ema.pt'));
    const bytes = encodeModel(buildUNet(flags.unet, tensors, { winograd }));
    const n = reference.batch;
    const x = hashInput(c.seed, reference.input_stream, [n, 3, 32, 32]);
    const expected = decodeNpy(readFileSync(join(fixtures, 'mnist32.npy')));
    expect(expected.shape).toEqual([n, 6, 32, 32]);
    await withSession(bytes, { threads: 1 }, async (session) => {
      const out = await sessionDenoiser(session)(x, Float32Array.from(c.t), n);
      const want = expected.data as Float32Array;
      let maxDiff = 0;
      for (let i = 0; i < want.length; i++) maxDiff = Math.max(maxDiff, Math.abs(out[i] - want[i]));
      expect(out.length).toBe(want.length);
      expect(maxDiff).toBeLessThanOrEqual(1e-4);
    });
  },
);
