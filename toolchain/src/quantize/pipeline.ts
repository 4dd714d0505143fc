/**
 * fp32 graph + calibration set -> quantized QDQ model and the numbers the report shows: plan, activation
 * statistics, weight rounding (nearest, or the sequential reconstruction), export, onnxruntime's fused graph, and the
 * measured cost of every quantizer. The `build-artifact` command and the report call this.
 */
import type { CalibrationSet } from '../calibrate/trajectory.ts';
import { assertValidModel } from '../onnx/check.ts';
import type { OnnxModel } from '../onnx/ir.ts';
import { encodeModel } from '../onnx/model.ts';
import type { Device } from '../runtime/devices.ts';
import { epsilonSqnrByStep, type SiteSqnr, siteSqnr, spreadIndices } from './evaluate.ts';
import { exportQdq, prepareModel, type QuantizedWeight, siteParams } from './export/export.ts';
import { type FusionReport, inspectFusion } from './export/fusion.ts';
import { indexGraph } from './graph-index.ts';
import { observeActivations, type StepRanges } from './observe/observe.ts';
import type { ObserverSpec } from './observe/observers.ts';
import type { ScaleMethod } from './observe/range-search.ts';
import {
  type ActivationRole,
  type KeptFloat,
  type PlanOptions,
  planQuantization,
  type QuantPlan,
} from './plan/plan.ts';
import { type ReconMethod, reconstructWeights } from './reconstruct/reconstruct.ts';
import { roundWeightsNearest, weightMatrix, weightSqnr } from './reconstruct/weights.ts';
import { type WideStepsRecord, withWideSteps } from './steps/wide-steps.ts';

export const DEFAULT_OBSERVER: ObserverSpec = { kind: 'lp' };

export interface QuantizeOptions extends PlanOptions {
  fp32: OnnxModel;
  calibration: CalibrationSet;
  /** Activation observer; default L_p (p 2.4, 100 candidates) as PTQ4DM / Q-Diffusion. */
  observer?: ObserverSpec;
  /** Per-channel weight scales before rounding: 'lp' search (default) or 'absmax'. */
  weightScales?: ScaleMethod;
  /** 'none' = round to nearest; 'gptq' | 'adaround' = the segmented sequential reconstruction (reconstruct.ts). */
  recon?: ReconMethod;
  /** Calibration pairs used to measure activation SQNR (default 32) and epsilon SQNR per step (default 128). */
  evaluation?: { sites?: number; epsilon?: number };
  threads?: number;
  /** Where the fp32 passes run (statistics, evaluation references); reconstruction, fusion and integer runs: CPU. */
  device?: Device;
  /** Run these steps with float activations in the same graph (wide-steps.ts); unset = every step at 8 bits. */
  wideSteps?: WideStepsRecord;
  onProgress?: (event: QuantizeProgress) => void;
  signal?: AbortSignal;
}

export type QuantizeStage = 'observe' | 'weights' | 'export' | 'fusion' | 'evaluate';

export interface QuantizeProgress {
  stage: QuantizeStage;
  done: number;
  total: number;
  detail?: string;
}

export interface LayerReport {
  node: string;
  kind: 'conv' | 'linear';
  bits: 4 | 8;
  weightSqnrDb: number;
  splitOf?: string;
  /** Reconstruction only: the layer's quadratic output error with nearest rounding and after reconstruction. */
  errorNearest?: number;
  error?: number;
}

export interface ActivationReport {
  value: string;
  role: ActivationRole;
  bits: 8 | 16;
  scale: number;
  zeroPoint: number;
  /** The quantizer's range [qmin - zp, qmax - zp] * scale. */
  min: number;
  max: number;
  /** Exact extremes over the calibration set (absent for sites sharing another site's parameters). */
  observed?: { min: number; max: number };
  sharesParamsWith?: string;
  sqnrDb: number;
  quantizerSqnrDb: number;
}

export interface QuantizeReport {
  scheme: QuantPlan['scheme'];
  weightBits: 4 | 8;
  activationBits: 8 | 16;
  softmaxBits: 8 | 16;
  imageEnds: QuantPlan['imageEnds'];
  observer: ObserverSpec;
  weightScales: ScaleMethod;
  recon: string;
  calibration: { samples: number; steps: number };
  layers: LayerReport[];
  activations: ActivationReport[];
  /** Per observed site, min/max at each respaced step (index = step; null where no pair). */
  rangesByStep: Record<string, { min: (number | null)[]; max: (number | null)[] }>;
  /** Epsilon SQNR of the quantized model (fused, level 'all') vs fp32 per respaced step; null where unmeasured. */
  epsilonSqnrByStep: (number | null)[];
  keptFloat: KeptFloat[];
  /** The 8-bit steps' graph after onnxruntime's fusion (with wide steps: the graph's quantized branch). */
  fusion: FusionReport;
  /** The steps that run with float activations (the shipped graph fuses as `fusion`: checked at export). */
  wideSteps?: WideStepsRecord;
  integerNodes: Record<string, number>;
  bytes: { fp32: number; quantized: number; ratio: number };
  seconds: Record<QuantizeStage, number>;
}

export interface QuantizeResult {
  /** The shipped graph (with wide steps: the If on t over both branches). */
  model: OnnxModel;
  bytes: Uint8Array;
  /** With wide steps: the 8-bit graph alone (every step on integer kernels), for runtimes short of memory. */
  eightBitOnly?: Uint8Array;
  plan: QuantPlan;
  report: QuantizeReport;
}

export async function quantizeModel(options: QuantizeOptions): Promise<QuantizeResult> {
  const { fp32, calibration: set } = options;
  const progress = options.onProgress ?? (() => {});
  const seconds = { observe: 0, weights: 0, export: 0, fusion: 0, evaluate: 0 };
  const timed = async <T>(stage: QuantizeStage, run: () => Promise<T>): Promise<T> => {
    const start = performance.now();
    try {
      return await run();
    } finally {
      seconds[stage] += (performance.now() - start) / 1000;
    }
  };
  const plan = planQuantization(fp32.graph, options);
  const observer = options.observer ?? DEFAULT_OBSERVER;
  const stats = await timed('observe', () =>
    observeActivations(fp32, plan, set, {
      observer,
      threads: options.threads,
      device: options.device,
      signal: options.signal,
      onProgress: (done, total) => progress({ stage: 'observe', done, total }),
    }),
  );
  const method = options.weightScales ?? 'lp';
  const weights = await timed('weights', () => roundWeights(options, plan, stats.ranges, method));
  const { plain, model } = await timed('export', async () => {
    const q = exportQdq(fp32, plan, stats.ranges, weights);
    assertValidModel(q);
    return { plain: q, model: options.wideSteps ? withWideSteps(q, options.wideSteps) : q };
  });
  const bytes = encodeModel(model);
  progress({ stage: 'export', done: 1, total: 1 });
  const fusion = await timed('fusion', async () => {
    const fusion = await inspectFusion(plain);
    const shipped = model === plain ? fusion : await inspectFusion(model);
    // The 8-bit steps must keep every integer kernel inside the If branch.
    if (shipped.integerTotal !== fusion.integerTotal) {
      throw new Error(
        `wide steps: the shipped graph fuses ${shipped.integerTotal} integer nodes, its 8-bit graph ${fusion.integerTotal}`,
      );
    }
    return fusion;
  });
  progress({ stage: 'fusion', done: 1, total: 1 });
  const evaluation = await timed('evaluate', async () => {
    const sites = await siteSqnr(
      fp32,
      plain,
      plan,
      set,
      spreadIndices(set.count, options.evaluation?.sites ?? 32),
      options.threads,
      options.device,
    );
    progress({ stage: 'evaluate', done: 1, total: 2 });
    const eps = await epsilonSqnrByStep(
      fp32,
      model,
      set,
      spreadIndices(set.count, options.evaluation?.epsilon ?? 128),
      options.threads,
      options.device,
    );
    progress({ stage: 'evaluate', done: 2, total: 2 });
    return { sites, eps };
  });
  const fp32Bytes = encodeModel(fp32).length;
  return {
    model,
    bytes,
    ...(model === plain ? {} : { eightBitOnly: encodeModel(plain) }),
    plan,
    report: {
      scheme: plan.scheme,
      weightBits: plan.weightBits,
      activationBits: plan.activationBits,
      softmaxBits: plan.softmaxBits,
      imageEnds: plan.imageEnds,
      observer,
      weightScales: method,
      recon: options.recon ?? 'none',
      calibration: { samples: set.count, steps: stepCount(set) },
      layers: layerReports(fp32, plan, weights),
      activations: activationReports(plan, stats.ranges, stats.extremes, evaluation.sites),
      rangesByStep: rangesByStep(stats.byStep),
      epsilonSqnrByStep: evaluation.eps.map(finiteOrNull),
      keptFloat: plan.keptFloat,
      fusion,
      ...(options.wideSteps ? { wideSteps: options.wideSteps } : {}),
      integerNodes: fusion.integerNodes,
      bytes: { fp32: fp32Bytes, quantized: bytes.length, ratio: bytes.length / fp32Bytes },
      seconds,
    },
  };
}

async function roundWeights(
  options: QuantizeOptions,
  plan: QuantPlan,
  ranges: Map<string, { min: number; max: number }>,
  method: ScaleMethod,
): Promise<Map<string, QuantizedWeight>> {
  const progress = options.onProgress ?? (() => {});
  if (options.recon === 'gptq' || options.recon === 'adaround') {
    const result = await reconstructWeights(options.fp32, plan, ranges, options.calibration, {
      method: options.recon,
      threads: options.threads,
      signal: options.signal,
      onLayer: (layer, done, total) => progress({ stage: 'weights', done, total, detail: layer.node }),
    });
    return result.weights;
  }
  const index = indexGraph(prepareModel(options.fp32, plan).graph);
  const out = new Map<string, QuantizedWeight>();
  for (const [k, site] of plan.weights.entries()) {
    out.set(site.node, roundWeightsNearest(site, weightMatrix(index.initializer(site.weight)!), method));
    progress({ stage: 'weights', done: k + 1, total: plan.weights.length, detail: site.node });
  }
  return out;
}

function layerReports(fp32: OnnxModel, plan: QuantPlan, weights: Map<string, QuantizedWeight>): LayerReport[] {
  const index = indexGraph(prepareModel(fp32, plan).graph);
  return plan.weights.map((site) => {
    const report: LayerReport = {
      node: site.node,
      kind: site.kind,
      bits: site.bits,
      weightSqnrDb: weightSqnr(weightMatrix(index.initializer(site.weight)!), weights.get(site.node)!),
    };
    if (site.splitOf) report.splitOf = site.splitOf.conv;
    const w = weights.get(site.node)!;
    if (w.errorNearest !== undefined) report.errorNearest = w.errorNearest;
    if (w.error !== undefined) report.error = w.error;
    return report;
  });
}

function activationReports(
  plan: QuantPlan,
  ranges: Map<string, { min: number; max: number }>,
  extremes: Map<string, { min: number; max: number }>,
  sqnr: SiteSqnr[],
): ActivationReport[] {
  const params = siteParams(plan, ranges);
  const bySite = new Map(sqnr.map((s) => [s.value, s]));
  return plan.activations.map((site) => {
    const p = params.get(site.value)!;
    const report: ActivationReport = {
      value: site.value,
      role: site.role,
      bits: site.bits,
      scale: p.scale,
      zeroPoint: p.zeroPoint,
      min: (p.qmin - p.zeroPoint) * p.scale,
      max: (p.qmax - p.zeroPoint) * p.scale,
      sqnrDb: bySite.get(site.value)?.sqnrDb ?? Number.NaN,
      quantizerSqnrDb: bySite.get(site.value)?.quantizerSqnrDb ?? Number.NaN,
    };
    const e = extremes.get(site.value);
    if (e) report.observed = e;
    if (site.sharesParamsWith) report.sharesParamsWith = site.sharesParamsWith;
    return report;
  });
}

function rangesByStep(byStep: Map<string, StepRanges>): QuantizeReport['rangesByStep'] {
  const out: QuantizeReport['rangesByStep'] = {};
  for (const [value, r] of byStep)
    out[value] = { min: [...r.min].map(finiteOrNull), max: [...r.max].map(finiteOrNull) };
  return out;
}

function finiteOrNull(v: number): number | null {
  return Number.isFinite(v) ? v : null;
}

function stepCount(set: CalibrationSet): number {
  return new Set(set.stepIndex).size;
}
