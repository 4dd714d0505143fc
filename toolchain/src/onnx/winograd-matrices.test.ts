import { describe, expect, it } from 'vitest';
import { winogradMatrices } from './winograd-matrices.ts';

/** Direct correlation y_i = sum_j g_j d_(i+j), the definition the matrices must reproduce. */
function correlate(d: number[], g: number[], m: number): number[] {
  return Array.from({ length: m }, (_, i) => g.reduce((s, gj, j) => s + gj * d[i + j], 0));
}

function winograd1d(d: number[], g: number[], m: number): number[] {
  const w = winogradMatrices(m, g.length);
  const gg = w.g.map((row) => row.reduce((s, v, j) => s + v * g[j], 0));
  const bd = w.bt.map((row) => row.reduce((s, v, i) => s + v * d[i], 0));
  return w.at.map((row) => row.reduce((s, v, k) => s + v * gg[k] * bd[k], 0));
}

function random(n: number, seed: number): number[] {
  let state = seed;
  return Array.from({ length: n }, () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 31 - 1;
  });
}

describe('winogradMatrices', () => {
  for (const m of [2, 4]) {
    it(`F(${m},3) computes the correlation of random tiles`, () => {
      for (let seed = 1; seed <= 5; seed++) {
        const d = random(m + 2, seed);
        const g = random(3, 100 + seed);
        const got = winograd1d(d, g, m);
        const want = correlate(d, g, m);
        for (let i = 0; i < m; i++) expect(got[i]).toBeCloseTo(want[i], 12);
      }
    });
  }

  it('refuses a point count that does not match the tile', () => {
    expect(() => winogradMatrices(4, 3, [0, 1, -1])).toThrow(/needs 5 finite points/);
  });
});
