/**
 * `--features inception --features-checkpoint FILE`: the FID Inception-v3 built by the toolchain from a checkpoint
 * file. pytorch-fid's real weights (95 MB) are not available offline, so the checkpoint here holds the hashed
 * random weights of the Inception builder's own tests (written as .npz, which readCheckpoint reads like a .pth);
 * this checks the wiring (read, build, run, roles by output name), not the numbers, which models/inception.test.ts
 * matches against pytorch-fid.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeNpz, type Tensor } from '@qdm/shared';
import { afterAll, expect, it } from 'vitest';
import { runCli } from './cli.ts';
import { inceptionHashWeights } from './fixtures/inception/hash-weights.ts';
import { repoRoot } from './paths.ts';

const work = mkdtempSync(join(tmpdir(), 'qdm-inception-cli-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

it('builds the FID Inception from --features-checkpoint and scores samples with it', async () => {
  const reference = JSON.parse(
    readFileSync(join(repoRoot, 'toolchain/test/fixtures/inception/reference.json'), 'utf8'),
  );
  const weights = inceptionHashWeights(reference.seed, reference.keys);
  const checkpoint = join(work, 'fid-inception.npz');
  writeFileSync(checkpoint, encodeNpz(Object.fromEntries(weights) as Record<string, Tensor>));
  const images = new Uint8Array(3 * 32 * 32 * 3).map((_, i) =>
    Math.floor(((Math.sin(i * 12.9898) * 43758.5453) % 1) * 128 + 128),
  );
  const samples = join(work, 'samples.npz');
  writeFileSync(samples, encodeNpz({ arr_0: { dtype: 'uint8', shape: [3, 32, 32, 3], data: images } }));

  // NOTE: IS only: a 2048-d Frechet distance would add ~10 s of CPU and test nothing more of this path.
  const args = ['eval', '--samples', samples, '--features', 'inception', '--features-checkpoint', checkpoint];
  const r = await runCli([...args, '--features-outputs', 'logits,-,-', '--json']);
  expect(r.code, r.stderr).toBe(0);
  const out = JSON.parse(r.stdout);
  expect(out.features.name).toBe('fid-inception-v3 (fid-inception.npz)');
  expect(out.features.outputs).toEqual({ logits: 'logits' });
  expect(out.is).toBeGreaterThan(1); // three different images
  expect(out.is).toBeLessThanOrEqual(3); // at most the number of images

  const missing = await runCli(['eval', '--samples', samples, '--features', 'inception'], {
    env: { TORCH_HOME: join(work, 'no-torch-home') },
  });
  expect(missing.code).toBe(1);
  expect(missing.stderr).toMatch(
    /needs pytorch-fid's weights .* download https:\/\/github\.com\/mseitzer\/pytorch-fid/,
  );
}, 120_000);
