/**
 * Mixed-precision W4A8: which weight layers stay at 8 bits within a budget (a share of the quantized weights'
 * parameters). Layers are ranked by their effect on the model output: the epsilon error when that layer alone
 * has 4-bit (nearest, per-channel) weights and everything else is float, measured on calibration pairs. The
 * plan keeps the layers with the most output error per parameter (greedy knapsack), as Q-Diffusion keeps the
 * first and last layers, but chosen by measurement.
 */
import type { CalibrationSet } from '../../calibrate/trajectory.ts';
import { CLIError } from '../../errors.ts';
import type { OnnxModel, OnnxTensor } from '../../onnx/ir.ts';
import { encodeModel } from '../../onnx/model.ts';
import { createSession, float32Tensor } from '../../runtime/ort.ts';
import { prepareModel } from '../export/export.ts';
import { dequantizeWeights } from '../quant.ts';
import { roundWeightsNearest, weightMatrix } from '../reconstruct/weights.ts';
import { SqnrAccumulator } from '../sqnr.ts';
import type { QuantPlan, WeightSite } from './plan-types.ts';

/** An unmeetable --w8-budget: a command-line mistake (exit 2). */
export class BudgetError extends CLIError {
  override name = 'BudgetError';
  constructor(message: string) {
    super(message, 2);
  }
}

export interface LayerSensitivity {
  node: string;
  params: number;
  /** Epsilon SQNR (dB) vs fp32 with only this layer's weights at 4 bits. */
  aloneW4SqnrDb: number;
}

export interface W8Layer extends LayerSensitivity {
  /** Share of the quantized weights' parameters. */
  share: number;
  reason: string;
}

export interface PrecisionChoice {
  budget: number;
  /** Share actually kept at 8 bits (<= budget). */
  used: number;
  totalParams: number;
  w8: W8Layer[];
  /** Every 4-bit candidate with its measured sensitivity, most sensitive per parameter first. */
  ranking: LayerSensitivity[];
}

const paramsOf = (site: WeightSite) => site.shape.reduce((a, b) => a * b, 1);

/**
 * A budget must be a share in [0, 1], apply to a plan with 4-bit weights, and (when > 0) fit at least the
 * smallest layer: otherwise nothing could be kept at 8 bits and the flag would silently do nothing.
 */
export function checkBudget(budget: number, plan: QuantPlan): void {
  if (!Number.isFinite(budget) || budget < 0 || budget > 1) {
    throw new BudgetError(`--w8-budget must be a share of the weights in 0..1, got ${budget}`);
  }
  if (budget === 0) return;
  const four = plan.weights.filter((s) => s.bits === 4);
  if (four.length === 0) throw new BudgetError('--w8-budget applies to 4-bit weights (--wbits 4); this plan has none');
  const total = plan.weights.reduce((a, s) => a + paramsOf(s), 0);
  const smallest = Math.min(...four.map(paramsOf)) / total;
  if (budget < smallest) {
    throw new BudgetError(
      `--w8-budget ${budget} cannot be met: the smallest layer is ${(smallest * 100).toFixed(2)}% of the weights`,
    );
  }
}

/** Noise power relative to the signal, from an SQNR in dB (the quantity that adds up across layers). */
const noiseShare = (db: number) => 10 ** (-db / 10);

/** Greedy knapsack: most output error per parameter first, each layer kept if it still fits the budget. */
export function chooseW8Layers(sensitivity: LayerSensitivity[], budget: number, totalParams: number): PrecisionChoice {
  const ranking = [...sensitivity].sort(
    (a, b) => noiseShare(b.aloneW4SqnrDb) / b.params - noiseShare(a.aloneW4SqnrDb) / a.params,
  );
  const limit = budget * totalParams;
  let used = 0;
  const w8: W8Layer[] = [];
  ranking.forEach((layer, rank) => {
    if (used + layer.params > limit) return;
    used += layer.params;
    w8.push({
      ...layer,
      share: layer.params / totalParams,
      reason:
        `alone at 4 bits: epsilon SQNR ${layer.aloneW4SqnrDb.toFixed(1)} dB; ` +
        `rank ${rank + 1} of ${ranking.length} by output error per parameter`,
    });
  });
  return { budget, used: used / totalParams, totalParams, w8, ranking };
}

/** The plan with the chosen layers' weights at 8 bits. */
export function withW8Layers(plan: QuantPlan, nodes: ReadonlySet<string>): QuantPlan {
  return { ...plan, weights: plan.weights.map((s) => (nodes.has(s.node) ? { ...s, bits: 8 } : s)) };
}

function replaceInitializer(model: OnnxModel, tensor: OnnxTensor): OnnxModel {
  const initializers = model.graph.initializers.map((t) => (t.name === tensor.name ? tensor : t));
  return { ...model, graph: { ...model.graph, initializers } };
}

/**
 * Each 4-bit layer's output sensitivity: one fp32 session per layer with that layer's weights replaced by
 * their 4-bit nearest-rounded values, run on `indices` pairs in one batch, epsilon SQNR against fp32.
 */
export async function measureSensitivity(
  fp32: OnnxModel,
  plan: QuantPlan,
  set: CalibrationSet,
  indices: number[],
  options: { threads?: number; onLayer?: (done: number, total: number) => void; signal?: AbortSignal } = {},
): Promise<LayerSensitivity[]> {
  const prepared = prepareModel(fp32, plan);
  const [c, h, w] = set.shape;
  const size = c * h * w;
  const x = new Float32Array(indices.length * size);
  const t = new Float32Array(indices.length);
  indices.forEach((i, k) => {
    x.set(set.x.subarray(i * size, (i + 1) * size), k * size);
    t[k] = set.t[i];
  });
  const feeds = () => ({ x: float32Tensor(x, [indices.length, c, h, w]), t: float32Tensor(t, [indices.length]) });
  const epsilon = (out: Float32Array) => {
    const per = out.length / indices.length;
    const eps = new Float32Array(indices.length * size);
    for (let k = 0; k < indices.length; k++) eps.set(out.subarray(k * per, k * per + size), k * size);
    return eps;
  };
  const run = async (model: OnnxModel) => {
    const session = await createSession(encodeModel(model), { threads: options.threads, optimization: 'all' });
    try {
      const result = await session.run(feeds());
      return epsilon(result.out.data as Float32Array);
    } finally {
      await session.release();
    }
  };
  const reference = await run(prepared);
  const candidates = plan.weights.filter((s) => s.bits === 4);
  const out: LayerSensitivity[] = [];
  for (const site of candidates) {
    options.signal?.throwIfAborted();
    const tensor = prepared.graph.initializers.find((i) => i.name === site.weight);
    if (!tensor) throw new Error(`${site.node}: no initializer ${site.weight}`);
    const m = weightMatrix(tensor);
    const qw = roundWeightsNearest(site, m, 'lp');
    const dq = dequantizeWeights(qw.q, qw.scales, m.cols).data;
    const eps = await run(replaceInitializer(prepared, { ...tensor, data: Float32Array.from(dq) }));
    const acc = new SqnrAccumulator();
    acc.add(reference, eps);
    out.push({ node: site.node, params: paramsOf(site), aloneW4SqnrDb: acc.db() });
    options.onLayer?.(out.length, candidates.length);
  }
  return out;
}
