/**
 * Activation statistics over the calibration set: the fp32 graph (shortcut splits applied) with every observed
 * site value added as a graph output, run by onnxruntime-node in small batches. Each batch feeds the sites'
 * observers and a per-time-step min/max table, then is dropped, so memory is bounded by one batch of
 * activations whatever the calibration set's size.
 *
 * NOTE: onnxruntime also reduces each value to its per-row min/max (Flatten -> ReduceMin/ReduceMax, native and
 * vectorized), so JS reads each activation once, in the histogram's binning loop: on the CIFAR-10 U-Net
 * (~21M site values per pair) the two JS min/max passes cost as much as the binning.
 */
import type { CalibrationSet } from '../../calibrate/trajectory.ts';
import { attr } from '../../onnx/builder.ts';
import type { OnnxModel } from '../../onnx/ir.ts';
import { encodeModel } from '../../onnx/model.ts';
import type { Device } from '../../runtime/devices.ts';
import { createSession, float32Tensor, type Session } from '../../runtime/ort.ts';
import { activationGrid, prepareModel } from '../export/export.ts';
import type { ActivationSite, QuantPlan } from '../plan/plan.ts';
import { type ActivationObserver, createObserver, type ObserverSpec, type Range } from './observers.ts';

export interface ObserveOptions {
  observer: ObserverSpec;
  /** Largest batch; the batch is also limited by `memoryBudget`. Default 16. */
  batch?: number;
  /** Bytes of site activations per run (default 256 MiB). */
  memoryBudget?: number;
  threads?: number;
  /** Where the fp32 statistics pass runs (default cpu). */
  device?: Device;
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
  const session = await createSession(
    encodeModel(withRowExtremes(withOutputs(prepareModel(model, plan), values), values)),
    {
      threads: options.threads,
      optimization: 'all',
      device: options.device,
      label: 'statistics',
    },
  );
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
        const rows = rowExtremes(result, value);
        const perSample = sampleExtremes(data, n, rows);
        const batch = batchRange(perSample);
        observers.get(value)!.observe(data, batch);
        recordSteps(perSample, set.stepIndex.subarray(start, start + n), byStep.get(value)!, extremes.get(value)!);
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

const ROW_MIN = '::rowmin';
const ROW_MAX = '::rowmax';

/** Adds `<value>::rowmin` / `::rowmax` outputs: each value flattened to [dim0, rest], reduced over rest. */
function withRowExtremes(model: OnnxModel, values: string[]): OnnxModel {
  const nodes = [...model.graph.nodes];
  const outputs = [...model.graph.outputs];
  for (const value of values) {
    const flat = `${value}::flat`;
    nodes.push({ name: flat, opType: 'Flatten', inputs: [value], outputs: [flat], attributes: { axis: attr.int(1) } });
    for (const [op, suffix] of [
      ['ReduceMin', ROW_MIN],
      ['ReduceMax', ROW_MAX],
    ]) {
      const name = value + suffix;
      const attributes = { axes: attr.ints([1]), keepdims: attr.int(0) };
      nodes.push({ name, opType: op, inputs: [flat], outputs: [name], attributes });
      outputs.push({ name, dtype: 'float32', shape: [], unknownRank: true });
    }
  }
  return { ...model, graph: { ...model.graph, nodes, outputs } };
}

type Outputs = Awaited<ReturnType<Session['run']>>;

function rowExtremes(result: Outputs, value: string): { min: Float32Array; max: Float32Array } {
  return { min: result[value + ROW_MIN].data as Float32Array, max: result[value + ROW_MAX].data as Float32Array };
}

/**
 * min/max of each of the `n` samples (sample b = the b-th contiguous slice of `data`): from the row extremes
 * when the rows split evenly into samples (batch-major layouts such as [N*heads, ...] included), else by a pass.
 */
function sampleExtremes(
  data: Float32Array,
  n: number,
  rows: { min: Float32Array; max: Float32Array },
): { min: Float64Array; max: Float64Array } {
  const min = new Float64Array(n).fill(Number.POSITIVE_INFINITY);
  const max = new Float64Array(n).fill(Number.NEGATIVE_INFINITY);
  const count = rows.min.length;
  const even = count % n === 0;
  const per = even ? count / n : data.length / n;
  const source = even ? rows : { min: data, max: data };
  for (let b = 0; b < n; b++) {
    for (let i = b * per; i < (b + 1) * per; i++) {
      if (source.min[i] < min[b]) min[b] = source.min[i];
      if (source.max[i] > max[b]) max[b] = source.max[i];
    }
  }
  return { min, max };
}

function batchRange(s: { min: Float64Array; max: Float64Array }): Range {
  return { min: Math.min(...s.min), max: Math.max(...s.max) };
}

function recordSteps(
  sample: { min: Float64Array; max: Float64Array },
  stepIndex: Int32Array,
  steps: StepRanges,
  all: Range,
): void {
  for (let b = 0; b < stepIndex.length; b++) {
    const lo = sample.min[b];
    const hi = sample.max[b];
    const s = stepIndex[b];
    steps.min[s] = Number.isNaN(steps.min[s]) ? lo : Math.min(steps.min[s], lo);
    steps.max[s] = Number.isNaN(steps.max[s]) ? hi : Math.max(steps.max[s], hi);
    all.min = Math.min(all.min, lo);
    all.max = Math.max(all.max, hi);
  }
}

export function disposeAll(result: Outputs): void {
  for (const t of Object.values(result)) t.dispose();
}
