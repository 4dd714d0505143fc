import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeNpy } from '@qdm/shared';
import { describe, expect, it } from 'vitest';
import { hashInput, hashWeights } from '../../test/fixtures/unet/hash-tensors.ts';
import { repoRoot, sharedPath } from '../../test/paths.ts';
import { parseFlags } from '../models/flags.ts';
import { buildUNet } from '../models/unet.ts';
import { unetConvMacs, unetLayout } from '../models/unet-layout.ts';
import { encodeModel } from '../onnx/model.ts';
import { chooseThreads, createSession, sessionDenoiser, withSession } from './ort.ts';

const fixtures = join(repoRoot, 'toolchain/test/fixtures/unet');
const reference = JSON.parse(readFileSync(join(fixtures, 'reference.json'), 'utf8'));

function referenceModel(name: string) {
  const c = reference.cases.find((r: { name: string }) => r.name === name);
  const { unet } = parseFlags(c.flags);
  const bytes = encodeModel(buildUNet(unet, hashWeights(c.seed, c.keys)));
  const size = unet.imageSize;
  const x = hashInput(c.seed, reference.input_stream, [reference.batch, 3, size, size]);
  const expected = decodeNpy(readFileSync(join(fixtures, `${name}.npy`))).data as Float32Array;
  return { c, bytes, x, expected };
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  return a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);
}

describe('sessionDenoiser', () => {
  it('runs the U-Net on (x, t, batch), reading [C,H,W] from the session', async () => {
    const { c, bytes, x, expected } = referenceModel('plain');
    await withSession(bytes, { threads: 1, optimization: 'extended' }, async (session) => {
      const denoise = sessionDenoiser(session);
      const out = await denoise(x, Float32Array.from(c.t), reference.batch);
      expect(maxAbsDiff(out, expected)).toBeLessThanOrEqual(1e-4);
      await expect(denoise(x.subarray(1), Float32Array.from(c.t), 2)).rejects.toThrow(/x has 383 values/);
      await expect(denoise(x, Float32Array.of(1), 2)).rejects.toThrow(/t has 1 values for batch 2/);
    });
  });

  it('feeds class labels to class-conditional models', async () => {
    const { c, bytes, x, expected } = referenceModel('class-cond');
    await withSession(bytes, { threads: 1 }, async (session) => {
      expect(() => sessionDenoiser(session)).toThrow(/needs labels/);
      const denoise = sessionDenoiser(session, {
        shape: [3, 16, 16],
        learnSigma: true,
        labels: (batch) => BigInt64Array.from(c.y.slice(0, batch), BigInt),
      });
      const out = await denoise(x, Float32Array.from(c.t), reference.batch);
      expect(maxAbsDiff(out, expected)).toBeLessThanOrEqual(1e-4);
    });
  });
});

describe('createSession', () => {
  it('gives the same outputs at every optimization level', async () => {
    const { c, bytes, x } = referenceModel('plain');
    const outputs: Float32Array[] = [];
    for (const optimization of ['disabled', 'basic', 'all'] as const) {
      await withSession(bytes, { threads: 1, optimization }, async (session) => {
        outputs.push(await sessionDenoiser(session)(x, Float32Array.from(c.t), reference.batch));
      });
    }
    expect(maxAbsDiff(outputs[0], outputs[1])).toBeLessThanOrEqual(1e-5);
    expect(maxAbsDiff(outputs[0], outputs[2])).toBeLessThanOrEqual(1e-5);
  });

  it('refuses a bad thread count', async () => {
    await expect(createSession(new Uint8Array(), { threads: 0 })).rejects.toThrow(/threads must be a positive integer/);
  });

  it('releases the session even when the callback throws', async () => {
    const { c, bytes, x } = referenceModel('plain');
    let denoise: ReturnType<typeof sessionDenoiser> | undefined;
    await expect(
      withSession(bytes, { threads: 1 }, async (session) => {
        denoise = sessionDenoiser(session);
        await denoise(x, Float32Array.from(c.t), reference.batch); // works while held
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    await expect(denoise!(x, Float32Array.from(c.t), reference.batch)).rejects.toThrow();
  });
});

describe('chooseThreads', () => {
  const mnist32 = unetConvMacs(
    unetLayout(parseFlags(JSON.parse(readFileSync(sharedPath('models/mnist32/flags.json'), 'utf8'))).unet),
  );
  const cifar10 = unetConvMacs(
    unetLayout(parseFlags('--image_size 32 --num_channels 128 --num_res_blocks 3 --learn_sigma True').unet),
  );

  it('one thread for mnist32 at batch 1 (faster there than two), more as the batch grows', () => {
    expect(mnist32 / 1e9).toBeCloseTo(0.229, 3);
    expect(chooseThreads(mnist32, 2)).toBe(1);
    expect(chooseThreads(mnist32 * 4, 16)).toBe(1);
    expect(chooseThreads(mnist32 * 16, 2)).toBe(2);
    expect(chooseThreads(mnist32 * 16, 16)).toBe(3);
  });

  it('the CIFAR-10 U-Net keeps the cores; never 0 or more than the cores', () => {
    expect(cifar10 / 1e9).toBeCloseTo(7.126, 2);
    expect(chooseThreads(cifar10, 2)).toBe(2);
    expect(chooseThreads(cifar10, 16)).toBe(7);
    expect(chooseThreads(cifar10 * 16, 16)).toBe(16);
    for (const bad of [0, -1, Number.NaN]) expect(chooseThreads(bad, 8)).toBe(1);
  });
});
