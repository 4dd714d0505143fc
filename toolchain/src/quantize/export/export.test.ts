import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import * as ort from 'onnxruntime-node';
import { beforeAll, describe, expect, it } from 'vitest';
import { attr, GraphBuilder } from '../../onnx/builder.ts';
import { assertValidModel, defaultOpset } from '../../onnx/check.ts';
import type { OnnxModel } from '../../onnx/ir.ts';
import { encodeModel } from '../../onnx/model.ts';
import { createSession, type OptimizationLevel } from '../../runtime/ort.ts';
import { indexGraph } from '../graph-index.ts';
import { observeActivations } from '../observe/observe.ts';
import { type PlanOptions, planQuantization, type QuantPlan } from '../plan/plan.ts';
import { activationParams, fakeQuantizeValue, weightGrid } from '../quant.ts';
import { roundWeightsNearest, weightMatrix } from '../reconstruct/weights.ts';
import { sqnrDb } from '../sqnr.ts';
import { syntheticCalibration, tinyUNet } from '../test-model.ts';
import { exportQdq, prepareModel, type QuantizedWeight } from './export.ts';
import { inspectFusion } from './fusion.ts';

const model = tinyUNet();
const set = syntheticCalibration(16, 24);

async function run(m: OnnxModel, level: OptimizationLevel = 'all', first = 0, n = 4): Promise<Float32Array> {
  const session = await createSession(encodeModel(m), { threads: 1, optimization: level });
  try {
    const size = 3 * 16 * 16;
    const out = await session.run({
      x: new ort.Tensor('float32', set.x.slice(first * size, (first + n) * size), [n, 3, 16, 16]),
      t: new ort.Tensor('float32', set.t.slice(first, first + n), [n]),
    });
    return out.out.data as Float32Array;
  } finally {
    await session.release();
  }
}

function nearestWeights(m: OnnxModel, plan: QuantPlan): Map<string, QuantizedWeight> {
  const index = indexGraph(prepareModel(m, plan).graph);
  return new Map(
    plan.weights.map((w) => [w.node, roundWeightsNearest(w, weightMatrix(index.initializer(w.weight)!), 'absmax')]),
  );
}

async function quantized(options: PlanOptions): Promise<{ plan: QuantPlan; q: OnnxModel }> {
  const plan = planQuantization(model.graph, options);
  const stats = await observeActivations(model, plan, set, { observer: { kind: 'minmax' }, threads: 1 });
  return { plan, q: exportQdq(model, plan, stats.ranges, nearestWeights(model, plan)) };
}

let reference: Float32Array;
beforeAll(async () => {
  reference = await run(model);
});

describe('graph rewrites of the plan', () => {
  it('shortcut splitting, q/k/v and scale/shift as separate layers, the reordered attention output: same in float32', async () => {
    for (const scheme of ['qdiff', 'full'] as const) {
      const plan = planQuantization(model.graph, { scheme, weightBits: 8, activationBits: 8 });
      expect(plan.splits.length).toBeGreaterThan(0);
      expect(plan.attentionReorders.length).toBeGreaterThan(0);
      if (scheme === 'full') expect(plan.qkvSplits.length * plan.embSplits.length).toBeGreaterThan(0);
      const prepared = prepareModel(model, plan);
      assertValidModel(prepared);
      expect(prepareModel(prepared, plan)).toBe(prepared); // applying twice changes nothing
      const out = await run(prepared, 'disabled');
      const scale = Math.max(...reference.map(Math.abs));
      let worst = 0;
      for (let i = 0; i < out.length; i++) worst = Math.max(worst, Math.abs(out[i] - reference[i]));
      expect(worst / scale, scheme).toBeLessThan(1e-5);
    }
  });
});

describe('exportQdq', () => {
  it('full W8A8: valid opset-17 model, int8 weights, runs close to fp32, fuses into integer kernels', async () => {
    const { plan, q } = await quantized({ scheme: 'full', weightBits: 8, activationBits: 8 });
    assertValidModel(q);
    expect(defaultOpset(q)).toBe(17);
    const inits = new Map(q.graph.initializers.map((t) => [t.name, t]));
    for (const w of plan.weights) {
      expect(inits.has(w.weight)).toBe(false); // the float weight is gone
      expect(inits.get(`${w.weight}/qdq/q`)?.dtype).toBe('int8');
    }
    const fused = await run(q, 'all');
    expect(sqnrDb(reference, fused)).toBeGreaterThan(20);
    // Fused integer kernels and the unfused QDQ graph agree up to rounding ties (this random-weight model
    // amplifies a one-step difference in one element to ~28 dB at the output; see the one-conv test for exactness).
    expect(sqnrDb(await run(q, 'disabled'), fused)).toBeGreaterThan(20);
    const fusion = await inspectFusion(q);
    expect(fusion.integerNodes.QLinearConv).toBeGreaterThan(10);
    expect(fusion.integerNodes.QGemm).toBeGreaterThan(0);
    expect(fusion.integerNodes.QLinearAdd).toBeGreaterThan(0);
    expect(fusion.integerNodes.QLinearMatMul ?? 0).toBeGreaterThan(0);
    expect(fusion.floatLayerTotal).toBe(2); // the image-space ends, kept float by default
  });

  it('full with quantized image ends leaves no float conv/matmul/gemm', async () => {
    const { q } = await quantized({ scheme: 'full', weightBits: 8, activationBits: 8, imageEnds: 'quantized' });
    const fusion = await inspectFusion(q);
    expect(fusion.floatLayers).toEqual({});
    expect(sqnrDb(reference, await run(q))).toBeGreaterThan(15);
  });

  it('ptq4dm and qdiff export and run', async () => {
    for (const scheme of ['ptq4dm', 'qdiff'] as const) {
      const { q } = await quantized({ scheme, weightBits: 8, activationBits: 8 });
      assertValidModel(q);
      expect(sqnrDb(reference, await run(q)), scheme).toBeGreaterThan(20);
    }
  });

  it('W4: opset 21 with int4 weights; A16: int16 activations on the uint16 grid, closer to fp32 than A8', async () => {
    const w4 = await quantized({ scheme: 'qdiff', weightBits: 4, activationBits: 8 });
    assertValidModel(w4.q);
    expect(defaultOpset(w4.q)).toBe(21);
    const int4 = new Set(w4.q.graph.initializers.filter((t) => t.dtype === 'int4').map((t) => t.name));
    for (const w of w4.plan.weights) expect(int4.has(`${w.weight}/qdq/q`)).toBe(true);
    const w4out = await run(w4.q);
    expect(sqnrDb(reference, w4out)).toBeGreaterThan(3);
    const a8 = await quantized({ scheme: 'qdiff', weightBits: 8, activationBits: 8 });
    const a16 = await quantized({ scheme: 'qdiff', weightBits: 8, activationBits: 16 });
    expect(defaultOpset(a16.q)).toBe(21);
    expect(a16.q.graph.initializers.some((t) => t.dtype === 'int16')).toBe(true);
    expect(sqnrDb(reference, await run(a16.q))).toBeGreaterThan(sqnrDb(reference, await run(a8.q)) + 3);
  });

  it('runs in onnxruntime-web (WASM, one thread) with the same result as onnxruntime-node', async () => {
    const { q } = await quantized({ scheme: 'full', weightBits: 8, activationBits: 8 });
    const web = await import('onnxruntime-web');
    web.env.wasm.numThreads = 1;
    const wasm = createRequire(import.meta.url).resolve('onnxruntime-web/ort-wasm-simd-threaded.wasm');
    web.env.wasm.wasmBinary = await readFile(wasm);
    const session = await web.InferenceSession.create(encodeModel(q), { graphOptimizationLevel: 'all' });
    const size = 3 * 16 * 16;
    const out = await session.run({
      x: new web.Tensor('float32', set.x.slice(0, 4 * size), [4, 3, 16, 16]),
      t: new web.Tensor('float32', set.t.slice(0, 4), [4]),
    });
    await session.release();
    // Different integer kernels (WASM vs MLAS) may round a tie differently; this random model amplifies it.
    expect(sqnrDb(await run(q), out.out.data as Float32Array)).toBeGreaterThan(20);
  });
});

describe('exportQdq numerics on one conv', () => {
  it('QuantizeLinear/DequantizeLinear placement and parameters match a fake-quant reference', async () => {
    const b = new GraphBuilder('one-conv');
    b.input('x', 'float32', ['N', 2, 4, 4]);
    const w = Float32Array.from({ length: 3 * 2 * 9 }, (_, i) => Math.sin(i * 1.7) * 0.5);
    b.initializer({ name: 'c.weight', dtype: 'float32', dims: [3, 2, 3, 3], data: w });
    b.initializer({ name: 'c.bias', dtype: 'float32', dims: [3], data: Float32Array.of(0.1, -0.2, 0.3) });
    const y = b.op('c', 'Conv', ['x', 'c.weight', 'c.bias'], {
      kernel_shape: attr.ints([3, 3]),
      pads: attr.ints([1, 1, 1, 1]),
    });
    b.output(y, 'float32', ['N', 3, 4, 4]);
    const conv = b.model();
    const plan = planQuantization(conv.graph, {
      scheme: 'full',
      weightBits: 8,
      activationBits: 8,
      imageEnds: 'quantized',
    });
    const ranges = new Map([
      ['x', { min: -1, max: 1.5 }],
      ['c', { min: -2, max: 2 }],
    ]);
    const weights = nearestWeights(conv, plan);
    const q = exportQdq(conv, plan, ranges, weights);
    const x = Float32Array.from({ length: 32 }, (_, i) => Math.cos(i * 0.9) * 1.7);
    const outputs = [];
    for (const optimization of ['disabled', 'all'] as const) {
      const session = await createSession(encodeModel(q), { optimization });
      outputs.push((await session.run({ x: new ort.Tensor('float32', x, [1, 2, 4, 4]) })).c.data as Float32Array);
      await session.release();
    }
    const [got, fused] = outputs;
    // QLinearConv takes the int32 bias as is, assuming the scale s_in*s_w[c] the export wrote: identical results.
    expect([...fused]).toEqual([...got]);
    // Reference: fake-quantize x, dequantize the integer weights, float conv, fake-quantize the output.
    const px = activationParams(-1, 1.5);
    const py = activationParams(-2, 2);
    const xq = x.map((v) => fakeQuantizeValue(v, px));
    const { q: wq, scales } = weights.get('c')!;
    expect(weightGrid(8).qmax).toBe(127);
    let worst = 0;
    for (let o = 0; o < 3; o++) {
      for (let i = 0; i < 4; i++) {
        for (let j = 0; j < 4; j++) {
          let acc = [0.1, -0.2, 0.3][o];
          for (let c = 0; c < 2; c++) {
            for (let ki = 0; ki < 3; ki++) {
              for (let kj = 0; kj < 3; kj++) {
                const yi = i + ki - 1;
                const xj = j + kj - 1;
                if (yi < 0 || yi > 3 || xj < 0 || xj > 3) continue;
                acc += xq[c * 16 + yi * 4 + xj] * wq[((o * 2 + c) * 3 + ki) * 3 + kj] * scales[o];
              }
            }
          }
          const expected = fakeQuantizeValue(acc, py);
          worst = Math.max(worst, Math.abs(got[o * 16 + i * 4 + j] - expected));
        }
      }
    }
    // Within one output step (the int32 bias rounds to s_in*s_w; a value on a rounding boundary may flip).
    expect(worst).toBeLessThanOrEqual(py.scale * 1.0001);
  });
});
