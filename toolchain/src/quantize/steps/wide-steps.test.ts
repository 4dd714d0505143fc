import { createDiffusion } from '@qdm/shared';
import * as ort from 'onnxruntime-node';
import { beforeAll, describe, expect, it } from 'vitest';
import type { OnnxModel } from '../../onnx/ir.ts';
import { decodeModel, encodeModel } from '../../onnx/model.ts';
import { createSession } from '../../runtime/ort.ts';
import { exportQdq, prepareModel, type QuantizedWeight } from '../export/export.ts';
import { inspectFusion } from '../export/fusion.ts';
import { indexGraph } from '../graph-index.ts';
import { observeActivations } from '../observe/observe.ts';
import { planQuantization } from '../plan/plan.ts';
import { roundWeightsNearest, weightMatrix } from '../reconstruct/weights.ts';
import { syntheticCalibration, tinyUNet } from '../test-model.ts';
import {
  floatActivationGraph,
  parseWideSteps,
  WideStepsError,
  type WideStepsRecord,
  wideStepThresholds,
  withoutWideSteps,
  withWideSteps,
} from './wide-steps.ts';

const model = tinyUNet();
const set = syntheticCalibration(16, 24);
const SIZE = 3 * 16 * 16;
const x = set.x.slice(0, 2 * SIZE);

let plain: OnnxModel;
let floatActivations: OnnxModel;
beforeAll(async () => {
  const plan = planQuantization(model.graph, { scheme: 'full', weightBits: 8, activationBits: 8 });
  const stats = await observeActivations(model, plan, set, { observer: { kind: 'minmax' }, threads: 1 });
  const index = indexGraph(prepareModel(model, plan).graph);
  const weights = new Map<string, QuantizedWeight>(
    plan.weights.map((w) => [w.node, roundWeightsNearest(w, weightMatrix(index.initializer(w.weight)!), 'absmax')]),
  );
  plain = exportQdq(model, plan, stats.ranges, weights);
  // The independent construction: the exporter itself, told to skip every activation quantizer.
  const everySite = new Set(plan.activations.map((s) => s.value));
  floatActivations = exportQdq(model, plan, stats.ranges, weights, { skipActivations: everySite });
});

async function run(m: OnnxModel, t: number[]): Promise<Float32Array> {
  const session = await createSession(encodeModel(m), { threads: 1, optimization: 'all' });
  try {
    const out = await session.run({
      x: new ort.Tensor('float32', x, [2, 3, 16, 16]),
      t: new ort.Tensor('float32', Float32Array.from(t), [2]),
    });
    return out.out.data as Float32Array;
  } finally {
    await session.release();
  }
}

const maxAbs = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);
const record = (tAbove: number | null, tBelow: number | null): WideStepsRecord => ({
  first: tAbove === null ? 0 : 1,
  last: tBelow === null ? 0 : 1,
  respacing: 'test',
  tAbove,
  tBelow,
  activations: 'float',
});

describe('wide steps', () => {
  it('strips exactly the activation quantizers: the exporter without activation sites gives the same outputs', async () => {
    const stripped = { ...plain, graph: floatActivationGraph(plain.graph) };
    const ops = (m: OnnxModel) => m.graph.nodes.filter((n) => n.opType === 'QuantizeLinear').length;
    expect(ops(plain)).toBeGreaterThan(0);
    expect(ops(stripped)).toBe(0);
    const a = await run(stripped, [100, 900]);
    const b = await run(floatActivations, [100, 900]);
    expect(maxAbs(a, b)).toBeLessThan(1e-4);
    expect(maxAbs(a, await run(plain, [100, 900]))).toBeGreaterThan(1e-3); // the 8-bit graph differs
  });

  it('runs the 8-bit graph between the thresholds and float activations outside, weights stored once', async () => {
    const wide = withWideSteps(plain, record(900, 100));
    const shipped = decodeModel(encodeModel(wide)); // through the codec, as written to the artifact
    const eight = await run(plain, [500, 500]);
    const float = await run(floatActivations, [50, 50]);
    expect(maxAbs(await run(shipped, [500, 500]), eight)).toBeLessThan(1e-6);
    expect(maxAbs(await run(shipped, [50, 50]), float)).toBeLessThan(1e-4);
    expect(maxAbs(await run(shipped, [950, 950]), await run(floatActivations, [950, 950]))).toBeLessThan(1e-4);
    // A batch that mixes steps runs wide when any of its t does.
    expect(maxAbs(await run(shipped, [50, 500]), await run(floatActivations, [50, 500]))).toBeLessThan(1e-4);
    const weightBytes = plain.graph.initializers.reduce((a, i) => a + i.data.byteLength, 0);
    const shippedBytes = shipped.graph.initializers.reduce((a, i) => a + i.data.byteLength, 0);
    expect(shippedBytes - weightBytes).toBe(8); // the two thresholds
    expect(encodeModel(wide).length / encodeModel(plain).length).toBeLessThan(1.2);
  });

  it('keeps every fused integer kernel of the 8-bit graph', async () => {
    const before = await inspectFusion(plain);
    const after = await inspectFusion(withWideSteps(plain, record(900, 100)));
    expect(before.integerTotal).toBeGreaterThan(20);
    expect(after.integerNodes).toEqual(before.integerNodes);
    expect(after.ops.If).toBe(1);
  });

  it('gives back the 8-bit graph it wraps', () => {
    const back = withoutWideSteps(decodeModel(encodeModel(withWideSteps(plain, record(900, 100)))));
    const same = Buffer.from(encodeModel(back)).equals(
      encodeModel({ ...plain, graph: { ...plain.graph, valueInfo: [] } }),
    );
    expect(same).toBe(true);
    expect(withoutWideSteps(plain)).toBe(plain);
  });

  it('only the last steps: one comparison, no Or', async () => {
    const wide = withWideSteps(plain, record(null, 100));
    expect(wide.graph.nodes.map((n) => n.opType)).toEqual(['ReduceMin', 'Less', 'If']);
    expect(maxAbs(await run(wide, [950, 950]), await run(plain, [950, 950]))).toBeLessThan(1e-6);
    expect(withWideSteps(plain, record(null, null))).toBe(plain);
  });

  it('thresholds sit between the respacing steps, on the t the model is fed', () => {
    const base = { diffusionSteps: 1000, noiseSchedule: 'linear' as const, learnSigma: false };
    const d = createDiffusion({ ...base, rescaleTimesteps: false }, 'ddim50'); // steps 0, 20, ..., 980
    expect(wideStepThresholds(d, { first: 1, last: 4 }, 'ddim50')).toMatchObject({ tAbove: 970, tBelow: 70 });
    expect(wideStepThresholds(d, { first: 0, last: 1 }, 'ddim50')).toMatchObject({ tAbove: null, tBelow: 10 });
    const scaled = createDiffusion({ ...base, diffusionSteps: 4000, rescaleTimesteps: true }, 'ddim50');
    const r = wideStepThresholds(scaled, { first: 1, last: 1 }, 'ddim50');
    expect(r.tAbove).toBeGreaterThan(scaled.modelTime(48));
    expect(r.tAbove).toBeLessThan(scaled.modelTime(49));
    expect(r.tBelow).toBeGreaterThan(scaled.modelTime(0));
    expect(r.tBelow).toBeLessThan(scaled.modelTime(1));
    expect(() => wideStepThresholds(d, { first: 25, last: 25 }, 'ddim50')).toThrow(/leaves no 8-bit step/);
  });

  it('parses FIRST,LAST and off', () => {
    expect(parseWideSteps('1,4')).toEqual({ first: 1, last: 4 });
    expect(parseWideSteps('off')).toEqual({ first: 0, last: 0 });
    expect(() => parseWideSteps('4')).toThrow(WideStepsError);
    expect(() => parseWideSteps('-1,2')).toThrow(WideStepsError);
  });
});
