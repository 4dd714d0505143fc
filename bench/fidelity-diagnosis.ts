/**
 * Where W8A8's last-step epsilon error comes from on mnist32 (16 seeds, DDIM 50): epsilon SQNR
 * at loop steps 49, 45, 40, 25 (49 = last) for the default W8A8 model, with each activation quantizer left out in
 * turn, with weights quantized only (no activation quantizers), and with ranges observed only on the last steps'
 * pairs (what time-step-grouped scales can reach at best). Prints text lines (a diagnosis, not a JSON bench).
 *
 *   node bench/fidelity-diagnosis.ts
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { createDiffusion, type Denoiser, ddimSample } from '@qdm/shared';
import { collectCalibration, createSession, readCheckpoint, sessionDenoiser } from '@qdm/toolchain';
import { buildUNet, parseFlags } from '@qdm/toolchain/models';
import { encodeModel } from '@qdm/toolchain/onnx';
import {
  exportQdq,
  indexGraph,
  observeActivations,
  planQuantization,
  prepareModel,
  roundWeightsNearest,
  SqnrAccumulator,
  weightMatrix,
} from '@qdm/toolchain/quantize';

const shared = process.env.QDM_SHARED ?? resolve(import.meta.dirname, '../../shared');
const { unet, diffusion: d } = parseFlags(JSON.parse(readFileSync(`${shared}/models/mnist32/flags.json`, 'utf8')));
const fp32 = buildUNet(unet, (await readCheckpoint(`${shared}/models/mnist32/ema.pt`)).tensors);
const diffusion = createDiffusion(
  {
    diffusionSteps: d.diffusionSteps,
    noiseSchedule: d.noiseSchedule,
    learnSigma: d.learnSigma,
    rescaleTimesteps: d.rescaleTimesteps,
  },
  'ddim50',
);
const SHAPE: [number, number, number] = [3, 32, 32];
const fps = await createSession(encodeModel(fp32), { threads: 2 });
const fpd = sessionDenoiser(fps, { shape: SHAPE, learnSigma: true });
const calibration = await collectCalibration(fpd, {
  diffusion,
  shape: SHAPE,
  policy: { kind: 'uniform' },
  samples: 256,
  trajectories: 32,
  batch: 16,
  seed: 1,
  noise: 'gaussian',
});
const steps: { x: Float32Array; t: number; eps: Float32Array }[] = [];
const N = 16;
const rec: Denoiser = async (x, t, b) => {
  const o = await fpd(x, t, b);
  steps.push({ x: x.slice(), t: t[0], eps: o.slice() });
  return o;
};
await ddimSample(rec, { diffusion, shape: SHAPE, batch: N, seed: 0 });
const plan = planQuantization(fp32.graph, { scheme: 'full', weightBits: 8, activationBits: 8 });
const stats = await observeActivations(fp32, plan, calibration, { observer: { kind: 'lp' }, threads: 2 });
const index = indexGraph(prepareModel(fp32, plan).graph);
const weights = new Map(
  plan.weights.map((s) => [s.node, roundWeightsNearest(s, weightMatrix(index.initializer(s.weight)!), 'lp')]),
);
const pick = [49, 45, 40, 25]; // loop order: 49 = last step
async function score(skip: Set<string>) {
  const m = exportQdq(fp32, plan, stats.ranges, weights, { skipActivations: skip });
  const s = await createSession(encodeModel(m), { threads: 2 });
  const den = sessionDenoiser(s, { shape: SHAPE, learnSigma: true });
  const out: number[] = [];
  for (const k of pick) {
    const st = steps[k];
    const o = await den(st.x, new Float32Array(N).fill(st.t), N);
    const acc = new SqnrAccumulator();
    for (let b = 0; b < N; b++)
      acc.add(st.eps.subarray(b * 6144, b * 6144 + 3072), o.subarray(b * 6144, b * 6144 + 3072));
    out.push(Math.round(acc.db() * 100) / 100);
  }
  await s.release();
  return out;
}
console.log('base', await score(new Set()));

const rows: [string, number[]][] = [];
for (const site of plan.activations) {
  if (site.sharesParamsWith) continue;
  rows.push([`${site.value} ${site.role}`, await score(new Set([site.value]))]);
}
rows.sort((a, b) => b[1][0] - a[1][0]);
console.log('--- one activation quantizer left out, best 15 by the last step');
for (const r of rows.slice(0, 15)) console.log(r[0], r[1].join(' '));
console.log('weights only (no activation quantizers)', await score(new Set(plan.activations.map((a) => a.value))));
const plan16 = planQuantization(fp32.graph, { scheme: 'full', weightBits: 8, activationBits: 16 });
const stats16 = await observeActivations(fp32, plan16, calibration, { observer: { kind: 'lp' }, threads: 2 });
{
  const s16 = await createSession(encodeModel(exportQdq(fp32, plan16, stats16.ranges, weights)), { threads: 2 });
  const den = sessionDenoiser(s16, { shape: SHAPE, learnSigma: true });
  const out: string[] = [];
  for (const k of pick) {
    const st = steps[k];
    const o = await den(st.x, new Float32Array(N).fill(st.t), N);
    const acc = new SqnrAccumulator();
    for (let b = 0; b < N; b++)
      acc.add(st.eps.subarray(b * 6144, b * 6144 + 3072), o.subarray(b * 6144, b * 6144 + 3072));
    out.push(acc.db().toFixed(2));
  }
  console.log('W8A16', out.join(' '));
  await s16.release();
}
console.log(
  '--- ranges observed only on the pairs of steps lo..hi (respaced index), SQNR at loop steps 49 48 47 45 40',
);
function subset(keep: (i: number) => boolean) {
  const picks = Array.from({ length: calibration.count }, (_, i) => i).filter((i) => keep(calibration.stepIndex[i]));
  const x = new Float32Array(picks.length * 3072);
  for (const [k, i] of picks.entries()) x.set(calibration.x.subarray(i * 3072, (i + 1) * 3072), k * 3072);
  return {
    x,
    t: Float32Array.from(picks.map((i) => calibration.t[i])),
    stepIndex: Int32Array.from(picks.map((i) => calibration.stepIndex[i])),
    count: picks.length,
    shape: calibration.shape,
  };
}
for (const [lo, hi] of [
  [0, 0],
  [0, 1],
  [0, 2],
  [0, 4],
  [0, 9],
  [0, 24],
]) {
  const sub = subset((i) => i >= lo && i <= hi);
  const st = await observeActivations(fp32, plan, sub, { observer: { kind: 'lp' }, threads: 2 });
  const m = exportQdq(fp32, plan, st.ranges, weights);
  const s = await createSession(encodeModel(m), { threads: 2 });
  const den = sessionDenoiser(s, { shape: SHAPE, learnSigma: true });
  const out = [];
  for (const k of [49, 48, 47, 45, 40]) {
    const st = steps[k];
    const o = await den(st.x, new Float32Array(N).fill(st.t), N);
    const acc = new SqnrAccumulator();
    for (let b = 0; b < N; b++)
      acc.add(st.eps.subarray(b * 6144, b * 6144 + 3072), o.subarray(b * 6144, b * 6144 + 3072));
    out.push(acc.db().toFixed(2));
  }
  console.log('ranges from steps', lo, hi, 'pairs', sub.count, out.join(' '));
  await s.release();
}
process.exit(0);
