import { describe, expect, it } from 'vitest';
import { loadMatrix, reference } from '../../test/fixtures/eval/fixtures.ts';
import { computeStats, MomentAccumulator } from './moments.ts';

const rel = (a: number, b: number) => Math.abs(a - b) / Math.max(Math.abs(b), 1e-300);

describe('feature moments', () => {
  const pool = loadMatrix('pool_a');

  it('matches np.mean / np.cov(rowvar=False) on real classifier features', () => {
    const stats = computeStats(pool);
    const ref = reference.pool_stats;
    expect(stats.count).toBe(pool.rows);
    ref.mean_head.forEach((m, i) => {
      expect(rel(stats.mean[i], m)).toBeLessThan(1e-12);
    });
    ref.cov_diag_head.forEach((c, i) => {
      expect(Math.abs(stats.cov[i * pool.dim + i] - c)).toBeLessThan(1e-12 * ref.cov_trace);
    });
    ref.cov_row0_head.forEach((c, j) => {
      expect(Math.abs(stats.cov[j] - c)).toBeLessThan(1e-12 * ref.cov_trace);
    });
    let trace = 0;
    let zeros = 0;
    for (let i = 0; i < pool.dim; i++) {
      trace += stats.cov[i * pool.dim + i];
      if (stats.cov[i * pool.dim + i] === 0) zeros++;
    }
    expect(rel(trace, ref.cov_trace)).toBeLessThan(1e-12);
    // dead ReLU units come out with exactly zero variance, as in numpy
    expect(zeros).toBe(ref.zero_variance_dims);
  });

  it('gives the same statistics whatever the batching', () => {
    const whole = computeStats(pool);
    const acc = new MomentAccumulator(pool.dim);
    let row = 0;
    for (const size of [1, 7, 300, 0, 192]) {
      acc.add(pool.data.subarray(row * pool.dim, (row + size) * pool.dim), size);
      row += size;
    }
    const streamed = acc.finish();
    for (let i = 0; i < pool.dim; i++) expect(Math.abs(streamed.mean[i] - whole.mean[i])).toBeLessThan(1e-12);
    for (let i = 0; i < whole.cov.length; i++) {
      expect(Math.abs(streamed.cov[i] - whole.cov[i])).toBeLessThan(1e-10);
    }
  });

  it('stays accurate when the mean dwarfs the spread', () => {
    // values 1e8 + {0, 1, 2, 3}: a naive sum of squares loses everything in float64
    const rows = 4000;
    const data = new Float64Array(rows * 2);
    for (let r = 0; r < rows; r++) {
      data[2 * r] = 1e8 + (r % 4);
      data[2 * r + 1] = -3e7 - 2 * (r % 4);
    }
    const s = computeStats({ rows, dim: 2, data });
    // exact: mean 1e8 + 1.5, variance of {0,1,2,3} repeated = 1.25 * n / (n - 1)
    const v = (1.25 * rows) / (rows - 1);
    expect(s.mean[0]).toBe(1e8 + 1.5);
    expect(rel(s.cov[0], v)).toBeLessThan(1e-14);
    expect(rel(s.cov[1], -2 * v)).toBeLessThan(1e-14);
    expect(rel(s.cov[3], 4 * v)).toBeLessThan(1e-14);
  });

  it('rejects too few rows, bad shapes and non-finite values', () => {
    expect(() => computeStats({ rows: 1, dim: 2, data: new Float32Array(2) })).toThrow(/at least 2/);
    expect(() => new MomentAccumulator(3).add(new Float32Array(4), 2)).toThrow(/2x3/);
    expect(() => computeStats({ rows: 2, dim: 1, data: new Float32Array([1, Number.NaN]) })).toThrow(/non-finite/);
  });
});
