import { readFileSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { reference } from '../../test/fixtures/eval/fixtures.ts';
import { sharedPath } from '../../test/paths.ts';
import { GraphBuilder } from '../onnx/builder.ts';
import { encodeModel } from '../onnx/model.ts';
import { extractFeatures } from './features.ts';
import { decodeIdxImages, paddedDigits } from './mnist-idx.ts';
import { resizeBilinear } from './resize.ts';

const CLASSIFIER_OUTPUTS = { logits: 'logits', pool: 'features', spatial: 'spatial' };

function worstRelative(got: ArrayLike<number>, want: number[]): number {
  let worst = 0;
  for (let i = 0; i < want.length; i++)
    worst = Math.max(worst, Math.abs(got[i] - want[i]) / Math.max(1, Math.abs(want[i])));
  return worst;
}

/** A graph that returns its input unchanged (`pixels`) and its per-channel mean (`mean`). */
async function probeNetwork(shape: (number | string)[]): Promise<ort.InferenceSession> {
  const b = new GraphBuilder('probe');
  b.input('img', 'float32', shape);
  b.op('pixels', 'Identity', ['img']);
  b.op('mean', 'GlobalAveragePool', ['img']);
  b.output('pixels', 'float32', shape);
  b.output('mean', 'float32', [shape[0], shape[1], 1, 1]);
  return ort.InferenceSession.create(encodeModel(b.model({ opsetImports: [{ domain: '', version: 13 }] })));
}

describe('extractFeatures with the MNIST classifier', () => {
  let session: ort.InferenceSession;
  let digits: ReturnType<typeof decodeIdxImages>;
  const probe = reference.probe.indices;

  beforeAll(async () => {
    session = await ort.InferenceSession.create(sharedPath('models/mnist-classifier/mnist_classifier.onnx'));
    digits = decodeIdxImages(new Uint8Array(readFileSync(sharedPath('data/mnist/t10k-images-idx3-ubyte.gz'))));
  });
  afterAll(async () => session?.release());

  it('matches PyTorch logits, pool and spatial features on held-out digits (padded gray, batched)', async () => {
    const images = new Uint8Array(probe.length * 32 * 32);
    probe.forEach((idx, i) => {
      images.set(paddedDigits(digits, idx, idx + 1), i * 32 * 32);
    });
    const progress: number[] = [];
    const f = await extractFeatures(session, images, probe.length, 32, 32, {
      outputs: CLASSIFIER_OUTPUTS,
      batchSize: 3,
      onProgress: (done, total) => {
        progress.push(done);
        expect(total).toBe(probe.length);
      },
    });
    expect(progress).toEqual([3, 6, 8]);
    expect([f.logits?.dim, f.pool?.dim, f.spatial?.dim]).toEqual([10, 128, 2048]);
    expect(worstRelative(f.logits!.data, reference.probe.logits.flat())).toBeLessThan(1e-4);
    expect(worstRelative(f.pool!.data, reference.probe.pool.flat())).toBeLessThan(1e-4);
    const head = probe.flatMap((_, i) => Array.from(f.spatial!.data.subarray(i * 2048, i * 2048 + 64)));
    expect(worstRelative(head, reference.probe.spatial_head.flat())).toBeLessThan(1e-4);
  });

  it('resizes 28x28 digits to the fixed 32x32 input like torch bilinear interpolate', async () => {
    const images = new Uint8Array(probe.length * 28 * 28);
    probe.forEach((idx, i) => {
      images.set(digits.pixels.subarray(idx * 784, (idx + 1) * 784), i * 784);
    });
    const f = await extractFeatures(session, images, probe.length, 28, 28, { outputs: { logits: 'logits' } });
    expect(f.pool).toBeUndefined();
    expect(worstRelative(f.logits!.data, reference.probe.resized_logits.flat())).toBeLessThan(1e-4);
  });

  it('names a missing output', async () => {
    await expect(
      extractFeatures(session, new Uint8Array(32 * 32), 1, 32, 32, { outputs: { pool: 'pool_3' } }),
    ).rejects.toThrow(/no output "pool_3"/);
  });
});

describe('extractFeatures preprocessing', () => {
  // NHWC uint8 RGB images with distinct values per pixel and channel
  const rgb = (n: number, h: number, w: number) => Uint8Array.from({ length: n * h * w * 3 }, (_, i) => (i * 37) % 256);

  it('feeds x / 127.5 - 1 in NCHW at the images own size when H and W are symbolic', async () => {
    const session = await probeNetwork(['n', 3, 'h', 'w']);
    const [n, h, w] = [2, 5, 7];
    const images = rgb(n, h, w);
    const f = await extractFeatures(session, images, n, h, w, { outputs: { pool: 'pixels', logits: 'mean' } });
    expect(f.pool!.dim).toBe(3 * h * w);
    for (let b = 0; b < n; b++) {
      for (let c = 0; c < 3; c++) {
        for (let p = 0; p < h * w; p++) {
          const want = Math.fround(images[(b * h * w + p) * 3 + c] / 127.5 - 1);
          expect(f.pool!.data[(b * 3 + c) * h * w + p]).toBe(want);
        }
      }
    }
    // GlobalAveragePool: per-channel means
    const mean0 = Array.from({ length: h * w }, (_, p) => images[p * 3] / 127.5 - 1).reduce((s, v) => s + v) / (h * w);
    expect(f.logits!.data[0]).toBeCloseTo(mean0, 6);
    await session.release();
  });

  it('repeats gray into 3 channels and pads the last batch of a fixed-batch network', async () => {
    const session = await probeNetwork([4, 3, 4, 4]);
    const gray = Uint8Array.from({ length: 6 * 16 }, (_, i) => (i * 11) % 256);
    const done: number[] = [];
    const f = await extractFeatures(session, gray, 6, 4, 4, {
      outputs: { pool: 'pixels' },
      batchSize: 5, // ignored: the network fixes 4
      onProgress: (d) => done.push(d),
    });
    expect(done).toEqual([4, 6]);
    expect(f.pool!.rows).toBe(6);
    for (let b = 0; b < 6; b++) {
      for (let c = 0; c < 3; c++) {
        for (let p = 0; p < 16; p++)
          expect(f.pool!.data[(b * 3 + c) * 16 + p]).toBe(Math.fround(gray[b * 16 + p] / 127.5 - 1));
      }
    }
    await session.release();
  });

  it('turns RGB into BT.601 luma for a 1-channel network and resizes to its fixed size', async () => {
    const session = await probeNetwork(['n', 1, 6, 3]);
    const images = rgb(1, 4, 5);
    const f = await extractFeatures(session, images, 1, 4, 5, { outputs: { pool: 'pixels' } });
    const luma = Float32Array.from({ length: 20 }, (_, p) => {
      const [r, g, b] = [images[p * 3], images[p * 3 + 1], images[p * 3 + 2]];
      return (0.299 * r + 0.587 * g + 0.114 * b) / 127.5 - 1;
    });
    const want = resizeBilinear(luma, 1, 4, 5, 6, 3);
    expect(f.pool!.dim).toBe(18);
    for (let i = 0; i < 18; i++) expect(f.pool!.data[i]).toBeCloseTo(want[i], 6);
    await session.release();
  });

  it('rejects images of the wrong size and channel combinations it cannot map', async () => {
    const session = await probeNetwork(['n', 2, 'h', 'w']);
    await expect(
      extractFeatures(session, new Uint8Array(10), 1, 2, 2, { outputs: { pool: 'pixels' } }),
    ).rejects.toThrow(/neither/);
    await expect(extractFeatures(session, rgb(1, 2, 2), 1, 2, 2, { outputs: { pool: 'pixels' } })).rejects.toThrow(
      /3-channel images to a 2-channel/,
    );
    await expect(extractFeatures(session, rgb(1, 2, 2), 1, 2, 2, { outputs: {} })).rejects.toThrow(/at least one/);
    await session.release();
  });
});
