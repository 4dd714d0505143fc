import { describe, expect, it } from 'vitest';
import { multiply, multiplySymmetric, principalSubmatrix, trace, transpose } from './linalg.ts';

function filled(length: number, seed: number): Float64Array {
  let s = seed >>> 0;
  return Float64Array.from({ length }, () => {
    s = (Math.imul(s ^ (s >>> 15), 0x2c1b3c6d) + 0x9e3779b9) >>> 0;
    return s / 2 ** 32 - 0.5;
  });
}

function naive(a: Float64Array, b: Float64Array, m: number, k: number, n: number): Float64Array {
  const c = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) s += a[i * k + p] * b[p * n + j];
      c[i * n + j] = s;
    }
  }
  return c;
}

function maxDiff(x: Float64Array, y: Float64Array): number {
  let d = 0;
  for (let i = 0; i < x.length; i++) d = Math.max(d, Math.abs(x[i] - y[i]));
  return d;
}

describe('dense products', () => {
  it('multiply agrees with the textbook triple loop across tile and block edges', () => {
    for (const [m, k, n] of [
      [1, 1, 1],
      [7, 13, 5],
      [9, 300, 600],
      [2, 129, 513],
    ]) {
      const a = filled(m * k, m + k);
      const b = filled(k * n, n);
      expect(maxDiff(multiply(a, b, m, k, n), naive(a, b, m, k, n))).toBeLessThan(1e-12);
    }
  });

  it('multiplySymmetric gives F^T (S F) with both triangles', () => {
    for (const [n, k] of [
      [5, 3],
      [131, 600],
    ]) {
      const f = filled(k * n, 3);
      const g = filled(k * k, 4);
      const s = multiply(g, transpose(g, k, k), k, k, k); // symmetric k x k
      const ft = transpose(f, k, n);
      const sf = multiply(s, f, k, k, n);
      expect(maxDiff(multiplySymmetric(ft, sf, n, k), naive(ft, sf, n, k, n))).toBeLessThan(1e-11);
    }
  });

  it('transpose, principal submatrix and trace', () => {
    const a = Float64Array.from([1, 2, 3, 4, 5, 6]);
    expect(Array.from(transpose(a, 2, 3))).toEqual([1, 4, 2, 5, 3, 6]);
    const sq = Float64Array.from({ length: 9 }, (_, i) => i);
    expect(Array.from(principalSubmatrix(sq, 3, [0, 2]))).toEqual([0, 2, 6, 8]);
    expect(trace(sq, 3)).toBe(12);
    expect(() => multiply(a, a, 2, 3, 3)).toThrow(/mismatch/);
  });
});
