import { describe, expect, it } from 'vitest';
import { reference } from '../../test/fixtures/eval/fixtures.ts';
import { resizeBilinear } from './resize.ts';

describe('bilinear resize', () => {
  for (const c of reference.resize) {
    it(`matches torch F.interpolate(bilinear, align_corners=False) ${c.in.join('x')} -> ${c.out.join('x')}`, () => {
      const planes = c.x.length / (c.in[0] * c.in[1]);
      const y = resizeBilinear(Float32Array.from(c.x), planes, c.in[0], c.in[1], c.out[0], c.out[1]);
      expect(y.length).toBe(c.y.length);
      let worst = 0;
      for (let i = 0; i < y.length; i++) worst = Math.max(worst, Math.abs(y[i] - c.y[i]));
      expect(worst).toBeLessThan(1e-6);
    });
  }

  it('keeps a constant image constant and rejects a wrong size', () => {
    const y = resizeBilinear(new Float32Array(12).fill(0.25), 1, 3, 4, 7, 2);
    expect(Array.from(y)).toEqual(new Array(14).fill(0.25));
    expect(() => resizeBilinear(new Float32Array(5), 1, 2, 2, 3, 3)).toThrow(/1x2x2/);
  });
});
