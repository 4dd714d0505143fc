/**
 * Sequential layer-wise weight reconstruction (`--recon gptq|adaround`): stage by stage in graph order, each
 * layer's input second moments are taken from the QDQ model in which every earlier stage already has its final
 * integer weights and every activation is fake-quantized by the plan, so each layer is fitted to the inputs it will
 * really see (QDrop's lesson); then the layer is rounded by GPTQ or AdaRound on the quadratic form
 * (reconstruct-layer.ts) and its integers go into the model before the next stage runs.
 *
 * Cost: one forward pass of the QDQ model over `samples` calibration pairs in total (plus one of the fp32 model
 * for the cross objectives), moments from at most `columns` input vectors per layer, and the rounding itself.
 */
import type { CalibrationSet } from '../../calibrate/trajectory.ts';
import type { OnnxModel, OnnxTensor } from '../../onnx/ir.ts';
import type { OptimizationLevel } from '../../runtime/ort.ts';
import { exportQdq, prepareModel, type QuantizedWeight } from '../export/export.ts';
import { type GraphIndex, indexGraph } from '../graph-index.ts';
import type { Range } from '../observe/observers.ts';
import type { ScaleMethod } from '../observe/range-search.ts';
import type { QuantPlan, WeightSite } from '../plan/plan.ts';
import { weightGrid } from '../quant.ts';
import { ortKernels } from './kernels-ort.ts';
import { columnRate, MomentAccumulator, type Moments } from './moments.ts';
import { calibrationBatches, SegmentedPass } from './reconstruct-forward.ts';
import {
  type AdaRoundSettings,
  type GptqSettings,
  type LayerKernels,
  type ReconMethod,
  type ReconObjective,
  solveLayer,
} from './reconstruct-layer.ts';
import { type ReconStage, reconstructionStages } from './reconstruct-stages.ts';
import { roundWeightsNearest, weightMatrix } from './weights.ts';

export type { ReconMethod, ReconObjective } from './reconstruct-layer.ts';

export const RECON_METHODS: readonly ReconMethod[] = ['none', 'gptq', 'adaround'];

export interface ReconstructOptions {
  /** 'none' keeps nearest rounding but still runs the pass, to report each layer's error. */
  method: ReconMethod;
  /**
   * Default 'plain' (reconstruct-layer.ts), which also needs no fp32 pass. NOTE: on mnist32 W4A8 `cross` and
   * `qdrop` gave no better same-seed PSNR than `plain`, for GPTQ or AdaRound (bench/recon-mnist32.ts
   * `--objectives`; the committed run: docs/results.md#recon-mnist32).
   */
  objective?: ReconObjective;
  /** Calibration pairs the forward pass runs on, spread over the set (default 128). */
  samples?: number;
  /** Pairs per onnxruntime run (default 16). */
  batch?: number;
  /** Input vectors sampled per layer for its moments (default 8192; linear layers see one per pair). */
  columns?: number;
  /**
   * Per-output-channel scales. Default 'absmax' for GPTQ (its error feedback does what the clipping search does
   * for nearest rounding: 'lp' gained little on mnist32 W4A8, and the search over every weight is a noticeable
   * share of a CIFAR-10 build; bench/recon-mnist32.ts `--scales`), 'lp' for AdaRound and none (they only choose
   * between the two nearest levels).
   */
  scaleMethod?: ScaleMethod;
  /** Default act-order, damping 0.01 (see `DEFAULT_GPTQ`). */
  gptq?: GptqSettings;
  /** Default 200 iterations at lr 2e-2 (see `DEFAULT_ADAROUND`). */
  adaround?: AdaRoundSettings;
  threads?: number;
  /** onnxruntime optimization level of the forward segments (default 'basic'). */
  optimization?: OptimizationLevel;
  seed?: number;
  onLayer?: (layer: LayerReconstruction, done: number, total: number) => void;
  signal?: AbortSignal;
}

export const DEFAULT_RECON_SAMPLES = 128;
export const DEFAULT_RECON_COLUMNS = 8192;
/**
 * NOTE: act-order raised mnist32 W4A8's same-seed PSNR clearly (bench/recon-mnist32.ts `--act-order`). Without it
 * GPTQ's in-sample layer error is low but generalizes worse than AdaRound's up/down choices.
 */
export const DEFAULT_GPTQ: GptqSettings = { actOrder: true, damping: 0.01 };
/**
 * NOTE: Adam's step is ~lr per iteration, so few iterations need a larger lr than the published 1e-3 for alphas to
 * move at all. On mnist32 W4A8, 500 iterations at a smaller lr matched 200 at this one in twice the time
 * (bench/recon-mnist32.ts `--iterations --lr`; the default run: docs/results.md#recon-mnist32).
 */
export const DEFAULT_ADAROUND: Required<AdaRoundSettings> = { iterations: 200, lr: 2e-2, lambda: 0.01 };

export interface LayerReconstruction {
  node: string;
  weight: string;
  module: string;
  stage: number;
  bits: 4 | 8;
  /** Input vectors the moments were taken from. */
  vectors: number;
  /** Output error of the layer (reconstruct-layer.ts) with nearest rounding and after reconstruction. */
  errorNearest: number;
  error: number;
  /** E||W x||^2: 10 log10(signal / error) is the layer's output SQNR. */
  signal: number;
  seconds: number;
}

export interface ReconstructionResult {
  /** Keyed by weight-site node, as `exportQdq` takes them; every site of the plan. */
  weights: Map<string, QuantizedWeight>;
  layers: LayerReconstruction[];
  stages: number;
  samples: number;
  /** forward includes sessions: creating the segments' onnxruntime sessions. */
  seconds: { forward: number; sessions: number; moments: number; solve: number; total: number };
}

export async function reconstructWeights(
  model: OnnxModel,
  plan: QuantPlan,
  ranges: ReadonlyMap<string, Range>,
  set: CalibrationSet,
  options: ReconstructOptions,
): Promise<ReconstructionResult> {
  const started = performance.now();
  const run = startRun(model, plan, ranges, set, options);
  const layers: LayerReconstruction[] = [];
  try {
    for (const stage of run.stages) {
      options.signal?.throwIfAborted();
      const accumulators = await stageMoments(run, stage);
      for (const [k, site] of stage.sites.entries()) {
        const moments = await accumulators[k]!.finish();
        accumulators[k] = undefined; // NOTE: frees the dim^2 float64 sums (x3 with cross moments) layer by layer
        const layer = await solveSite(run, stage, site, moments);
        layers.push(layer);
        options.onLayer?.(layer, layers.length, plan.weights.length);
      }
    }
  } finally {
    await run.kernels.exact.dispose();
    await run.kernels.fast.dispose();
  }
  const seconds = { ...run.seconds, sessions: 0, total: (performance.now() - started) / 1000 };
  seconds.forward = run.quantPass.seconds + (run.floatPass?.seconds ?? 0);
  seconds.sessions = run.quantPass.sessionSeconds + (run.floatPass?.sessionSeconds ?? 0);
  return { weights: run.weights, layers, stages: run.stages.length, samples: run.quantPass.samples, seconds };
}

/** Everything one reconstruction run carries from stage to stage. */
interface Run {
  options: ReconstructOptions;
  objective: ReconObjective;
  stages: ReconStage[];
  /** Float weights as [out, in*kernel], by initializer name (shortcut parts included). */
  floats: Map<string, OnnxTensor>;
  /** Current integer weights: nearest rounding until a site is reconstructed. */
  weights: Map<string, QuantizedWeight>;
  integers: ReturnType<typeof integerInitializers>;
  /**
   * What the pass reads for each site's moments: the value its node reads in the QDQ graph (the dequantized
   * input where the plan quantizes it), or, for the plain objective, the uint8 codes of that input and the
   * quantizer's parameters (exact integer moments, see MomentOptions.codes).
   */
  quantTargets: Map<string, { value: string; codes?: { scale: number; zeroPoint: number } }>;
  quantPass: SegmentedPass;
  floatPass?: SegmentedPass;
  kernels: LayerKernels;
  seconds: { forward: number; moments: number; solve: number };
}

function startRun(
  model: OnnxModel,
  plan: QuantPlan,
  ranges: ReadonlyMap<string, Range>,
  set: CalibrationSet,
  options: ReconstructOptions,
): Run {
  const objective = options.objective ?? 'plain';
  const prepared = prepareModel(model, plan);
  const floats = new Map(prepared.graph.initializers.map((t) => [t.name, t]));
  const scaleMethod = options.scaleMethod ?? (options.method === 'gptq' ? 'absmax' : 'lp');
  const weights = new Map<string, QuantizedWeight>(
    plan.weights.map((s) => [s.node, roundWeightsNearest(s, weightMatrix(floats.get(s.weight)!), scaleMethod)]),
  );
  // One QDQ graph for the whole run: the nearest weights are placeholders that no segment runs before the
  // layer's reconstructed integers replace them (a layer's node only runs in a later stage's segment).
  const qdq = exportQdq(model, plan, ranges, weights);
  const qdqIndex = indexGraph(qdq.graph);
  const quantTargets = new Map(
    plan.weights.map((s) => {
      const value = qdqIndex.node(s.node)!.inputs[0];
      return [s.node, (objective === 'plain' && uint8Codes(qdqIndex, value)) || { value }] as const;
    }),
  );
  const batches = calibrationBatches(set, options.samples ?? DEFAULT_RECON_SAMPLES, options.batch ?? 16);
  const passOptions = { threads: options.threads, optimization: options.optimization };
  const threads = options.threads;
  return {
    options,
    objective,
    stages: reconstructionStages(prepared.graph, plan.weights),
    floats,
    weights,
    integers: integerInitializers(qdq, plan.weights),
    quantTargets,
    quantPass: new SegmentedPass(
      qdq,
      batches,
      [...quantTargets.values()].map((t) => t.value),
      passOptions,
    ),
    floatPass:
      objective === 'plain'
        ? undefined
        : new SegmentedPass(
            prepared,
            batches,
            plan.weights.map((s) => s.inputValue),
            passOptions,
          ),
    kernels: {
      exact: ortKernels({ precision: 'float64', intraOpNumThreads: threads }),
      fast: ortKernels({ precision: 'float32', intraOpNumThreads: threads }),
    },
    seconds: { forward: 0, moments: 0, solve: 0 },
  };
}

/** Runs the stage's forward segment over every batch and accumulates each layer's input moments. */
async function stageMoments(run: Run, stage: ReconStage): Promise<(MomentAccumulator | undefined)[]> {
  const targets = stage.sites.map((s) => run.quantTargets.get(s.node)!);
  const quant = await run.quantPass.advance(targets.map((t) => t.value));
  const float = await run.floatPass?.advance(stage.sites.map((s) => s.inputValue));
  const columns = run.options.columns ?? DEFAULT_RECON_COLUMNS;
  const accumulators: MomentAccumulator[] = [];
  try {
    for (let b = 0; b < run.quantPass.batches; b++) {
      run.options.signal?.throwIfAborted();
      const xq = await quant.read(b);
      const x = await float?.read(b);
      const t0 = performance.now();
      for (const [k, site] of stage.sites.entries()) {
        const dims = xq[k].dims;
        accumulators[k] ??= new MomentAccumulator(site.input, run.kernels.fast, {
          rate: columnRate(columns, run.quantPass.samples * vectorsPerSample(site, dims)),
          cross: x !== undefined,
          seed: (run.options.seed ?? 0) + stage.index * 1009 + k,
          codes: targets[k].codes,
        });
        const data = xq[k].data as Float32Array | Uint8Array;
        if (x) await accumulators[k].add(x[k].data as Float32Array, dims, data);
        else await accumulators[k].add(data, dims);
      }
      run.seconds.moments += (performance.now() - t0) / 1000;
    }
  } finally {
    await quant.done();
    await float?.done();
  }
  return accumulators;
}

/** Rounds one site from its moments and puts its integers into the QDQ graph. */
async function solveSite(
  run: Run,
  stage: ReconStage,
  site: WeightSite,
  moments: Moments,
): Promise<LayerReconstruction> {
  const t0 = performance.now();
  const nearest = run.weights.get(site.node)!;
  const solution = await solveLayer(weightMatrix(run.floats.get(site.weight)!), moments, nearest.q, run.kernels, {
    method: run.options.method,
    objective: run.objective,
    grid: weightGrid(site.bits),
    scales: nearest.scales,
    gptq: { ...DEFAULT_GPTQ, ...run.options.gptq },
    adaround: { ...DEFAULT_ADAROUND, ...run.options.adaround },
  });
  // The errors ride along for reports that read them from the weights (optional fields of QuantizedWeight).
  const errors = { errorNearest: solution.errorNearest, error: solution.error };
  run.weights.set(site.node, Object.assign({ q: solution.q, scales: nearest.scales }, errors));
  run.integers.replace(site, solution.q);
  const seconds = (performance.now() - t0) / 1000;
  run.seconds.solve += seconds;
  return {
    node: site.node,
    weight: site.weight,
    module: stage.module,
    stage: stage.index,
    bits: site.bits,
    vectors: moments.count,
    errorNearest: solution.errorNearest,
    error: solution.error,
    signal: solution.signal,
    seconds,
  };
}

/**
 * The uint8 codes behind a dequantized value (its DequantizeLinear's input) with the per-tensor scale and zero
 * point, or undefined where the value is not a uint8 dequantization.
 */
function uint8Codes(index: GraphIndex, value: string) {
  const dq = index.producer(value);
  if (dq?.opType !== 'DequantizeLinear') return undefined;
  const scale = index.initializer(dq.inputs[1]);
  const zeroPoint = index.initializer(dq.inputs[2] ?? '');
  if (!scale || !zeroPoint || zeroPoint.dtype !== 'uint8' || scale.data.length !== 1 || zeroPoint.data.length !== 1)
    return undefined;
  return { value: dq.inputs[0], codes: { scale: Number(scale.data[0]), zeroPoint: Number(zeroPoint.data[0]) } };
}

/** Input vectors one calibration pair contributes: output positions of a conv, 1 for a linear layer. */
function vectorsPerSample(site: WeightSite, dims: readonly number[]): number {
  if (site.input.kind === 'linear') return dims.slice(1, -1).reduce((a, b) => a * b, 1);
  const { kernel, stride, padding } = site.input.conv;
  const h = dims.length === 4 ? dims[2] : 1;
  const w = dims[dims.length - 1];
  const oh = Math.floor((h + 2 * padding[0] - kernel[0]) / stride[0]) + 1;
  const ow = Math.floor((w + 2 * padding[1] - kernel[1]) / stride[1]) + 1;
  return oh * ow;
}

/** The integer weight initializers of the QDQ graph (what each site's DequantizeLinear reads), replaceable. */
function integerInitializers(qdq: OnnxModel, sites: readonly WeightSite[]) {
  const index = indexGraph(qdq.graph);
  const position = new Map(qdq.graph.initializers.map((t, i) => [t.name, i]));
  const slot = (site: WeightSite): number => {
    const dq = index.producer(index.node(site.node)?.inputs[1] ?? '');
    const at = dq?.opType === 'DequantizeLinear' ? position.get(dq.inputs[0]) : undefined;
    if (at === undefined) throw new Error(`reconstruction: ${site.node} reads no quantized weight in the QDQ graph`);
    return at;
  };
  const slots = new Map(sites.map((s) => [s.node, slot(s)]));
  return {
    replace(site: WeightSite, q: Int8Array): void {
      const at = slots.get(site.node)!;
      qdq.graph.initializers[at] = { ...qdq.graph.initializers[at], data: q };
    },
  };
}
