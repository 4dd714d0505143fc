/**
 * Post-training quantization of the real mnist32 model, W8A8 with round-to-nearest weights, per scheme:
 * same-seed PSNR of the final uint8 images against fp32 (DDIM 50, eta 0, same x_T), per-step epsilon SQNR along
 * the fp32 trajectories, file sizes, onnxruntime's integer-node counts, and onnxruntime-node per-step latency of
 * fp32 and each quantized model at 1 thread, batch 1 and 8, measured interleaved (wall and process CPU time).
 *
 * Variants: ptq4dm, qdiff, full (image-space ends float, the default), full-int (every layer integer) and naive
 * (the naive reference quantizer: conv/linear inputs only, min/max ranges, absmax weight scales).
 *
 *   node bench/quantize-mnist.ts [--seeds 64] [--calib 256] [--trajectories 32] [--observer lp]
 *     [--variants naive,ptq4dm,qdiff,full,full-int] [--threads 2] [--latency-runs 150]
 *
 * Prints one JSON object; also writes bench/results/quantize-mnist.json.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { createDiffusion, type Denoiser, ddimSample, meanPsnr, PSNR_CAP_DB, pixelDiff, toUint8NHWC } from '@qdm/shared';
import {
  type CalibrationSet,
  collectCalibration,
  createSession,
  readCheckpoint,
  sessionDenoiser,
} from '@qdm/toolchain';
import { buildUNet, parseFlags } from '@qdm/toolchain/models';
import { encodeModel, type OnnxModel } from '@qdm/toolchain/onnx';
import {
  type ActivationSite,
  exportQdq,
  indexGraph,
  inspectFusion,
  type ObserverSpec,
  observeActivations,
  planQuantization,
  prepareModel,
  quantizeModel,
  roundWeightsNearest,
  type Scheme,
  SqnrAccumulator,
  weightMatrix,
} from '@qdm/toolchain/quantize';
import * as ort from 'onnxruntime-node';
import { median, provenance, writeResult } from './lib.ts';
import { machineInfo } from './machine.ts';

// Recorded when the bench starts (the load average beside the run).
const machine = machineInfo();

const { values: args } = parseArgs({
  options: {
    seeds: { type: 'string', default: '64' },
    calib: { type: 'string', default: '256' },
    trajectories: { type: 'string', default: '32' },
    observer: { type: 'string', default: 'lp' },
    variants: { type: 'string', default: 'naive,ptq4dm,qdiff,full,full-int' },
    threads: { type: 'string', default: '2' },
    'latency-runs': { type: 'string', default: '150' },
  },
});
const shared = process.env.QDM_SHARED ?? resolve(import.meta.dirname, '../../shared');
const seeds = Number(args.seeds);
const threads = Number(args.threads);
const SHAPE: [number, number, number] = [3, 32, 32];
const BATCH = 16;
const log = (msg: string) => process.stderr.write(`${msg}\n`);

const { unet, diffusion: d } = parseFlags(JSON.parse(readFileSync(`${shared}/models/mnist32/flags.json`, 'utf8')));
const fp32 = buildUNet(unet, (await readCheckpoint(`${shared}/models/mnist32/ema.pt`)).tensors);
const config = {
  diffusionSteps: d.diffusionSteps,
  noiseSchedule: d.noiseSchedule,
  learnSigma: d.learnSigma,
  rescaleTimesteps: d.rescaleTimesteps,
};
const diffusion = createDiffusion(config, 'ddim50');
const denoiser = async (bytes: Uint8Array, n = threads) =>
  sessionDenoiser(await createSession(bytes, { threads: n }), { shape: SHAPE, learnSigma: d.learnSigma });

// Calibration: uniform over the 50 respaced steps, from the fp32 model's own DDIM trajectories.
let clock = performance.now();
const calibration = await collectCalibration(await denoiser(encodeModel(fp32)), {
  diffusion,
  shape: SHAPE,
  policy: { kind: 'uniform' },
  samples: Number(args.calib),
  trajectories: Number(args.trajectories),
  batch: 8,
  seed: 1234,
  noise: 'gaussian',
});
const calibrationSeconds = (performance.now() - clock) / 1000;
log(`calibration: ${calibration.count} pairs in ${calibrationSeconds.toFixed(1)} s`);

const observer: ObserverSpec = { kind: args.observer as 'lp' };
interface Variant {
  name: string;
  model: OnnxModel;
  bytes: Uint8Array;
  seconds: number;
  quantizerSites: number;
  keptFloat?: number;
  calibEpsSqnr?: (number | null)[];
}
const variants: Variant[] = [];
for (const name of args.variants.split(',')) {
  clock = performance.now();
  if (name === 'naive') {
    const model = naive(fp32, calibration);
    variants.push({ name, model: await model, bytes: encodeModel(await model), seconds: 0, quantizerSites: 0 });
  } else {
    const scheme = (name === 'full-int' ? 'full' : name) as Scheme;
    const result = await quantizeModel({
      fp32,
      calibration,
      scheme,
      weightBits: 8,
      activationBits: 8,
      imageEnds: name === 'full-int' ? 'quantized' : undefined,
      observer,
      threads,
    });
    variants.push({
      name,
      model: result.model,
      bytes: result.bytes,
      seconds: 0,
      quantizerSites: result.plan.activations.length,
      keptFloat: result.plan.keptFloat.length,
      calibEpsSqnr: result.report.epsilonSqnrByStep,
    });
  }
  variants.at(-1)!.seconds = (performance.now() - clock) / 1000;
  log(`${name}: quantized in ${variants.at(-1)!.seconds.toFixed(1)} s`);
}

/** The naive reference quantizer: uint8 min/max on every conv/linear input, absmax int8 weights. */
async function naive(model: OnnxModel, set: CalibrationSet): Promise<OnnxModel> {
  const plan = planQuantization(model.graph, { scheme: 'ptq4dm', weightBits: 8, activationBits: 8 });
  const inputs = new Map<string, ActivationSite>();
  for (const w of plan.weights) {
    const site = inputs.get(w.inputValue);
    if (site) site.consumers.push({ node: w.node, input: 0 });
    else {
      inputs.set(w.inputValue, {
        value: w.inputValue,
        role: w.kind === 'conv' ? 'conv-input' : 'linear-input',
        consumers: [{ node: w.node, input: 0 }],
        graphOutput: false,
        bits: 8,
        unsigned: true,
      });
    }
  }
  plan.activations = [...inputs.values()];
  const stats = await observeActivations(model, plan, set, { observer: { kind: 'minmax' }, threads });
  const index = indexGraph(prepareModel(model, plan).graph);
  const weights = new Map(
    plan.weights.map((w) => [w.node, roundWeightsNearest(w, weightMatrix(index.initializer(w.weight)!), 'absmax')]),
  );
  return exportQdq(model, plan, stats.ranges, weights);
}

// Same-seed sampling: fp32 first, each variant fed the same x_t along the fp32 trajectory for epsilon SQNR.
const channels = SHAPE[0];
const pixels = SHAPE[1] * SHAPE[2];
const outChannels = d.learnSigma ? 2 * channels : channels;
const epsilon = (out: Float32Array, n: number) => {
  const e = new Float32Array(n * channels * pixels);
  for (let b = 0; b < n; b++)
    e.set(out.subarray(b * outChannels * pixels, (b * outChannels + channels) * pixels), b * channels * pixels);
  return e;
};
const fp = await denoiser(encodeModel(fp32));
const quantized = await Promise.all(variants.map((v) => denoiser(v.bytes)));
const stepSqnr = variants.map(() => Array.from({ length: diffusion.numSteps }, () => new SqnrAccumulator()));
const fpImages: Uint8Array[] = [];
clock = performance.now();
for (let first = 0; first < seeds; first += BATCH) {
  const n = Math.min(BATCH, seeds - first);
  let call = 0;
  const recording: Denoiser = async (x, t, batch) => {
    const out = await fp(x, t, batch);
    const index = diffusion.numSteps - 1 - call++;
    for (const [k, q] of quantized.entries())
      stepSqnr[k][index].add(epsilon(out, batch), epsilon(await q(x, t, batch), batch));
    return out;
  };
  const x0 = await ddimSample(recording, { diffusion, shape: SHAPE, batch: n, seed: 0, firstSample: first, eta: 0 });
  fpImages.push(toUint8NHWC(x0, n, ...SHAPE));
}
log(`fp32 sampling + side-by-side epsilon: ${((performance.now() - clock) / 1000).toFixed(1)} s`);
const psnr = [];
for (const [k, v] of variants.entries()) {
  const values: number[] = [];
  for (let first = 0, chunk = 0; first < seeds; first += BATCH, chunk++) {
    const n = Math.min(BATCH, seeds - first);
    const x0 = await ddimSample(quantized[k], {
      diffusion,
      shape: SHAPE,
      batch: n,
      seed: 0,
      firstSample: first,
      eta: 0,
    });
    const images = toUint8NHWC(x0, n, ...SHAPE);
    values.push(...pixelDiff(fpImages[chunk], images, n).psnrPerImage);
  }
  // The manifest's same-seed PSNR (@qdm/shared pixel-metrics.ts: an identical image is PSNR_CAP_DB).
  psnr.push({
    variant: v.name,
    meanDb: round(meanPsnr(values)!),
    minDb: round(Math.min(...values)),
    identicalImages: values.filter((p) => p === PSNR_CAP_DB).length,
  });
  log(`${v.name}: PSNR mean ${psnr.at(-1)!.meanDb} dB`);
}

// Latency: onnxruntime-node, level 'all', 1 thread, fp32 and every variant interleaved run by run.
async function latency(batch: number, runs: number) {
  const models = [
    { name: 'fp32', bytes: encodeModel(fp32) },
    ...variants.map((v) => ({ name: v.name, bytes: v.bytes })),
  ];
  const sessions = await Promise.all(
    models.map((m) =>
      ort.InferenceSession.create(m.bytes, {
        graphOptimizationLevel: 'all',
        intraOpNumThreads: 1,
        interOpNumThreads: 1,
      }),
    ),
  );
  const x = new ort.Tensor('float32', calibration.x.slice(0, batch * channels * pixels), [batch, ...SHAPE]);
  const t = new ort.Tensor('float32', calibration.t.slice(0, batch), [batch]);
  const wall = models.map(() => [] as number[]);
  const cpu = models.map(() => [] as number[]);
  for (let r = 0; r < runs + 5; r++) {
    for (const [k, s] of sessions.entries()) {
      const c0 = process.cpuUsage();
      const w0 = performance.now();
      await s.run({ x, t });
      const w = performance.now() - w0;
      const c = process.cpuUsage(c0);
      if (r >= 5) {
        wall[k].push(w);
        cpu[k].push((c.user + c.system) / 1000);
      }
    }
  }
  await Promise.all(sessions.map((s) => s.release()));
  return models.map((m, k) => ({
    model: m.name,
    wallMs: round(median(wall[k]), 3),
    cpuMs: round(median(cpu[k]), 3),
    wallRatio: round(median(wall[k]) / median(wall[0]), 3),
    cpuRatio: round(median(cpu[k]) / median(cpu[0]), 3),
  }));
}
const runs = Number(args['latency-runs']);
const latencies = { batch1: await latency(1, runs), batch8: await latency(8, Math.max(10, Math.round(runs / 5))) };

const fp32Bytes = encodeModel(fp32).length;
const fusion = await Promise.all(variants.map((v) => inspectFusion(v.model)));
const result = {
  ...provenance('quantize-mnist', machine),
  model: 'mnist32',
  sampler: 'ddim50, eta 0',
  seeds,
  calibration: {
    pairs: calibration.count,
    policy: 'uniform',
    trajectories: Number(args.trajectories),
    seconds: round(calibrationSeconds),
  },
  observer,
  weights: 'int8 per output channel, lp scales, round to nearest (naive: absmax)',
  psnr,
  epsilonSqnrByStep: Object.fromEntries(variants.map((v, k) => [v.name, stepSqnr[k].map((s) => round(s.db()))])),
  epsilonSqnrNote: 'index = respaced step (0 = last, cleanest); int8 and fp32 fed the same x_t of the fp32 trajectory',
  files: {
    fp32Bytes,
    ...Object.fromEntries(
      variants.map((v) => [v.name, { bytes: v.bytes.length, ratio: round(v.bytes.length / fp32Bytes, 4) }]),
    ),
  },
  integerNodes: Object.fromEntries(variants.map((v, k) => [v.name, fusion[k].integerNodes])),
  floatLayersAfterFusion: Object.fromEntries(variants.map((v, k) => [v.name, fusion[k].floatLayers])),
  quantizeSeconds: Object.fromEntries(variants.map((v) => [v.name, round(v.seconds)])),
  latency: { runtime: 'onnxruntime-node 1.30, level all, 1 thread, median', ...latencies },
};
const out = JSON.stringify(result, null, 1);
writeResult('quantize-mnist', result, { defaultRun: process.argv.length === 2 });
console.log(out);

function round(v: number, digits = 2): number {
  return Number.isFinite(v) ? Number(v.toFixed(digits)) : v;
}
