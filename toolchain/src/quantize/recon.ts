/**
 * The weight-rounding hook and the driver that feeds it. A `WeightRounder` turns one conv/linear site's float
 * weight plus the second moments of its input into integer weights (nearest rounding, GPTQ, AdaRound...). The
 * driver collects those moments over the calibration set, either from the fp32 model for every layer at once
 * ('float'), or sequentially from the model whose earlier weight sites are already rounded, with every activation
 * quantizer in place ('quantized', what a layer-wise sequential reconstruction needs; with `cross` also the
 * moments of the quantized input and the float/quantized cross moment for QDrop-style objectives).
 */
import type { CalibrationSet } from '../calibrate/trajectory.ts';
import type { OnnxModel } from '../onnx/ir.ts';
import { encodeModel } from '../onnx/model.ts';
import { createSession } from '../runtime/ort.ts';
import { exportQdq, prepareModel, type QuantizedWeight, qdqNames } from './export.ts';
import { type GraphIndex, indexGraph } from './graph-index.ts';
import type { MatrixKernels } from './kernels.ts';
import type { Matrix } from './matrix.ts';
import { columnRate, inputDim, MomentAccumulator, type Moments } from './moments.ts';
import { calibrationFeeds, disposeAll, withOutputs } from './observe.ts';
import type { Range } from './observers.ts';
import type { QuantPlan, WeightSite } from './plan.ts';
import { type Grid, weightGrid } from './quant.ts';
import { weightMatrix } from './weights.ts';

export interface WeightRoundingContext {
  site: WeightSite;
  /** The float weight as [out, in*kernel]. */
  weight: Matrix;
  grid: Grid;
  /** Input second moments (E[x x^T] over im2col columns or linear rows; cross moments when asked for). */
  moments: Moments;
  kernels: MatrixKernels;
}

export interface WeightRounder {
  name: string;
  /** Where the input statistics come from (see the module comment). */
  inputs: 'float' | 'quantized';
  /** Also accumulate E[x~ x~^T] and E[x x~^T]; only with inputs 'quantized'. */
  cross?: boolean;
  /** Input vectors kept per layer (a seeded subsample), default 32768. */
  budget?: number;
  round(context: WeightRoundingContext): Promise<QuantizedWeight>;
}

export interface ReconOptions {
  kernels: MatrixKernels;
  /** Bytes of moment matrices held at once (groups of layers share a calibration pass), default 512 MiB. */
  memoryBudget?: number;
  threads?: number;
  seed?: number;
  onLayer?: (done: number, total: number, site: string) => void;
  signal?: AbortSignal;
}

/**
 * Integer weights for every weight site through `rounder`. `ranges` are the activation ranges (used by the
 * 'quantized' mode to build the partially quantized model).
 */
export async function roundAllWeights(
  model: OnnxModel,
  plan: QuantPlan,
  set: CalibrationSet,
  ranges: ReadonlyMap<string, Range>,
  rounder: WeightRounder,
  options: ReconOptions,
): Promise<Map<string, QuantizedWeight>> {
  if (rounder.cross && rounder.inputs !== 'quantized')
    throw new Error(`${rounder.name}: cross moments need quantized inputs`);
  const prepared = prepareModel(model, plan);
  const index = indexGraph(prepared.graph);
  const done = new Map<string, QuantizedWeight>();
  const groups =
    rounder.inputs === 'float'
      ? byMemory(plan.weights, rounder, options)
      : independentGroups(plan.weights, upstreamWeights(index, plan.weights), rounder, options);
  let count = 0;
  for (const group of groups) {
    options.signal?.throwIfAborted();
    const qdq = rounder.inputs === 'quantized' ? exportQdq(model, plan, ranges, done) : undefined;
    const moments = await collectMoments(prepared, qdq, plan, group, set, rounder, options);
    for (const site of group) {
      const weight = weightMatrix(index.initializer(site.weight)!);
      const grid = weightGrid(site.bits);
      done.set(
        site.node,
        await rounder.round({ site, weight, grid, moments: moments.get(site.node)!, kernels: options.kernels }),
      );
      options.onLayer?.(++count, plan.weights.length, site.node);
    }
  }
  return done;
}

function momentBytes(site: WeightSite, rounder: WeightRounder): number {
  const d = inputDim(site.input);
  return d * d * 8 * (rounder.cross ? 3 : 1) + 2048 * d * 8 * (rounder.cross ? 2 : 1);
}

/** Consecutive sites whose moment matrices fit the budget together. */
function byMemory(sites: WeightSite[], rounder: WeightRounder, options: ReconOptions): WeightSite[][] {
  const budget = options.memoryBudget ?? 512 * 2 ** 20;
  const groups: WeightSite[][] = [];
  let bytes = 0;
  for (const site of sites) {
    const b = momentBytes(site, rounder);
    if (groups.length === 0 || bytes + b > budget) {
      groups.push([]);
      bytes = 0;
    }
    groups.at(-1)!.push(site);
    bytes += b;
  }
  return groups;
}

/** For each site, the weight sites its input depends on (through any path). */
function upstreamWeights(index: GraphIndex, sites: WeightSite[]): Map<string, Set<string>> {
  const weighted = new Set(sites.map((s) => s.node));
  const memo = new Map<string, Set<string>>();
  const visit = (value: string): Set<string> => {
    const known = memo.get(value);
    if (known) return known;
    const out = new Set<string>();
    memo.set(value, out);
    const node = index.producer(value);
    if (node) {
      if (weighted.has(node.name)) out.add(node.name);
      for (const input of node.inputs) if (input && !index.initializer(input)) for (const n of visit(input)) out.add(n);
    }
    return out;
  };
  return new Map(sites.map((s) => [s.node, visit(s.inputValue)]));
}

/**
 * Sequential groups: a site joins the current group unless its input depends on a weight of that group (so the
 * group's inputs are final when the group's pass runs), within the memory budget.
 */
function independentGroups(
  sites: WeightSite[],
  upstream: Map<string, Set<string>>,
  rounder: WeightRounder,
  options: ReconOptions,
): WeightSite[][] {
  const budget = options.memoryBudget ?? 512 * 2 ** 20;
  const groups: WeightSite[][] = [];
  let members = new Set<string>();
  let bytes = 0;
  for (const site of sites) {
    const b = momentBytes(site, rounder);
    const dependent = [...members].some((n) => upstream.get(site.node)!.has(n));
    if (groups.length === 0 || dependent || bytes + b > budget) {
      groups.push([]);
      members = new Set();
      bytes = 0;
    }
    groups.at(-1)!.push(site);
    members.add(site.node);
    bytes += b;
  }
  return groups;
}

async function collectMoments(
  prepared: OnnxModel,
  qdq: OnnxModel | undefined,
  plan: QuantPlan,
  group: WeightSite[],
  set: CalibrationSet,
  rounder: WeightRounder,
  options: ReconOptions,
): Promise<Map<string, Moments>> {
  const budget = rounder.budget ?? 32768;
  const accumulators = new Map<string, MomentAccumulator>();
  // Created at the first batch, when the input's spatial size (vectors per sample) is known.
  const accumulator = (site: WeightSite, k: number, dims: readonly number[]) => {
    let acc = accumulators.get(site.node);
    if (!acc) {
      const perSample = site.input.kind === 'linear' ? 1 : dims.slice(2).reduce((a, b) => a * b, 1);
      const rate = columnRate(budget, perSample * set.count);
      acc = new MomentAccumulator(site.input, options.kernels, {
        rate,
        seed: (options.seed ?? 0) + k,
        cross: rounder.cross,
      });
      accumulators.set(site.node, acc);
    }
    return acc;
  };
  const floatValues = [...new Set(group.map((s) => s.inputValue))];
  const quantizedValues = qdq ? [...new Set(group.map((s) => quantizedInput(plan, s)))] : [];
  const floatSession = await createSession(encodeModel(withOutputs(prepared, floatValues)), {
    threads: options.threads,
    optimization: 'all',
  });
  // NOTE: optimizations off for the QDQ model so the dequantized inputs exist under their written names.
  const qdqSession = qdq
    ? await createSession(encodeModel(withOutputs(qdq, quantizedValues)), {
        threads: options.threads,
        optimization: 'disabled',
      })
    : undefined;
  try {
    for (let i = 0; i < set.count; i++) {
      options.signal?.throwIfAborted();
      const feeds = calibrationFeeds(set, i, 1);
      const f = rounder.inputs === 'float' || rounder.cross ? await floatSession.run(feeds) : undefined;
      const q = qdqSession ? await qdqSession.run(feeds) : undefined;
      for (const [k, site] of group.entries()) {
        const qt = q?.[quantizedInput(plan, site)];
        const ft = f?.[site.inputValue];
        const acc = accumulator(site, k, (ft ?? qt)!.dims);
        if (rounder.inputs === 'float') await acc.add(ft!.data as Float32Array, ft!.dims);
        else if (rounder.cross) await acc.add(ft!.data as Float32Array, ft!.dims, qt!.data as Float32Array);
        else await acc.add(qt!.data as Float32Array, qt!.dims);
      }
      if (f) disposeAll(f);
      if (q) disposeAll(q);
    }
  } finally {
    await floatSession.release();
    await qdqSession?.release();
  }
  const out = new Map<string, Moments>();
  for (const [node, acc] of accumulators) out.set(node, await acc.finish());
  return out;
}

/** The value the site's node reads in the QDQ model: its input quantizer's output, else the float input. */
function quantizedInput(plan: QuantPlan, site: WeightSite): string {
  const quantized = plan.activations.some((a) => a.consumers.some((c) => c.node === site.node && c.input === 0));
  return quantized ? qdqNames(site.inputValue).dq : site.inputValue;
}
