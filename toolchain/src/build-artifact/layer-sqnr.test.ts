import { describe, expect, it } from 'vitest';
import { quantizeModel } from '../quantize/pipeline.ts';
import { syntheticCalibration, tinyUNet } from '../quantize/test-model.ts';
import { layerActivationSqnr } from './layer-sqnr.ts';

describe('layerActivationSqnr', () => {
  // full and qdiff quantize every layer's input, ptq4dm every layer's output.
  for (const [scheme, at] of [
    ['full', 'input'],
    ['qdiff', 'input'],
    ['ptq4dm', 'output'],
  ] as const) {
    it(`gives every quantized layer of a tiny U-Net (${scheme}) the SQNR of its ${at} quantizer`, async () => {
      const result = await quantizeModel({
        fp32: tinyUNet(),
        calibration: syntheticCalibration(16, 8),
        scheme,
        weightBits: 8,
        activationBits: 8,
        evaluation: { sites: 4, epsilon: 4 },
      });
      const joined = layerActivationSqnr(result.plan, result.report.activations);
      expect(result.report.layers.length).toBeGreaterThan(30);
      const missing = result.report.layers.filter((l) => !Number.isFinite(joined.get(l.node)?.db));
      expect(missing.map((l) => l.node)).toEqual([]);
      const byValue = new Map(result.report.activations.map((a) => [a.value, a]));
      for (const w of result.plan.weights) {
        const j = joined.get(w.node)!;
        expect(j.at).toBe(at);
        // The layer's own site, or the site whose parameters it shares (a moved, already rounded value).
        const own = byValue.get(at === 'input' ? w.inputValue : w.outputValue)!;
        expect([own.value, own.sharesParamsWith]).toContain(j.value);
        expect(j.db).toBe(byValue.get(j.value)!.quantizerSqnrDb);
        // 8-bit quantizers of O(1) activations: tens of dB, not a placeholder.
        expect(j.db).toBeGreaterThan(10);
        expect(j.db).toBeLessThan(80);
      }
    });
  }

  it('joins by value, a ptq4dm layer by its output, a shared site through its source', () => {
    const plan = (scheme: string) => ({ scheme, weights: [{ node: 'a', inputValue: 'x', outputValue: 'y' }] }) as never;
    const site = (value: string, db: number, sharesParamsWith?: string) =>
      ({ value, quantizerSqnrDb: db, sharesParamsWith }) as never;
    expect(layerActivationSqnr(plan('full'), [site('x', Number.NaN)]).size).toBe(0);
    expect(layerActivationSqnr(plan('full'), [site('y', 30)]).size).toBe(0);
    expect(layerActivationSqnr(plan('full'), [site('x', 20), site('y', 30)]).get('a')).toEqual({
      db: 20,
      at: 'input',
      value: 'x',
    });
    expect(layerActivationSqnr(plan('ptq4dm'), [site('x', 20), site('y', 30)]).get('a')?.db).toBe(30);
    const shared = [site('x', Number.POSITIVE_INFINITY, 'w'), site('w', 25)];
    expect(layerActivationSqnr(plan('qdiff'), shared).get('a')).toEqual({ db: 25, at: 'input', value: 'w' });
  });
});
