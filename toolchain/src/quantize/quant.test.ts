import { describe, expect, it } from 'vitest';
import { loadReference } from '../../test/quantize/reference.ts';
import { searchSymmetricScale, weightScales } from './observe/range-search.ts';
import {
  activationParams,
  dequantize,
  dequantizeWeights,
  type Grid,
  quantize,
  quantizeWeights,
  roundHalfEven,
  tightSymmetricScale,
} from './quant.ts';
import { matrix } from './reconstruct/matrix.ts';

const ref = loadReference('quant.json');
const grid = ([qmin, qmax]: number[]): Grid => ({ qmin, qmax });

describe('affine quantization (numpy reference)', () => {
  it('rounds halves to even', () => {
    expect([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 2.4999, -2.6].map(roundHalfEven)).toEqual([-2, -2, -0, 0, 2, 2, 2, -3]);
  });

  it('derives unsigned per-tensor scale and zero point', () => {
    for (const c of ref.affine) {
      const p = activationParams(c.min, c.max, grid(c.grid));
      expect(p.scale).toBe(c.scale);
      expect(p.zeroPoint).toBe(c.zeroPoint);
      expect(Math.fround(p.scale)).toBe(p.scale);
    }
  });

  it('quantizes and dequantizes, ties included', () => {
    const x = ref.fakeQuant.x as number[];
    for (const c of ref.fakeQuant.cases) {
      const p = { ...grid(c.grid), scale: c.scale, zeroPoint: c.zeroPoint };
      const q = quantize(x, p);
      expect(Array.from(q)).toEqual(c.q);
      const xh = dequantize(q, p);
      xh.forEach((v, i) => {
        expect(v).toBeCloseTo(c.xhat[i], 12);
      });
    }
  });
});

describe('per-channel symmetric weights (numpy reference)', () => {
  const w = matrix(ref.weights.rows, ref.weights.cols, ref.weights.w);

  it('absmax scales and nearest rounding', () => {
    for (const c of ref.weights.cases) {
      const scales = weightScales(w, grid(c.grid));
      expect(Array.from(scales)).toEqual(c.absmaxScales);
      expect(Array.from(quantizeWeights(w, scales, grid(c.grid)))).toEqual(c.qNearest);
    }
  });

  it('int4 uses -8 for a negative-only channel', () => {
    const c = ref.weights.cases.find((k: { grid: number[] }) => k.grid[0] === -8);
    const q = quantizeWeights(w, c.absmaxScales, grid(c.grid));
    expect(Math.min(...q.subarray(5 * w.cols, 6 * w.cols))).toBe(-8);
    expect(tightSymmetricScale(-0.8, 0.7, { qmin: -8, qmax: 7 })).toBeCloseTo(0.1, 15);
  });

  it('L_p (p=2.4) scale search matches the exact grid search', () => {
    for (const c of ref.weights.cases) {
      for (let r = 0; r < w.rows; r++) {
        const errors = c.lpErrors[r] as number[];
        const best = Math.min(...errors);
        const got = searchSymmetricScale(w.data.subarray(r * w.cols, (r + 1) * w.cols), grid(c.grid));
        // Same candidate, or one whose exact error ties the best to 1e-6 (table/summation-order noise).
        expect(errors[got.candidate - 1]).toBeLessThanOrEqual(best * (1 + 1e-6));
        expect(got.scale).toBe(c.lpScales[r][got.candidate - 1]);
        expect(got.error).toBeCloseTo(errors[got.candidate - 1], 8);
      }
    }
  });

  it('dequantizes as float32 products', () => {
    const q = Int8Array.of(3, -7, 127, 0);
    const s = Float32Array.of(0.013, 0.2);
    const d = dequantizeWeights(q, s, 2);
    expect(Array.from(d.data)).toEqual([3, -7, 127, 0].map((v, i) => Math.fround(v * s[i >> 1])));
  });
});
