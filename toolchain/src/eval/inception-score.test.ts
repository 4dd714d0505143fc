import { describe, expect, it } from 'vitest';
import { loadMatrix, reference } from '../../test/fixtures/eval/fixtures.ts';
import { inceptionScore } from './inception-score.ts';

const rel = (a: number, b: number) => Math.abs(a - b) / Math.abs(b);

describe('Inception Score', () => {
  const logits = loadMatrix('logits');

  it('matches the numpy reference over the whole set', () => {
    const is = inceptionScore(logits);
    expect(rel(is.mean, reference.is.splits1.mean)).toBeLessThan(1e-9);
    expect(is.std).toBe(0);
    expect(is.scores).toHaveLength(1);
  });

  it('matches the numpy reference with 10 splits (improved-gan boundaries)', () => {
    const is = inceptionScore(logits, 10);
    const ref = reference.is.splits10;
    expect(rel(is.mean, ref.mean)).toBeLessThan(1e-9);
    expect(rel(is.std, ref.std)).toBeLessThan(1e-6);
    is.scores.forEach((s, i) => {
      expect(rel(s, ref.scores[i])).toBeLessThan(1e-9);
    });
  });

  it('is 1 when every image gets the same prediction and C for confident uniform classes', () => {
    const same = new Float32Array(40).map((_, i) => [0.3, -1, 2, 0][i % 4]);
    expect(inceptionScore({ rows: 10, dim: 4, data: same }).mean).toBeCloseTo(1, 12);
    // one-hot at logit gap 800: p is exactly one-hot in float64 (exp(-800) underflows), IS = number of classes
    const confident = new Float64Array(5 * 5);
    for (let r = 0; r < 5; r++) confident[r * 5 + r] = 800;
    expect(inceptionScore({ rows: 5, dim: 5, data: confident }).mean).toBeCloseTo(5, 12);
  });

  it('rejects bad splits', () => {
    expect(() => inceptionScore(logits, 0)).toThrow(/splits/);
    expect(() => inceptionScore(logits, 1.5)).toThrow(/splits/);
    expect(() => inceptionScore({ rows: 2, dim: 2, data: new Float32Array(4) }, 3)).toThrow(/splits/);
  });
});
