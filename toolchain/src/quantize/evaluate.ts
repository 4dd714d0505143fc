/**
 * How much each quantizer costs, measured on calibration pairs:
 * - per activation site, the SQNR of the value a reader sees in the QDQ model against the fp32 value (all error
 *   accumulated up to that point) and against the same model's own float value right before its quantizer (this
 *   quantizer's rounding and clipping alone);
 * - the model output's epsilon SQNR per respaced time step, int8 (fused, level 'all') against fp32.
 */
import type { CalibrationSet } from '../calibrate/trajectory.ts';
import type { OnnxModel } from '../onnx/ir.ts';
import { encodeModel } from '../onnx/model.ts';
import type { Device } from '../runtime/devices.ts';
import { createSession, type Session } from '../runtime/ort.ts';
import { prepareModel, qdqNames } from './export/export.ts';
import { calibrationFeeds, disposeAll, withOutputs } from './observe/observe.ts';
import type { QuantPlan } from './plan/plan.ts';
import { SqnrAccumulator } from './sqnr.ts';

export interface SiteSqnr {
  value: string;
  /** Dequantized value in the QDQ model vs the fp32 model's value. */
  sqnrDb: number;
  /** Dequantized value vs the QDQ model's float value entering this quantizer. */
  quantizerSqnrDb: number;
}

/** Pair indices spread evenly over the calibration set (every step represented when count allows). */
export function spreadIndices(total: number, count: number): number[] {
  const n = Math.min(total, count);
  return Array.from({ length: n }, (_, k) => Math.floor(((k + 0.5) * total) / n));
}

async function runPairs(
  session: Session,
  set: CalibrationSet,
  indices: number[],
  use: (result: Awaited<ReturnType<Session['run']>>, index: number) => void,
): Promise<void> {
  for (const i of indices) {
    const result = await session.run(calibrationFeeds(set, i, 1));
    use(result, i);
    disposeAll(result);
  }
}

export async function siteSqnr(
  fp32: OnnxModel,
  qdq: OnnxModel,
  plan: QuantPlan,
  set: CalibrationSet,
  indices: number[],
  threads?: number,
  device: Device = 'cpu',
): Promise<SiteSqnr[]> {
  const sites = plan.activations;
  const seen = (s: (typeof sites)[number]) => qdqNames(s.value).dq;
  const entering = (s: (typeof sites)[number]) => (s.graphOutput ? qdqNames(s.value).float : s.value);
  const reference = withOutputs(
    prepareModel(fp32, plan),
    sites.map((s) => s.value),
  );
  // NOTE: optimizations off for the QDQ model, so the named QDQ values exist as written; the fused model computes
  // the same quantized values up to the integer kernels' rounding.
  const quantized = withOutputs(
    qdq,
    sites.flatMap((s) => [seen(s), entering(s)]),
  );
  const total = new Map(sites.map((s) => [s.value, new SqnrAccumulator()]));
  const local = new Map(sites.map((s) => [s.value, new SqnrAccumulator()]));
  // NOTE: only the fp32 reference runs on `device`; the quantized graph stays on the CPU provider, so the numbers
  // describe the model the CPU's integer kernels run (see README, int8 on a GPU).
  const a = await createSession(encodeModel(reference), { threads, optimization: 'all', device, label: 'evaluation' });
  try {
    const b = await createSession(encodeModel(quantized), { threads, optimization: 'disabled' });
    try {
      // One pair at a time through both models: memory stays at one sample's activations.
      for (const i of indices) {
        const feeds = calibrationFeeds(set, i, 1);
        const ref = await a.run(feeds);
        const got = await b.run(feeds);
        for (const s of sites) {
          const dq = got[seen(s)].data as Float32Array;
          total.get(s.value)!.add(ref[s.value].data as Float32Array, dq);
          local.get(s.value)!.add(got[entering(s)].data as Float32Array, dq);
        }
        disposeAll(ref);
        disposeAll(got);
      }
    } finally {
      await b.release();
    }
  } finally {
    await a.release();
  }
  return sites.map((s) => ({
    value: s.value,
    sqnrDb: total.get(s.value)!.db(),
    quantizerSqnrDb: local.get(s.value)!.db(),
  }));
}

/**
 * Epsilon SQNR per respaced step (NaN where the indices hold no pair of that step): the first C output
 * channels of both models on the same calibration inputs.
 */
export async function epsilonSqnrByStep(
  fp32: OnnxModel,
  quantized: OnnxModel,
  set: CalibrationSet,
  indices: number[],
  threads?: number,
  device: Device = 'cpu',
): Promise<number[]> {
  const steps = set.count > 0 ? Math.max(...set.stepIndex) + 1 : 0;
  const acc = Array.from({ length: steps }, () => new SqnrAccumulator());
  const outputs = new Map<number, Float32Array>();
  const channels = set.shape[0];
  const pixels = set.shape[1] * set.shape[2];
  const epsilon = (out: Float32Array) => out.subarray(0, channels * pixels);
  const a = await createSession(encodeModel(fp32), { threads, optimization: 'all', device, label: 'evaluation' });
  try {
    await runPairs(a, set, indices, (r, i) => outputs.set(i, (r.out.data as Float32Array).slice()));
  } finally {
    await a.release();
  }
  const b = await createSession(encodeModel(quantized), { threads, optimization: 'all' });
  try {
    await runPairs(b, set, indices, (r, i) => {
      acc[set.stepIndex[i]].add(epsilon(outputs.get(i)!), epsilon(r.out.data as Float32Array));
    });
  } finally {
    await b.release();
  }
  return acc.map((s) => (s.signal === 0 ? Number.NaN : s.db()));
}
