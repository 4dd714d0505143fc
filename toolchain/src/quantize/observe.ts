/**
 * Activation statistics over the calibration set: the fp32 graph (shortcut splits applied) with every observed
 * site value added as a graph output, run by onnxruntime-node in small batches. Each batch feeds the sites'
 * observers and a per-time-step min/max table, then is dropped, so memory is bounded by one batch of
 * activations whatever the calibration set's size.
 */
import type { CalibrationSet } from '../calibrate/trajectory.ts';
import type { OnnxModel } from '../onnx/ir.ts';
import { encodeModel } from '../onnx/model.ts';
import { createSession, float32Tensor, type Session } from '../runtime/ort.ts';
import { activationGrid, prepareModel } from './export.ts';
import { type ActivationObserver, createObserver, type ObserverSpec, type Range } from './observers.ts';
import type { ActivationSite, QuantPlan } from './plan.ts';

export interface ObserveOptions {
  observer: ObserverSpec;
  /** Largest batch; the batch is also limited by `memoryBudget`. Default 16. */
  batch?: number;
  /** Bytes of site activations per run (default 256 MiB). */
  memoryBudget?: number;
  threads?: number;
  onProgress?: (done: number, total: number) => void;
  signal?: AbortSignal;
}

/** min/max of one site at one respaced step (NaN where the calibration set has no pair at that step). */
export interface StepRanges {
  min: Float64Array;
  max: Float64Array;
}

export interface ActivationStats {
  observer: ObserverSpec;
  /** Proposed range per observed site (sites that share parameters are not observed). */
  ranges: Map<string, Range>;
  /** Exact min/max over everything seen, per site. */
  extremes: Map<string, Range>;
  /** Per site, indexed by respaced step. */
  byStep: Map<string, StepRanges>;
  samples: number;
  batch: number;
  seconds: { run: number; observe: number; solve: number };
}

export function observedSites(plan: QuantPlan): ActivationSite[] {
  return plan.activations.filter((s) => !s.sharesParamsWith);
}

/** The fp32 graph with `values` as extra float32 outputs (shape left to onnxruntime). */
export function withOutputs(model: OnnxModel, values: string[]): OnnxModel {
  const existing = new Set(model.graph.outputs.map((o) => o.name));
  const extra = values
    .filter((v) => !existing.has(v))
    .map((name) => ({ name, dtype: 'float32' as const, shape: [], unknownRank: true }));
  return { ...model, graph: { ...model.graph, outputs: [...model.graph.outputs, ...extra] } };
}

/** Calibration pairs [start, start+n) as feeds. */
export function calibrationFeeds(set: CalibrationSet, start: number, n: number) {
  const size = set.shape[0] * set.shape[1] * set.shape[2];
  return {
    x: float32Tensor(set.x.subarray(start * size, (start + n) * size), [n, ...set.shape]),
    t: float32Tensor(set.t.subarray(start, start + n), [n]),
  };
}

export async function observeActivations(
  model: OnnxModel,
  plan: QuantPlan,
  set: CalibrationSet,
  options: ObserveOptions,
): Promise<ActivationStats> {
  const sites = observedSites(plan);
  const values = sites.map((s) => s.value);
  const observers = new Map<string, ActivationObserver>(
    sites.map((s) => [s.value, createObserver(options.observer, activationGrid(s.bits))]),
  );
  const steps = set.count > 0 ? Math.max(...set.stepIndex) + 1 : 0;
  const byStep = new Map(values.map((v) => [v, emptySteps(steps)]));
  const extremes = new Map(values.map((v) => [v, { min: Infinity, max: -Infinity }]));
  const seconds = { run: 0, observe: 0, solve: 0 };
  const session = await createSession(encodeModel(withOutputs(prepareModel(model, plan), values)), {
    threads: options.threads,
    optimization: 'all',
  });
  let batch = 1;
  try {
    for (let start = 0, n = 0; start < set.count; start += n) {
      options.signal?.throwIfAborted();
      n = Math.min(batch, set.count - start);
      let clock = performance.now();
      const result = await session.run(calibrationFeeds(set, start, n));
      seconds.run += (performance.now() - clock) / 1000;
      clock = performance.now();
      let bytes = 0;
      for (const value of values) {
        const data = result[value].data as Float32Array;
        bytes += data.byteLength;
        observers.get(value)!.observe(data);
        recordSteps(data, n, set.stepIndex.subarray(start, start + n), byStep.get(value)!, extremes.get(value)!);
      }
      disposeAll(result);
      seconds.observe += (performance.now() - clock) / 1000;
      if (start === 0) batch = batchFor(bytes, options);
      options.onProgress?.(start + n, set.count);
    }
  } finally {
    await session.release();
  }
  const clock = performance.now();
  const ranges = new Map(values.map((v) => [v, observers.get(v)!.range()]));
  seconds.solve = (performance.now() - clock) / 1000;
  return { observer: options.observer, ranges, extremes, byStep, samples: set.count, batch, seconds };
}

function batchFor(bytesPerSample: number, options: ObserveOptions): number {
  const budget = options.memoryBudget ?? 256 * 2 ** 20;
  return Math.max(1, Math.min(options.batch ?? 16, Math.floor(budget / Math.max(bytesPerSample, 1))));
}

function emptySteps(steps: number): StepRanges {
  return { min: new Float64Array(steps).fill(Number.NaN), max: new Float64Array(steps).fill(Number.NaN) };
}

function recordSteps(data: Float32Array, n: number, stepIndex: Int32Array, steps: StepRanges, all: Range): void {
  const per = data.length / n;
  for (let b = 0; b < n; b++) {
    let lo = Infinity;
    let hi = -Infinity;
    for (let i = b * per; i < (b + 1) * per; i++) {
      const v = data[i];
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    const s = stepIndex[b];
    steps.min[s] = Number.isNaN(steps.min[s]) ? lo : Math.min(steps.min[s], lo);
    steps.max[s] = Number.isNaN(steps.max[s]) ? hi : Math.max(steps.max[s], hi);
    all.min = Math.min(all.min, lo);
    all.max = Math.max(all.max, hi);
  }
}

export function disposeAll(result: Awaited<ReturnType<Session['run']>>): void {
  for (const t of Object.values(result)) t.dispose();
}
