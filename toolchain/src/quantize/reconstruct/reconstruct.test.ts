import type * as ort from 'onnxruntime-node';
import { beforeAll, describe, expect, it } from 'vitest';
import { hashInput, hashWeights } from '../../../test/fixtures/unet/hash-tensors.ts';
import type { CalibrationSet } from '../../calibrate/trajectory.ts';
import { parseFlags } from '../../models/flags.ts';
import { buildUNet } from '../../models/unet.ts';
import { unetLayout, unetWeightShapes } from '../../models/unet-layout.ts';
import type { OnnxModel } from '../../onnx/ir.ts';
import { encodeModel } from '../../onnx/model.ts';
import { createSession } from '../../runtime/ort.ts';
import { exportQdq, prepareModel, type QuantizedWeight } from '../export/export.ts';
import { indexGraph } from '../graph-index.ts';
import { observeActivations, withOutputs } from '../observe/observe.ts';
import type { Range } from '../observe/observers.ts';
import { planQuantization, type WeightSite } from '../plan/plan.ts';
import { dequantizeWeights } from '../quant.ts';
import { type ReconstructionResult, reconstructWeights } from './reconstruct.ts';
import { calibrationBatches } from './reconstruct-forward.ts';
import { moduleOf, reconstructionStages } from './reconstruct-stages.ts';
import { weightMatrix } from './weights.ts';

// A tiny random-weight U-Net: two levels (32, 64 channels), attention at 4x4, scale-shift norm, learned sigma.
const flags = parseFlags(
  '--image_size 8 --num_channels 32 --channel_mult 1,2 --num_res_blocks 1 --attention_resolutions 4 ' +
    '--num_heads 2 --learn_sigma True --use_scale_shift_norm True',
);
const model = buildUNet(flags.unet, hashWeights(7, [...unetWeightShapes(unetLayout(flags.unet))]));
// The image-end convs too: the first layer reads the graph input x, the last one writes the graph output.
const plan = planQuantization(model.graph, {
  scheme: 'full',
  weightBits: 4,
  activationBits: 8,
  imageEnds: 'quantized',
});
const shape: [number, number, number] = [3, 8, 8];
const COUNT = 24;
const set: CalibrationSet = {
  x: hashInput(3, 1, [COUNT, ...shape]).map((v) => 1.5 * v),
  t: Float32Array.from({ length: COUNT }, (_, i) => (i * 997) % 1000),
  stepIndex: Int32Array.from({ length: COUNT }, (_, i) => i % 4),
  count: COUNT,
  shape,
};
// Every input vector of every layer goes into the moments, so reported errors are exact over the samples.
const exact = { samples: COUNT, batch: 8, columns: 1e9, threads: 1 } as const;
let ranges: Map<string, Range>;

function expectRelative(actual: number, expected: number, tolerance: number): void {
  expect(Math.abs(actual - expected)).toBeLessThanOrEqual(tolerance * Math.abs(expected));
}

beforeAll(async () => {
  ranges = (await observeActivations(model, plan, set, { observer: { kind: 'minmax' }, threads: 1 })).ranges;
}, 60_000);

describe('reconstruction stages', () => {
  const stages = reconstructionStages(prepareModel(model, plan).graph, plan.weights);
  const modules = [...new Set(stages.map((s) => s.module))];

  it('cover every weight site once, module by module in graph order', () => {
    expect(stages.flatMap((s) => s.sites.map((w) => w.node)).sort()).toEqual(plan.weights.map((w) => w.node).sort());
    expect(modules).toEqual([
      'time_embed',
      'input_blocks.0',
      'input_blocks.1',
      'input_blocks.2',
      'input_blocks.3',
      'middle_block',
      'output_blocks.0',
      'output_blocks.1',
      'output_blocks.2',
      'output_blocks.3',
      'out',
    ]);
    for (const s of stages) for (const w of s.sites) expect(moduleOf(w.node)).toBe(s.module);
  });

  it('split a ResBlock where its out conv reads what its in conv wrote', () => {
    // By prefix: the plan may split a layer (the embedding Gemm into scale and shift halves, qkv into q, k, v).
    const stageOf = (prefix: string) => [
      ...new Set(stages.filter((s) => s.sites.some((w) => w.node.startsWith(prefix))).map((s) => s.index)),
    ];
    const [inConv] = stageOf('input_blocks.1.0.in_layers.2');
    expect(stageOf('input_blocks.1.0.emb_layers.1')).toEqual([inConv]);
    expect(stageOf('input_blocks.1.0.out_layers.3')).toEqual([inConv + 1]);
    expect(stageOf('time_embed.2')).toEqual([stageOf('time_embed.0')[0] + 1]);
  });
});

/** E||(W^ - W) x~||^2 per layer, from one session of the final QDQ model with a Conv/Gemm of W^ - W added. */
async function recomputedErrors(
  qdq: OnnxModel,
  fp32: OnnxModel,
  sites: WeightSite[],
  weights: Map<string, QuantizedWeight>,
): Promise<number[]> {
  const floats = new Map(fp32.graph.initializers.map((t) => [t.name, t]));
  const index = indexGraph(qdq.graph);
  const graph = { ...qdq.graph, nodes: [...qdq.graph.nodes], initializers: [...qdq.graph.initializers] };
  for (const site of sites) {
    const w = floats.get(site.weight)!;
    const { q, scales } = weights.get(site.node)!;
    const dw = dequantizeWeights(q, scales, weightMatrix(w).cols).data.map((v, i) => v - (w.data as Float32Array)[i]);
    const node = index.node(site.node)!;
    graph.initializers.push({ name: `${site.node}/dw`, dtype: 'float32', dims: w.dims, data: Float32Array.from(dw) });
    graph.nodes.push({
      ...node,
      name: `${site.node}/error`,
      inputs: [node.inputs[0], `${site.node}/dw`],
      outputs: [`${site.node}/error`],
    });
  }
  const probe = withOutputs(
    { ...qdq, graph },
    sites.map((s) => `${s.node}/error`),
  );
  const session = await createSession(encodeModel(probe), { threads: 1, optimization: 'disabled' });
  const sums = sites.map(() => ({ total: 0, vectors: 0 }));
  try {
    for (const feeds of calibrationBatches(set, COUNT, COUNT)) {
      const result = await session.run(feeds);
      sites.forEach((site, k) => {
        const y = result[`${site.node}/error`];
        const out = site.shape[0];
        const data = y.data as Float32Array;
        for (const v of data) sums[k].total += v * v;
        sums[k].vectors += data.length / out;
      });
    }
  } finally {
    await session.release();
  }
  return sums.map((s) => s.total / s.vectors);
}

async function reconstructAndCheck(method: 'gptq' | 'adaround'): Promise<ReconstructionResult> {
  const visited: string[] = [];
  const result = await reconstructWeights(model, plan, ranges, set, {
    method,
    ...exact,
    adaround: { iterations: 50, lr: 0.03 }, // enough to beat nearest on this model, a few seconds
    onLayer: (layer, done, total) => {
      visited.push(layer.node);
      expect(done).toBe(visited.length);
      expect(total).toBe(plan.weights.length);
    },
  });
  const stages = reconstructionStages(prepareModel(model, plan).graph, plan.weights);
  expect(visited).toEqual(stages.flatMap((s) => s.sites.map((w) => w.node)));
  expect([...result.weights.keys()].sort()).toEqual(plan.weights.map((w) => w.node).sort());
  return result;
}

function totals(r: ReconstructionResult) {
  return r.layers.reduce((a, l) => ({ nearest: a.nearest + l.errorNearest, error: a.error + l.error }), {
    nearest: 0,
    error: 0,
  });
}

describe.each(['gptq', 'adaround'] as const)('sequential %s reconstruction (tiny U-Net, W4A8 full)', (method) => {
  let result: ReconstructionResult;
  beforeAll(async () => {
    result = await reconstructAndCheck(method);
  }, 60_000); // ~5 s alone; the machine is shared

  it('lowers the layers output error below nearest rounding', () => {
    const { nearest, error } = totals(result);
    expect(error).toBeLessThan(0.8 * nearest);
    const better = result.layers.filter((l) => l.error < l.errorNearest).length;
    expect(better).toBeGreaterThanOrEqual(Math.ceil(0.9 * result.layers.length));
    if (method === 'gptq') for (const l of result.layers) expect(l.error).toBeLessThanOrEqual(l.errorNearest * 1.001);
  });

  it('reports errors on the inputs of the final model (every earlier layer already integer)', async () => {
    const qdq = exportQdq(model, plan, ranges, result.weights);
    const errors = await recomputedErrors(qdq, prepareModel(model, plan), plan.weights, result.weights);
    result.layers.forEach((l) => {
      const k = plan.weights.findIndex((w) => w.node === l.node);
      expectRelative(l.error, errors[k], 1e-4);
    });
  });
});

describe('cross objective', () => {
  it('reports E||W x - W^ x~||^2 with x from the fp32 model', async () => {
    const sites = plan.weights.filter((w) => /^(input_blocks\.1\.0\.out_layers\.3|out\.2|time_embed\.2)$/.test(w.node));
    const result = await reconstructWeights(model, plan, ranges, set, { method: 'gptq', objective: 'cross', ...exact });
    const errors = await crossErrors(result.weights, sites);
    for (const [k, site] of sites.entries()) {
      const layer = result.layers.find((l) => l.node === site.node)!;
      expectRelative(layer.error, errors[k], 1e-4);
      expect(layer.error).toBeLessThan(layer.errorNearest);
    }
  }, 60_000);
});

/** E||W x - W^ x~||^2 from the fp32 and final QDQ models' layer inputs, the two products run by onnxruntime. */
async function crossErrors(weights: Map<string, QuantizedWeight>, sites: WeightSite[]): Promise<number[]> {
  const fp32 = prepareModel(model, plan);
  const qdq = exportQdq(model, plan, ranges, weights);
  const qIndex = indexGraph(qdq.graph);
  const inputs = async (m: OnnxModel, values: string[]) => {
    const session = await createSession(encodeModel(withOutputs(m, values)), { threads: 1, optimization: 'disabled' });
    try {
      const [feeds] = calibrationBatches(set, COUNT, COUNT);
      const r = await session.run(feeds);
      return values.map((v) => r[v]);
    } finally {
      await session.release();
    }
  };
  const x = await inputs(
    fp32,
    sites.map((s) => s.inputValue),
  );
  const xq = await inputs(
    qdq,
    sites.map((s) => qIndex.node(s.node)!.inputs[0]),
  );
  const floats = new Map(fp32.graph.initializers.map((t) => [t.name, t]));
  const out: number[] = [];
  for (const [k, site] of sites.entries()) {
    const node = indexGraph(fp32.graph).node(site.node)!;
    const w = floats.get(site.weight)!;
    const { q, scales } = weights.get(site.node)!;
    const wq = Float32Array.from(dequantizeWeights(q, scales, weightMatrix(w).cols).data);
    const graph = {
      name: 'difference',
      nodes: [
        { ...node, name: 'a', inputs: ['x', 'w'], outputs: ['a'] },
        { ...node, name: 'b', inputs: ['xq', 'wq'], outputs: ['b'] },
        { name: 'd', opType: 'Sub', inputs: ['a', 'b'], outputs: ['d'], attributes: {} },
      ],
      initializers: [
        { ...w, name: 'w' },
        { ...w, name: 'wq', data: wq },
      ],
      inputs: ['x', 'xq'].map((name) => ({ name, dtype: 'float32' as const, shape: [], unknownRank: true })),
      outputs: [{ name: 'd', dtype: 'float32' as const, shape: [], unknownRank: true }],
      valueInfo: [],
    };
    const session = await createSession(encodeModel({ ...fp32, graph }), { threads: 1 });
    try {
      const d = (await session.run({ x: x[k], xq: xq[k] })).d as ort.Tensor;
      const data = d.data as Float32Array;
      let total = 0;
      for (const v of data) total += v * v;
      out.push(total / (data.length / site.shape[0]));
    } finally {
      await session.release();
    }
  }
  return out;
}
