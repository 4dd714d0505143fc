import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { fixtureDir, loadMatrix, reference } from '../../test/fixtures/eval/fixtures.ts';
import { frechetDistance } from './fid.ts';
import { computeStats } from './moments.ts';
import { manifoldRadii, precisionRecall } from './precision-recall.ts';
import { loadStats, saveStats } from './stats-file.ts';

describe('reference statistics files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'qdm-eval-stats-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('round-trips moments, pool features and radii, and still scores the same', async () => {
    const poolA = loadMatrix('pool_a');
    const poolB = loadMatrix('pool_b');
    const spatial = computeStats(loadMatrix('spatial_a'));
    const radii = manifoldRadii(poolA);
    const path = join(dir, 'ref.npz');
    await saveStats(path, { pool: computeStats(poolA), spatial, poolFeatures: poolA, radii: { k: 3, values: radii } });
    const loaded = await loadStats(path);
    expect(loaded.pool?.count).toBe(500);
    expect(loaded.spatial?.cov).toEqual(spatial.cov);
    expect(loaded.radii?.k).toBe(3);
    expect(frechetDistance(loaded.pool!, computeStats(poolB))).toBeCloseTo(reference.fid_pool.exact, 6);
    const pr = precisionRecall(loaded.poolFeatures!, poolB, { refRadii: loaded.radii!.values });
    expect(pr).toEqual({ precision: reference.pr.precision, recall: reference.pr.recall });
  });

  it('reads the keys of an ADM evaluator reference batch written by numpy', async () => {
    const stats = await loadStats(join(fixtureDir, 'adm_style_stats.npz'));
    expect(Array.from(stats.pool!.mean)).toEqual(reference.adm_style_stats.mu);
    expect(Array.from(stats.pool!.cov)).toEqual(reference.adm_style_stats.sigma);
    expect(stats.spatial?.dim).toBe(2);
    expect(stats.poolFeatures).toBeUndefined();
  });

  it('refuses half a pair of moments', async () => {
    const path = join(dir, 'half.npz');
    const { encodeNpz } = await import('@qdm/shared');
    const { writeFileSync } = await import('node:fs');
    writeFileSync(path, encodeNpz({ mu: { dtype: 'float64', shape: [2], data: new Float64Array(2) } }));
    await expect(loadStats(path)).rejects.toThrow(/must come together/);
  });
});
