import { describe, expect, it } from 'vitest';
import { SqnrAccumulator, sqnrDb } from './sqnr.ts';

describe('SQNR', () => {
  it('is 10 log10(signal / noise) in dB', () => {
    // signal 3^2 + 4^2 = 25, noise 1^2 = 1
    expect(sqnrDb([3, 4], [3, 3])).toBeCloseTo(10 * Math.log10(25), 12);
    expect(sqnrDb([1, 2], [1, 2])).toBe(Number.POSITIVE_INFINITY);
  });

  it('accumulates energy over batches, not dB', () => {
    const acc = new SqnrAccumulator();
    acc.add([3, 4], [3, 3]); // 25 / 1
    acc.add([0, 10], [1, 10]); // 100 / 1
    expect(acc.db()).toBeCloseTo(10 * Math.log10(125 / 2), 12);
    expect(() => acc.add([1], [1, 2])).toThrow(/1 vs 2/);
  });
});
