import { describe, expect, it } from 'vitest';
import { loadReference } from '../../../test/quantize/reference.ts';
import { gptq } from './gptq.ts';
import { jsKernels } from './kernels.ts';
import { matrix } from './matrix.ts';
import { crossTarget } from './objective.ts';

const ref = loadReference('gptq.json');
const kernels = jsKernels();
const w = matrix(ref.rows, ref.cols, ref.w);
const h = matrix(ref.cols, ref.cols, ref.h);

describe('GPTQ (numpy reference: column-wise updates through chol(H^-1))', () => {
  for (const c of ref.cases) {
    const label = `[${c.grid}] block ${c.blockSize}${c.actOrder ? ' act-order' : ''}`;
    it(`${label}: same integers and errors`, async () => {
      const r = await gptq(w, h, kernels, {
        grid: { qmin: c.grid[0], qmax: c.grid[1] },
        blockSize: c.blockSize,
        actOrder: c.actOrder,
      });
      expect(Array.from(r.scales)).toEqual(c.scales);
      expect(Array.from(r.q)).toEqual(c.q);
      expect(r.errorNearest).toBeCloseTo(c.errorNearest, 12);
      expect(r.error).toBeCloseTo(c.error, 12);
      expect(r.error).toBeLessThan(r.errorNearest);
    });
  }

  it('the block size does not change the result', async () => {
    const grid = { qmin: -8, qmax: 7 };
    const a = await gptq(w, h, kernels, { grid, blockSize: 3 });
    const b = await gptq(w, h, kernels, { grid, blockSize: 1000 });
    expect(Array.from(a.q)).toEqual(Array.from(b.q));
  });

  it('raises the damping when the damped H is still not definite', async () => {
    const indefinite = matrix(2, 2, [1, 0, 0, -0.015]); // lambda = 0.0049 is not enough, 0.049 is
    const r = await gptq(matrix(1, 2, [0.3, -0.2]), indefinite, kernels, { grid: { qmin: -8, qmax: 7 } });
    expect(r.damping).toBeCloseTo(0.1, 15);
    await expect(
      gptq(matrix(1, 2, [0.3, -0.2]), matrix(2, 2, [1, 0, 0, -100]), kernels, { grid: { qmin: -8, qmax: 7 } }),
    ).rejects.toThrow(/not positive definite/);
  });

  it('cross target W C G^-1', async () => {
    const { g, cross, target } = ref.crossTarget;
    const n = ref.cols;
    const t = await crossTarget(w, matrix(n, n, cross), matrix(n, n, g), kernels);
    t.data.forEach((v, i) => {
      expect(v).toBeCloseTo(target[i], 10);
    });
  });
});
