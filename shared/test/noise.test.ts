import { describe, expect, it } from 'vitest';
import { batchNoise, gaussianNoise, INIT_NOISE_STREAM, philox4x32 } from '../src/noise.ts';

// Random123 tests/kat_vectors (DEShawResearch/random123): counter[4], key[2] -> output[4].
const KNOWN_ANSWERS: [rounds: number, counter: number[], key: number[], expected: number[]][] = [
  [7, [0, 0, 0, 0], [0, 0], [0x5f6fb709, 0x0d893f64, 0x4f121f81, 0x4f730a48]],
  [
    7,
    [0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff],
    [0xffffffff, 0xffffffff],
    [0x5207ddc2, 0x45165e59, 0x4d8ee751, 0x8c52f662],
  ],
  [
    7,
    [0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344],
    [0xa4093822, 0x299f31d0],
    [0x4dfccaba, 0x190a87f0, 0xc47362ba, 0xb6b5242a],
  ],
  [10, [0, 0, 0, 0], [0, 0], [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]],
  [
    10,
    [0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff],
    [0xffffffff, 0xffffffff],
    [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd],
  ],
  [
    10,
    [0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344],
    [0xa4093822, 0x299f31d0],
    [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1],
  ],
];

/** Standard normal CDF via erfc (Numerical Recipes' Chebyshev fit, |error| < 1.2e-7). */
function normalCdf(x: number): number {
  const z = Math.abs(x) / Math.SQRT2;
  const t = 1 / (1 + 0.5 * z);
  const poly =
    -z * z -
    1.26551223 +
    t *
      (1.00002368 +
        t *
          (0.37409196 +
            t *
              (0.09678418 +
                t *
                  (-0.18628806 +
                    t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))));
  const erfc = t * Math.exp(poly);
  return x >= 0 ? 1 - erfc / 2 : erfc / 2;
}

function moments(values: Float32Array): { mean: number; variance: number } {
  let sum = 0;
  for (const v of values) sum += v;
  const mean = sum / values.length;
  let sq = 0;
  for (const v of values) sq += (v - mean) ** 2;
  return { mean, variance: sq / (values.length - 1) };
}

function correlation(a: Float32Array, b: Float32Array): number {
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < a.length; i++) {
    ab += a[i] * b[i];
    aa += a[i] * a[i];
    bb += b[i] * b[i];
  }
  return ab / Math.sqrt(aa * bb);
}

describe('philox4x32 (Random123 known answers)', () => {
  for (const [rounds, counter, key, expected] of KNOWN_ANSWERS) {
    it(`${rounds} rounds, counter ${counter[0].toString(16)}..`, () => {
      expect([...philox4x32(counter, key, rounds)]).toEqual(expected);
    });
  }

  it('defaults to 10 rounds and rejects non-uint32 words', () => {
    expect([...philox4x32([0, 0, 0, 0], [0, 0])]).toEqual(KNOWN_ANSWERS[3][3]);
    expect(() => philox4x32([0, 0, 0, -1], [0, 0])).toThrow(/uint32/);
    expect(() => philox4x32([0, 0, 0], [0, 0])).toThrow(/counter of 4/);
  });
});

describe('gaussianNoise', () => {
  it('is a pure function of (seed, sample, stream, element): batches and prefixes agree', () => {
    const n = 3 * 7 * 5; // not a multiple of 4: the last Philox block is cut short
    const batch = batchNoise(42, 5, 4, n, 17);
    for (let k = 0; k < 4; k++) {
      expect(batch.subarray(k * n, (k + 1) * n)).toEqual(gaussianNoise(42, 5 + k, 17, n));
    }
    expect(gaussianNoise(42, 6, 17, 1000).subarray(0, n)).toEqual(gaussianNoise(42, 6, 17, n));
    expect(batchNoise(42, 6, 1, n, 17)).toEqual(batch.subarray(n, 2 * n));
  });

  it('maps Philox block b of counter (b, sample, stream, 0) and key (seed lo, seed hi) through Box-Muller', () => {
    const seed = 2 ** 40 + 12345;
    const z = gaussianNoise(seed, 3, INIT_NOISE_STREAM, 8);
    const words = philox4x32([1, 3, INIT_NOISE_STREAM, 0], [12345, 256]);
    const u = [...words].map((w) => (w + 0.5) / 2 ** 32);
    const r0 = Math.sqrt(-2 * Math.log(u[0]));
    const r1 = Math.sqrt(-2 * Math.log(u[2]));
    const expected = [
      r0 * Math.cos(2 * Math.PI * u[1]),
      r0 * Math.sin(2 * Math.PI * u[1]),
      r1 * Math.cos(2 * Math.PI * u[3]),
      r1 * Math.sin(2 * Math.PI * u[3]),
    ];
    expect([...z.subarray(4, 8)]).toEqual(expected.map(Math.fround));
  });

  it('gives different values for different seeds, samples, streams and seed high bits', () => {
    const base = gaussianNoise(1, 0, 0, 256);
    const others = [
      gaussianNoise(2, 0, 0, 256),
      gaussianNoise(1, 1, 0, 256),
      gaussianNoise(1, 0, 1, 256),
      gaussianNoise(2 ** 32 + 1, 0, 0, 256),
      gaussianNoise(1, 0, INIT_NOISE_STREAM, 256),
    ];
    for (const other of others) expect(Math.abs(correlation(base, other))).toBeLessThan(0.25);
  });

  it('looks standard normal on 1e5 values (mean, variance, KS, neighbour correlation)', () => {
    const n = 100_000;
    const z = gaussianNoise(20240601, 7, 3, n);
    const { mean, variance } = moments(z);
    // standard errors: mean 1/sqrt(n) = 0.0032, variance sqrt(2/n) = 0.0045; bounds are ~5 sigma
    expect(Math.abs(mean)).toBeLessThan(0.016);
    expect(Math.abs(variance - 1)).toBeLessThan(0.023);
    const sorted = Float64Array.from(z).sort();
    let ks = 0;
    for (let i = 0; i < n; i++) {
      const cdf = normalCdf(sorted[i]);
      ks = Math.max(ks, Math.abs(cdf - i / n), Math.abs(cdf - (i + 1) / n));
    }
    expect(ks).toBeLessThan(1.95 / Math.sqrt(n)); // Kolmogorov 0.1% critical value
    // cos/sin pairs from one Box-Muller draw must be uncorrelated, as must neighbouring blocks
    expect(Math.abs(correlation(z.subarray(0, n - 1), z.subarray(1)))).toBeLessThan(0.016);
    expect(Math.abs(correlation(z.subarray(0, n - 4), z.subarray(4)))).toBeLessThan(0.016);
    expect(Math.abs(correlation(z, gaussianNoise(20240601, 8, 3, n)))).toBeLessThan(0.016);
    // even moments of a normal: E z^4 = 3 (standard error ~0.03)
    let fourth = 0;
    for (const v of z) fourth += v ** 4;
    expect(Math.abs(fourth / n - 3)).toBeLessThan(0.15);
  });

  it('rejects bad arguments by value', () => {
    expect(() => gaussianNoise(-1, 0, 0, 4)).toThrow(/-1/);
    expect(() => gaussianNoise(1.5, 0, 0, 4)).toThrow(/1\.5/);
    expect(() => gaussianNoise(1, 2 ** 32, 0, 4)).toThrow(/4294967296/);
    expect(() => gaussianNoise(1, 0, -2, 4)).toThrow(/-2/);
    expect(() => gaussianNoise(1, 0, 0, 2.5)).toThrow(/2\.5/);
    expect(() => batchNoise(1, 2 ** 32 - 1, 2, 4, 0)).toThrow(/uint32/);
    expect(gaussianNoise(1, 0, 0, 0)).toHaveLength(0);
  });
});
