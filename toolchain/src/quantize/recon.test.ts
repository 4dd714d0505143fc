import * as ort from 'onnxruntime-node';
import { afterAll, describe, expect, it } from 'vitest';
import { encodeModel } from '../onnx/model.ts';
import { createSession } from '../runtime/ort.ts';
import { activationGrid, prepareModel, siteParams } from './export.ts';
import { ortKernels } from './kernels-ort.ts';
import { inputDim } from './moments.ts';
import { observeActivations, withOutputs } from './observe.ts';
import { planQuantization } from './plan.ts';
import { fakeQuantizeValue } from './quant.ts';
import { roundAllWeights, type WeightRounder, type WeightRoundingContext } from './recon.ts';
import { syntheticCalibration, tinyUNet } from './test-model.ts';
import { roundWeightsNearest } from './weights.ts';

const model = tinyUNet();
const set = syntheticCalibration(16, 6, 3);
const plan = planQuantization(model.graph, { scheme: 'full', weightBits: 8, activationBits: 8 });
const kernels = ortKernels({ intraOpNumThreads: 1 });
afterAll(() => kernels.dispose());

/** A rounder that records what it was given and rounds to nearest. */
function recorder(inputs: 'float' | 'quantized', cross = false) {
  const seen = new Map<string, WeightRoundingContext>();
  const rounder: WeightRounder = {
    name: 'nearest',
    inputs,
    cross,
    budget: 600, // vectors per layer: every linear row (6 samples), a subsample of conv columns
    round: async (ctx) => {
      seen.set(ctx.site.node, ctx);
      return roundWeightsNearest(ctx.site, ctx.weight, 'absmax');
    },
  };
  return { rounder, seen };
}

/** E[x x^T] over the rows of `x` [rows, d]. */
function secondMoment(x: Float32Array | number[], d: number): Float64Array {
  const rows = x.length / d;
  const h = new Float64Array(d * d);
  for (let r = 0; r < rows; r++) {
    for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) h[i * d + j] += (x[r * d + i] * x[r * d + j]) / rows;
  }
  return h;
}

async function timestepEmbedding(): Promise<Float32Array> {
  const session = await createSession(encodeModel(withOutputs(prepareModel(model, plan), ['timestep_embedding'])));
  const out = await session.run({
    x: new ort.Tensor('float32', set.x, [set.count, ...set.shape]),
    t: new ort.Tensor('float32', set.t, [set.count]),
  });
  await session.release();
  return out.timestep_embedding.data as Float32Array;
}

describe('roundAllWeights', () => {
  it("'float': every site gets its weight and the fp32 input's second moments", async () => {
    const stats = await observeActivations(model, plan, set, { observer: { kind: 'minmax' }, threads: 1 });
    const { rounder, seen } = recorder('float');
    const weights = await roundAllWeights(model, plan, set, stats.ranges, rounder, { kernels, memoryBudget: 4e6 });
    expect([...weights.keys()].sort()).toEqual(plan.weights.map((w) => w.node).sort());
    for (const w of plan.weights) {
      const ctx = seen.get(w.node)!;
      expect(ctx.moments.h.rows).toBe(inputDim(w.input));
      expect(ctx.weight.rows * ctx.weight.cols).toBe(w.shape.reduce((a, b) => a * b, 1));
      expect(ctx.moments.count).toBeGreaterThan(0);
    }
    const emb = await timestepEmbedding();
    const h = seen.get('time_embed.0')!.moments.h;
    const expected = secondMoment(emb, h.rows);
    for (let i = 0; i < expected.length; i++) expect(h.data[i]).toBeCloseTo(expected[i], 5);
  });

  it("'quantized': moments of the input as the partially quantized model feeds it (and cross moments)", async () => {
    const stats = await observeActivations(model, plan, set, { observer: { kind: 'minmax' }, threads: 1 });
    const { rounder, seen } = recorder('quantized', true);
    await roundAllWeights(model, plan, set, stats.ranges, rounder, { kernels });
    const emb = await timestepEmbedding();
    const p = siteParams(plan, stats.ranges).get('timestep_embedding')!;
    expect(p.qmax).toBe(activationGrid(8).qmax);
    const quantized = Array.from(emb, (v) => fakeQuantizeValue(v, p));
    const m = seen.get('time_embed.0')!.moments;
    const d = m.h.rows;
    const hq = secondMoment(quantized, d);
    for (let i = 0; i < hq.length; i++) expect(m.hq!.data[i]).toBeCloseTo(hq[i], 5);
    const h = secondMoment(emb, d);
    for (let i = 0; i < h.length; i++) expect(m.h.data[i]).toBeCloseTo(h[i], 5);
    expect(m.cross!.rows).toBe(d);
    expect(() =>
      roundAllWeights(model, plan, set, stats.ranges, recorder('float', true).rounder, { kernels }),
    ).rejects.toThrow();
  });
});
