import { describe, expect, it } from 'vitest';
import { loadMatrix, reference } from '../../test/fixtures/eval/fixtures.ts';
import { manifoldRadii, precisionRecall } from './precision-recall.ts';

describe('precision and recall (ADM ManifoldEstimator)', () => {
  const a = loadMatrix('pool_a');
  const b = loadMatrix('pool_b');

  it('k=3 radii match the numpy port of the evaluator', () => {
    const radii = manifoldRadii(a);
    reference.pr.ref_radii_head.forEach((r, i) => {
      expect(Math.abs(radii[i] - r)).toBeLessThan(1e-9 * r);
    });
  });

  it('matches the numpy port of the evaluator on real features', () => {
    const pr = precisionRecall(a, b);
    expect(pr.precision).toBeCloseTo(reference.pr.precision, 12);
    expect(pr.recall).toBeCloseTo(reference.pr.recall, 12);
  });

  it('matches with the roles swapped and k=5, and with cached radii', () => {
    const ref = reference.pr_k5_swapped;
    const pr = precisionRecall(b, a, { k: 5 });
    expect(pr.precision).toBeCloseTo(ref.precision, 12);
    expect(pr.recall).toBeCloseTo(ref.recall, 12);
    const cached = precisionRecall(b, a, { k: 5, refRadii: manifoldRadii(b, 5), sampleRadii: manifoldRadii(a, 5) });
    expect(cached).toEqual(pr);
  });

  it('a set against itself has precision and recall 1', () => {
    expect(precisionRecall(a, a)).toEqual({ precision: 1, recall: 1 });
  });

  it('counts the k-th neighbour with the point itself as the 0-th', () => {
    // points on a line at 0, 1, 3, 6, 10: sorted squared distances from 0 are 0, 1, 9, 36, 100 -> k=3 gives 36;
    // from 6: 0, 9, 16, 25, 36 -> 25; from 10: 0, 16, 49, 81, 100 -> 81
    const line = { rows: 5, dim: 1, data: new Float64Array([0, 1, 3, 6, 10]) };
    expect(Array.from(manifoldRadii(line, 3))).toEqual([36, 25, 9, 25, 81]);
    // -6 lies exactly on the ball of 0 (36 <= 36) and counts; 16 is inside the ball of 10 (36 <= 81);
    // 20 (100 from 10, 196 from 6) and 100 are outside
    const sample = { rows: 4, dim: 1, data: new Float64Array([-6, 16, 20, 100]) };
    const pr = precisionRecall(line, sample, { k: 3 });
    expect(pr.precision).toBe(0.5);
  });

  it('needs more than k points', () => {
    expect(() => manifoldRadii({ rows: 3, dim: 2, data: new Float32Array(6) })).toThrow(/more than k=3/);
  });
});
