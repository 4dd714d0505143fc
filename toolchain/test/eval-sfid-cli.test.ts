/**
 * sFID through `toolchain eval`: the classifier's `spatial` output (32 x 8 x 8, flattened to 2048) of the two
 * held-out MNIST halves against the exact value from PyTorch features + numpy (test/fixtures/eval/make_reference.py,
 * `fid_spatial_full`). One call: a 2048-d Frechet distance of singular covariances costs ~10 s of CPU.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeNpz } from '@qdm/shared';
import { afterAll, expect, it } from 'vitest';
import { decodeIdxImages, paddedDigits } from '../src/eval/mnist-idx.ts';
import { runCli } from './cli.ts';
import { fixtureDir, reference } from './fixtures/eval/fixtures.ts';
import { sharedPath } from './paths.ts';

const work = mkdtempSync(join(tmpdir(), 'qdm-sfid-cli-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

it('computes sFID from the spatial output picked by default (logits, features, spatial)', async () => {
  const idx = decodeIdxImages(new Uint8Array(readFileSync(sharedPath('data/mnist/t10k-images-idx3-ubyte.gz'))));
  const gray = paddedDigits(idx, 9500, 10000);
  const samples = join(work, 'b.npz');
  writeFileSync(samples, encodeNpz({ arr_0: { dtype: 'uint8', shape: [500, 32, 32, 1], data: gray } }));
  const classifier = sharedPath('models/mnist-classifier/mnist_classifier.onnx');
  const r = await runCli([
    'eval',
    '--samples',
    samples,
    '--ref',
    'mnist:9000-9499',
    '--features',
    classifier,
    '--json',
  ]);
  expect(r.code, r.stderr).toBe(0);
  const out = JSON.parse(r.stdout);
  expect(out.features.outputs).toEqual({ logits: 'logits', pool: 'features', spatial: 'spatial' });
  // 500 vs 500 images, all 32 channels: PyTorch features, tr sqrt from the singular values of the cross Gram matrix
  const spatialFull = JSON.parse(readFileSync(join(fixtureDir, 'reference.json'), 'utf8')).fid_spatial_full;
  expect(out.sfid).toBeCloseTo(spatialFull.exact, 3);
  expect(out.fid).toBeCloseTo(reference.fid_pool.exact, 4); // one-channel samples read like the RGB reference
}, 120_000);
