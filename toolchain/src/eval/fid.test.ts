import { describe, expect, it } from 'vitest';
import { loadMatrix, reference, syntheticFeatures } from '../../test/fixtures/eval/fixtures.ts';
import { frechetDistance, traceSqrtProduct } from './fid.ts';
import { computeStats } from './moments.ts';

const rel = (a: number, b: number) => Math.abs(a - b) / Math.abs(b);

describe('Frechet distance', () => {
  const poolA = computeStats(loadMatrix('pool_a'));
  const poolB = computeStats(loadMatrix('pool_b'));
  const spatialA = computeStats(loadMatrix('spatial_a'));
  const spatialB = computeStats(loadMatrix('spatial_b'));

  it('matches scipy sqrtm (pytorch-fid / ADM evaluator) on real pool features to 1e-6 relative', () => {
    const fid = frechetDistance(poolA, poolB);
    expect(rel(fid, reference.fid_pool.scipy)).toBeLessThan(1e-6);
    expect(rel(fid, reference.fid_pool.exact)).toBeLessThan(1e-9);
  });

  it('is 0 for a set against itself', () => {
    expect(Math.abs(frechetDistance(poolA, poolA))).toBeLessThan(1e-6);
    expect(Math.abs(frechetDistance(spatialA, spatialA))).toBeLessThan(1e-6);
  });

  it('sFID: matches the reference on spatial features from fewer images than dimensions (singular)', () => {
    expect(spatialA.count).toBeLessThan(spatialA.dim);
    const sfid = frechetDistance(spatialA, spatialB);
    expect(rel(sfid, reference.fid_spatial.exact)).toBeLessThan(1e-6);
    expect(rel(sfid, reference.fid_spatial.scipy)).toBeLessThan(1e-6);
  });

  it('keeps the graded spectrum of full-rank correlated features accurate (1e-12 of the exact value)', () => {
    const [rows, dim] = reference.fid_synthetic.shape;
    const fid = frechetDistance(
      computeStats(syntheticFeatures(rows, dim, 1, 0)),
      computeStats(syntheticFeatures(rows, dim, 2, 0.5)),
    );
    expect(rel(fid, reference.fid_synthetic.exact)).toBeLessThan(1e-12);
    expect(rel(fid, reference.fid_synthetic.scipy)).toBeLessThan(1e-6);
  });

  it('is symmetric', () => {
    expect(rel(frechetDistance(poolB, poolA), frechetDistance(poolA, poolB))).toBeLessThan(1e-9);
  });

  it('tr sqrt(S1 S2) of commuting diagonal matrices is sum sqrt(a_i b_i)', () => {
    const a = [4, 0, 2.5, 1e-3, 9];
    const b = [1, 3, 0.4, 1e3, 0];
    const n = a.length;
    const s1 = new Float64Array(n * n);
    const s2 = new Float64Array(n * n);
    a.forEach((v, i) => {
      s1[i * n + i] = v;
      s2[i * n + i] = b[i];
    });
    const expected = a.reduce((s, v, i) => s + Math.sqrt(v * b[i]), 0);
    expect(rel(traceSqrtProduct(s1, s2, n), expected)).toBeLessThan(1e-14);
  });

  it('tr sqrt(S1 S2) for a rotated pair matches the closed form', () => {
    // S1 = R diag(a) R^T, S2 = R diag(b) R^T commute: tr sqrt = sum sqrt(a_i b_i)
    const t = 0.3;
    const [c, s] = [Math.cos(t), Math.sin(t)];
    const rot = (x: number, y: number) =>
      new Float64Array([c * c * x + s * s * y, c * s * (x - y), c * s * (x - y), s * s * x + c * c * y]);
    expect(rel(traceSqrtProduct(rot(2, 5), rot(8, 0.2), 2), Math.sqrt(16) + Math.sqrt(1))).toBeLessThan(1e-14);
  });

  it('rejects mismatched dimensions', () => {
    expect(() => frechetDistance(poolA, spatialA)).toThrow(/dimensions differ/);
  });
});
