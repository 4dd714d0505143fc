import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { encodeModel } from '../../onnx/model.ts';
import { createSession } from '../../runtime/ort.ts';
import { prepareModel } from '../export/export.ts';
import { planQuantization } from '../plan/plan.ts';
import { syntheticCalibration, tinyUNet } from '../test-model.ts';
import { observeActivations, observedSites, withOutputs } from './observe.ts';

const model = tinyUNet();
const set = syntheticCalibration(16, 12, 3);
const plan = planQuantization(model.graph, { scheme: 'full', weightBits: 8, activationBits: 8 });

/** Each site's values for every calibration pair, from one whole-set run of the split fp32 graph. */
async function allValues(values: string[]): Promise<Record<string, Float32Array>> {
  const session = await createSession(encodeModel(withOutputs(prepareModel(model, plan), values)), { threads: 1 });
  const out = await session.run({
    x: new ort.Tensor('float32', set.x, [set.count, ...set.shape]),
    t: new ort.Tensor('float32', set.t, [set.count]),
  });
  await session.release();
  return Object.fromEntries(values.map((v) => [v, out[v].data as Float32Array]));
}

describe('observeActivations', () => {
  it('minmax ranges and per-step extremes equal the values computed in one pass', async () => {
    const sites = observedSites(plan);
    expect(sites.length).toBeGreaterThan(20);
    const stats = await observeActivations(model, plan, set, { observer: { kind: 'minmax' }, batch: 5, threads: 1 });
    const values = await allValues(sites.map((s) => s.value));
    for (const s of sites) {
      const data = values[s.value];
      const per = data.length / set.count;
      let lo = 0;
      let hi = 0;
      const stepMin = [Infinity, Infinity, Infinity];
      const stepMax = [-Infinity, -Infinity, -Infinity];
      for (let i = 0; i < data.length; i++) {
        lo = Math.min(lo, data[i]);
        hi = Math.max(hi, data[i]);
        const step = set.stepIndex[Math.floor(i / per)];
        stepMin[step] = Math.min(stepMin[step], data[i]);
        stepMax[step] = Math.max(stepMax[step], data[i]);
      }
      expect(stats.ranges.get(s.value), s.value).toEqual({ min: lo, max: hi });
      expect([...stats.byStep.get(s.value)!.min]).toEqual(stepMin);
      expect([...stats.byStep.get(s.value)!.max]).toEqual(stepMax);
    }
  });

  it('the batch follows the memory budget and does not change the statistics', async () => {
    const small = await observeActivations(model, plan, set, {
      observer: { kind: 'lp' },
      memoryBudget: 1,
      threads: 1,
    });
    expect(small.batch).toBe(1);
    const large = await observeActivations(model, plan, set, { observer: { kind: 'lp' }, batch: 12, threads: 1 });
    expect(large.batch).toBe(12);
    for (const [value, r] of small.ranges) {
      const e = small.extremes.get(value)!;
      expect(r.min).toBeGreaterThanOrEqual(Math.min(e.min, 0));
      expect(r.max).toBeLessThanOrEqual(Math.max(e.max, 0));
      const other = large.ranges.get(value)!;
      // The streaming histogram's layout depends on batch order; the search lands within a few candidates.
      const span = Math.max(e.max, 0) - Math.min(e.min, 0);
      expect(Math.abs(other.max - r.max) + Math.abs(other.min - r.min)).toBeLessThan(0.05 * span + 1e-6);
    }
  });
});
