/**
 * `toolchain eval` end to end on MNIST: the held-out digits 9000..9999 split in halves, the MNIST classifier as the
 * feature network. Expected numbers come from PyTorch + numpy/scipy (test/fixtures/eval/make_reference.py): FID
 * of the pool features of the halves, precision/recall with the first half as reference, IS of all 1000.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeNpz, encodeNpz } from '@qdm/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeIdxImages, paddedDigits } from '../src/eval/mnist-idx.ts';
import { loadReferenceStats, saveReferenceStats } from '../src/eval/reference-stats.ts';
import { runCli } from './cli.ts';
import { reference } from './fixtures/eval/fixtures.ts';
import { sharedPath } from './paths.ts';

const work = mkdtempSync(join(tmpdir(), 'qdm-eval-cli-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const classifier = sharedPath('models/mnist-classifier/mnist_classifier.onnx');
// NOTE: the spatial role is left out here: its 2048-d Frechet distance takes ~10 s of CPU per call
// (eval-sfid-cli.test.ts covers it once).
const features = ['--features', classifier, '--features-outputs', 'logits,features,-'];
const KEYS = ['is', 'fid', 'sfid', 'precision', 'recall', 'n_samples', 'n_ref'];

/** Evaluator-format .npz of MNIST test images [first, last): padded to 32x32, gray in RGB. */
function writeDigits(name: string, first: number, last: number, opts: { pad?: number; key?: string } = {}): string {
  const idx = decodeIdxImages(new Uint8Array(readFileSync(sharedPath('data/mnist/t10k-images-idx3-ubyte.gz'))));
  const pad = opts.pad ?? 2;
  const gray = paddedDigits(idx, first, last, pad);
  const rgb = new Uint8Array(gray.length * 3);
  for (let i = 0; i < gray.length; i++) rgb.fill(gray[i], 3 * i, 3 * i + 3);
  const size = 28 + 2 * pad;
  const path = join(work, name);
  const tensor = { dtype: 'uint8' as const, shape: [last - first, size, size, 3], data: rgb };
  writeFileSync(path, encodeNpz({ [opts.key ?? 'arr_0']: tensor }));
  return path;
}

async function evalJson(args: string[]) {
  const r = await runCli(['eval', ...args, '--json']);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout);
}

let halfA: string;
let halfB: string;
beforeAll(() => {
  halfA = writeDigits('a.npz', 9000, 9500);
  halfB = writeDigits('b.npz', 9500, 10000);
});

describe('toolchain eval', () => {
  it('matches the PyTorch/scipy FID and precision/recall of the two held-out halves', async () => {
    const out = await evalJson(['--samples', halfB, '--ref', halfA, ...features]);
    for (const key of KEYS) expect(out).toHaveProperty(key);
    expect(out.n_samples).toBe(500);
    expect(out.n_ref).toBe(500);
    expect(out.fid).toBeCloseTo(reference.fid_pool.exact, 4);
    // float32 features from onnxruntime vs torch: a point on a ball's border may flip (1/500 = 0.002)
    expect(Math.abs(out.precision - reference.pr.precision)).toBeLessThanOrEqual(0.002);
    expect(Math.abs(out.recall - reference.pr.recall)).toBeLessThanOrEqual(0.002);
    expect(out.sfid).toBeNull();
    expect(out.reasons.sfid).toMatch(/spatial/);
    expect(out.is).toBeGreaterThan(1);
    expect(out.is).toBeLessThanOrEqual(10);
  });

  it('reads the reference straight from the MNIST file (mnist:A-B), with the same numbers', async () => {
    const fromFile = await evalJson(['--samples', halfB, '--ref', halfA, ...features]);
    const fromMnist = await evalJson(['--samples', halfB, '--ref', 'mnist:9000-9499', ...features]);
    expect(fromMnist.n_ref).toBe(500);
    expect(fromMnist.fid).toBe(fromFile.fid);
    expect(fromMnist.precision).toBe(fromFile.precision);
  });

  it('gives FID 0 and full precision/recall for a set against itself', async () => {
    const out = await evalJson(['--samples', halfA, '--ref', halfA, ...features]);
    expect(Math.abs(out.fid)).toBeLessThan(1e-6);
    expect(out.precision).toBe(1);
    expect(out.recall).toBe(1);
  });

  it('computes IS over the whole set, or over --is-splits K', async () => {
    const all = writeDigits('all.npz', 9000, 10000);
    const one = await evalJson(['--samples', all, ...features]);
    expect(one.is).toBeCloseTo(reference.is.splits1.mean, 4);
    expect(one.fid).toBeNull();
    expect(one.reasons.fid).toMatch(/no reference/);
    const ten = await evalJson(['--samples', all, '--is-splits', '10', ...features]);
    expect(ten.is_splits).toBe(10);
    expect(ten.is).toBeCloseTo(reference.is.splits10.mean, 4);
    expect(ten.is_std).toBeCloseTo(reference.is.splits10.std, 4);
  });

  it('saves reference statistics that give the same numbers, and says why P/R need features', async () => {
    const stats = join(work, 'ref-stats.npz');
    const direct = await evalJson(['--samples', halfB, '--ref', halfA, '--save-ref-stats', stats, ...features]);
    expect(direct.saved_ref_stats).toBe(stats);
    const cached = await evalJson(['--samples', halfB, '--ref-stats', stats, ...features]);
    expect(cached.fid).toBe(direct.fid);
    expect(cached.precision).toBe(direct.precision);
    expect(cached.recall).toBe(direct.recall);
    expect(cached.n_ref).toBe(500);

    // moments only, as in an ADM evaluator reference batch: FID yes, precision/recall null with the reason
    const arrays = decodeNpz(new Uint8Array(readFileSync(stats)));
    const momentsOnly = join(work, 'moments-only.npz');
    writeFileSync(momentsOnly, encodeNpz({ mu: arrays.mu, sigma: arrays.sigma }));
    const moments = await evalJson(['--samples', halfB, '--ref-stats', momentsOnly, ...features]);
    expect(moments.fid).toBeCloseTo(direct.fid, 9);
    expect(moments.precision).toBeNull();
    expect(moments.recall).toBeNull();
    expect(moments.reasons.precision).toMatch(/need the reference features/);

    // statistics recorded as made by another network are refused
    const saved = await loadReferenceStats(stats);
    const foreign = join(work, 'foreign.npz');
    await saveReferenceStats(foreign, {
      stats: saved.stats,
      record: { ...saved.record!, network: { ...saved.record!.network, sha256: '0'.repeat(64) } },
    });
    const refused = await runCli(['eval', '--samples', halfB, '--ref-stats', foreign, ...features]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/was computed with mnist_classifier\.onnx/);
  });

  it('reports bad inputs in one line: exit 1 for bad files, 2 for bad flags', async () => {
    const noArr0 = writeDigits('no-arr0.npz', 9000, 9010, { key: 'images' });
    const missing = await runCli(['eval', '--samples', noArr0, '--ref', halfA, ...features]);
    expect(missing.code).toBe(1);
    expect(missing.stderr.trim().split('\n')).toHaveLength(1);
    expect(missing.stderr).toMatch(/no "arr_0" array/);

    const unpadded = writeDigits('28.npz', 9000, 9010, { pad: 0 });
    const sizes = await runCli(['eval', '--samples', unpadded, '--ref', halfA, ...features, '--json']);
    expect(sizes.code).toBe(1);
    expect(sizes.stderr.trim().split('\n')).toHaveLength(1);
    expect(sizes.stderr).toMatch(/28x28 but the reference is 32x32/);
    expect(JSON.parse(sizes.stdout)).toMatchObject({ ok: false, command: 'eval' });

    const output = await runCli([
      'eval',
      '--samples',
      halfA,
      '--features',
      classifier,
      '--features-outputs',
      'logits,pool',
    ]);
    expect(output.code).toBe(1);
    expect(output.stderr).toMatch(/no output "pool" \(outputs: logits, features, spatial\)/);

    // A --ref-idx that is not MNIST's IDX images (here an .npz) is named, not an internal error.
    const notIdx = await runCli(['eval', '--samples', halfA, '--ref', 'mnist:0-9', '--ref-idx', halfA, ...features]);
    expect(notIdx.code).toBe(1);
    expect(notIdx.stderr.trim().split('\n')).toHaveLength(1);
    expect(notIdx.stderr).toContain(`--ref mnist: ${halfA} is not an IDX image file`);

    const pngStats = join(work, 'stats.png');
    const statsName = await runCli([
      'eval',
      '--samples',
      halfA,
      '--ref',
      halfA,
      '--save-ref-stats',
      pngStats,
      ...features,
    ]);
    expect(statsName.code).toBe(2);
    expect(statsName.stderr).toMatch(/--save-ref-stats must name a \.npz file/);
    expect(existsSync(pngStats)).toBe(false);

    const both = await runCli(['eval', '--samples', halfA, '--ref', halfA, '--ref-stats', halfA, ...features]);
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/--ref or --ref-stats, not both/);
    const noFeatures = await runCli(['eval', '--samples', halfA]);
    expect(noFeatures.code).toBe(2);
    expect(noFeatures.stderr).toMatch(/--features is required/);
    const splits = await runCli(['eval', '--samples', halfA, '--is-splits', '0', ...features]);
    expect(splits.code).toBe(2);
    expect(splits.stderr).toMatch(/--is-splits must be >= 1/);
  });
});
