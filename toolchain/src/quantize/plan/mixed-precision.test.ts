import { describe, expect, it } from 'vitest';
import { syntheticCalibration, tinyUNet } from '../test-model.ts';
import {
  BudgetError,
  checkBudget,
  chooseW8Layers,
  type LayerSensitivity,
  measureSensitivity,
} from './mixed-precision.ts';
import { planQuantization } from './plan.ts';

const layers: LayerSensitivity[] = [
  { node: 'a', params: 100, aloneW4SqnrDb: 20 }, // noise 1e-2, 1e-4 per parameter
  { node: 'b', params: 10, aloneW4SqnrDb: 25 }, // 3.2e-3, 3.2e-4 per parameter (first)
  { node: 'c', params: 500, aloneW4SqnrDb: 18 }, // 1.6e-2, 3.2e-5 per parameter
  { node: 'd', params: 390, aloneW4SqnrDb: 40 }, // 1e-4, 2.6e-7 per parameter (last)
];
const total = 1000;

describe('mixed-precision plan', () => {
  for (const budget of [0, 0.005, 0.01, 0.05, 0.11, 0.2, 0.6, 0.61, 1]) {
    it(`budget ${budget}: the 8-bit layers hold at most that share of the weights`, () => {
      const choice = chooseW8Layers(layers, budget, total);
      const kept = choice.w8.reduce((a, l) => a + l.params, 0);
      expect(kept / total).toBeLessThanOrEqual(budget + 1e-12);
      expect(choice.used).toBeCloseTo(kept / total, 12);
      // Greedy by error per parameter: nothing left out would still fit and rank above a chosen layer.
      const left = layers.filter((l) => !choice.w8.some((w) => w.node === l.node));
      for (const l of left) expect(kept + l.params).toBeGreaterThan(budget * total);
    });
  }

  it('ranks by output error per parameter and says why', () => {
    const choice = chooseW8Layers(layers, 0.11, total);
    expect(choice.ranking.map((l) => l.node)).toEqual(['b', 'a', 'c', 'd']);
    expect(choice.w8.map((l) => l.node)).toEqual(['b', 'a']);
    expect(choice.w8[0].reason).toMatch(/25\.0 dB; rank 1 of 4/);
  });

  it('a budget outside 0..1, without 4-bit layers, or below the smallest layer is an error naming --w8-budget', () => {
    const w4 = planQuantization(tinyUNet().graph, { scheme: 'full', weightBits: 4, activationBits: 8 });
    const w8 = planQuantization(tinyUNet().graph, { scheme: 'full', weightBits: 8, activationBits: 8 });
    for (const bad of [-0.1, 1.5, Number.NaN]) expect(() => checkBudget(bad, w4)).toThrow(/--w8-budget .*0\.\.1/);
    expect(() => checkBudget(0.2, w8)).toThrow(BudgetError);
    expect(() => checkBudget(1e-9, w4)).toThrow(/--w8-budget 1e-9 cannot be met/);
    expect(() => checkBudget(0.2, w4)).not.toThrow();
    expect(() => checkBudget(0, w8)).not.toThrow();
  });

  it('measured on a real graph, the plan with the chosen layers respects the budget', async () => {
    const model = tinyUNet();
    const plan = planQuantization(model.graph, { scheme: 'full', weightBits: 4, activationBits: 8 });
    const set = syntheticCalibration(16, 4);
    const sensitivity = await measureSensitivity(model, plan, set, [0, 1, 2, 3], { threads: 1 });
    expect(sensitivity).toHaveLength(plan.weights.length);
    expect(sensitivity.every((s) => Number.isFinite(s.aloneW4SqnrDb) && s.aloneW4SqnrDb > 0)).toBe(true);
    const totalParams = plan.weights.reduce((a, s) => a + s.shape.reduce((x, y) => x * y, 1), 0);
    const choice = chooseW8Layers(sensitivity, 0.1, totalParams);
    const mixed = planQuantization(model.graph, {
      scheme: 'full',
      weightBits: 4,
      activationBits: 8,
      w8Layers: choice.w8.map((l) => l.node),
    });
    const eight = mixed.weights.filter((s) => s.bits === 8);
    expect(eight.map((s) => s.node).sort()).toEqual(choice.w8.map((l) => l.node).sort());
    expect(eight.length).toBeGreaterThan(0);
    const share = eight.reduce((a, s) => a + s.shape.reduce((x, y) => x * y, 1), 0) / totalParams;
    expect(share).toBeLessThanOrEqual(0.1);
  });
});
