import { describe, expect, it } from 'vitest';
import { loadReference } from '../../../test/quantize/reference.ts';
import { adaround } from './adaround.ts';
import { jsKernels } from './kernels.ts';
import { matrix } from './matrix.ts';

const ref = loadReference('adaround.json');
const kernels = jsKernels();
const w = matrix(ref.rows, ref.cols, ref.w);
const h = matrix(ref.cols, ref.cols, ref.h);
const grid = { qmin: ref.grid[0], qmax: ref.grid[1] };

describe('AdaRound on the quadratic layer objective', () => {
  it('follows the torch autograd + Adam reference step for step', async () => {
    const log: [number, number][] = [];
    const r = await adaround(w, h, kernels, {
      grid,
      scales: Float32Array.from(ref.scales),
      iterations: ref.iterations,
      lambda: ref.lambda,
      lr: ref.lr,
      warmup: ref.warmup,
      beta: ref.beta,
      logEvery: 1,
      onLog: (_, rec, reg) => log.push([rec, reg]),
    });
    expect(log.length).toBe(ref.iterations);
    log.forEach(([rec, reg], it) => {
      expect(Math.abs(rec - ref.log[it][0])).toBeLessThan(1e-10 * ref.log[it][0]);
      expect(Math.abs(reg - ref.log[it][1])).toBeLessThanOrEqual(1e-10 * ref.log[it][1]);
    });
    expect(log[ref.iterations - 1][0]).toBeLessThan(log[0][0]);
    expect(Array.from(r.q)).toEqual(ref.q);
  });

  it('lowers tr(dW H dW^T) below nearest rounding and ends with binary h', async () => {
    const r = await adaround(w, h, kernels, { grid, iterations: 2000, lr: 1e-2 });
    expect(r.error).toBeLessThan(0.8 * r.errorNearest);
    expect(r.binaryFraction).toBeGreaterThan(0.95);
    for (const v of r.q) expect(v >= grid.qmin && v <= grid.qmax).toBe(true);
  });
});
