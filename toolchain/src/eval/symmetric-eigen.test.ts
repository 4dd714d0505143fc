import { describe, expect, it } from 'vitest';
import { loadEigenInputs, reference } from '../../test/fixtures/eval/fixtures.ts';
import { multiply } from './linalg.ts';
import { symmetricEigen, symmetricEigenvalues } from './symmetric-eigen.ts';

function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

/** max |A V - V diag(values)| and max |V^T V - I|, both scaled by |A|. */
function residuals(a: Float64Array, n: number, values: Float64Array, vectors: Float64Array) {
  const av = multiply(a, vectors, n, n, n);
  let res = 0;
  let orth = 0;
  for (let i = 0; i < n; i++)
    for (let j = 0; j < n; j++) {
      res = Math.max(res, Math.abs(av[i * n + j] - vectors[i * n + j] * values[j]));
    }
  for (let j = 0; j < n; j++) {
    for (let k = 0; k < n; k++) {
      let dot = 0;
      for (let i = 0; i < n; i++) dot += vectors[i * n + j] * vectors[i * n + k];
      orth = Math.max(orth, Math.abs(dot - (j === k ? 1 : 0)));
    }
  }
  return { res: res / Math.max(maxAbs(a), 1e-300), orth };
}

function seededSymmetric(n: number, seed: number): Float64Array {
  let s = seed >>> 0;
  const next = () => {
    s = (Math.imul(s ^ (s >>> 15), 0x2c1b3c6d) + 0x9e3779b9) >>> 0;
    return s / 2 ** 32 - 0.5;
  };
  const a = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j <= i; j++) a[i * n + j] = a[j * n + i] = next();
  return a;
}

describe('symmetric eigen-decomposition', () => {
  const { n, matrices } = loadEigenInputs();
  const names = ['general', 'low-rank PSD', 'clustered', 'graded 1e-12..1e3'];

  matrices.forEach((a, c) => {
    it(`matches numpy eigvalsh on the ${names[c]} matrix`, () => {
      const expected = reference.eigenvalues[c];
      const scale = maxAbs(expected);
      const values = symmetricEigenvalues(a, n);
      for (let i = 0; i < n; i++) expect(Math.abs(values[i] - expected[i])).toBeLessThan(1e-13 * scale);
      const full = symmetricEigen(a, n);
      for (let i = 0; i < n; i++) expect(Math.abs(full.values[i] - expected[i])).toBeLessThan(1e-13 * scale);
      const { res, orth } = residuals(a, n, full.values, full.vectors);
      expect(res).toBeLessThan(1e-13);
      expect(orth).toBeLessThan(1e-13);
    });
  });

  it('decomposes a larger random matrix to working precision', () => {
    const m = 160;
    const a = seededSymmetric(m, 7);
    const { values, vectors } = symmetricEigen(a, m);
    const { res, orth } = residuals(a, m, values, vectors);
    expect(res).toBeLessThan(1e-12);
    expect(orth).toBeLessThan(1e-12);
    for (let i = 1; i < m; i++) expect(values[i]).toBeGreaterThanOrEqual(values[i - 1]);
    // the trace is the sum of the eigenvalues
    let tr = 0;
    for (let i = 0; i < m; i++) tr += a[i * m + i];
    expect(Math.abs(values.reduce((x, y) => x + y, 0) - tr)).toBeLessThan(1e-11);
  });

  it('handles the trivial sizes and an already diagonal matrix', () => {
    expect(Array.from(symmetricEigenvalues(new Float64Array([4]), 1))).toEqual([4]);
    const two = symmetricEigen(new Float64Array([2, 1, 1, 2]), 2);
    expect(two.values[0]).toBeCloseTo(1, 15);
    expect(two.values[1]).toBeCloseTo(3, 15);
    expect(Math.abs(two.vectors[0])).toBeCloseTo(Math.SQRT1_2, 15);
    const diag = new Float64Array(9);
    [3, -1, 2].forEach((v, i) => {
      diag[i * 3 + i] = v;
    });
    expect(Array.from(symmetricEigenvalues(diag, 3))).toEqual([-1, 2, 3]);
    expect(Array.from(symmetricEigenvalues(new Float64Array(16), 4))).toEqual([0, 0, 0, 0]);
    expect(symmetricEigenvalues(new Float64Array(0), 0).length).toBe(0);
  });

  it('rejects non-finite entries and wrong sizes', () => {
    expect(() => symmetricEigenvalues(new Float64Array([1, Number.NaN, Number.NaN, 1]), 2)).toThrow(/non-finite/);
    expect(() => symmetricEigen(new Float64Array(3), 2)).toThrow(/2x2/);
  });
});
