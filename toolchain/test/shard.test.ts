import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mergeSampleSets } from '../src/sampling/merge.ts';
import { importMnist32, runCli } from './cli.ts';

const work = mkdtempSync(join(tmpdir(), 'qdm-shard-'));
const artifact = join(work, 'mnist32');

beforeAll(() => importMnist32(artifact));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const sampleArgs = ['sample', '--artifact', artifact, '--n', '10', '--seed', '42', '--steps', 'ddim4', '--quiet'];

describe('sharded sampling', () => {
  it('4 shards in separate processes, merged, are byte-identical to one run', async () => {
    const single = await runCli([...sampleArgs, '--batch', '4', '--out', join(work, 'single.npz')]);
    expect(single.code, single.stderr).toBe(0);
    // Different batch sizes on purpose: the seeded-noise contract makes samples independent of batching.
    const shards = await Promise.all(
      [0, 1, 2, 3].map((i) =>
        runCli([...sampleArgs, '--batch', '3', '--shard', `${i}/4`, '--out', join(work, `shard${i}.npz`)]),
      ),
    );
    for (const shard of shards) expect(shard.code, shard.stderr).toBe(0);
    const files = [3, 1, 0, 2].map((i) => join(work, `shard${i}.npz`)); // order must not matter
    const merged = await runCli(['merge', '--out', join(work, 'merged.npz'), ...files]);
    expect(merged.code, merged.stderr).toBe(0);
    expect(readFileSync(join(work, 'merged.npz')).equals(readFileSync(join(work, 'single.npz')))).toBe(true);
  });
});

describe('mergeSampleSets', () => {
  const set = (indices: number[]) => ({
    images: new Uint8Array(indices.length * 3),
    sampleIndex: BigInt64Array.from(indices.map(BigInt)),
    n: indices.length,
    h: 1,
    w: 1,
    c: 3,
  });

  it('refuses overlapping and missing shards', () => {
    expect(() =>
      mergeSampleSets([
        { path: 'a', set: set([0, 1]) },
        { path: 'b', set: set([1, 2]) },
      ]),
    ).toThrow(/sample 1 appears in two shards/);
    expect(() =>
      mergeSampleSets([
        { path: 'a', set: set([0, 1]) },
        { path: 'b', set: set([4, 5]) },
      ]),
    ).toThrow(/samples 2\.\.3 are missing/);
  });
});
