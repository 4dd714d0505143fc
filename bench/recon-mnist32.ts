/**
 * Weight reconstruction on the real mnist32 model: same-seed PSNR (uint8 images, int model vs fp32 from the same
 * x_T, DDIM 50, eta 0) of the `full` scheme with `--recon none`, `gptq` and `adaround`, plus each run's time and
 * the per-layer output SQNR before/after. One calibration set (uniform, from the fp32 model's own trajectories)
 * and one set of activation ranges serve every variant, so the variants differ only in their weights.
 *
 *   node bench/recon-mnist32.ts [--wbits 4] [--abits 8] [--methods none,gptq,adaround] [--objectives plain]
 *     [--scales default,lp,absmax] [--seeds 64] [--calib 256] [--trajectories 32] [--samples 128] [--columns 8192]
 *     [--iterations 200] [--lr 0.02] [--observer lp] [--act-order true] [--damping 0.01] [--threads 2]
 *     [--layers]
 *
 * Prints one JSON object; also writes bench/results/recon-mnist32.json.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { createDiffusion, ddimSample, parseSteps, pixelDiff, toUint8NHWC } from '@qdm/shared';
import { collectCalibration, createSession, readCheckpoint, sessionDenoiser } from '@qdm/toolchain';
import { buildUNet, parseFlags } from '@qdm/toolchain/models';
import { encodeModel, type OnnxModel } from '@qdm/toolchain/onnx';
import {
  exportQdq,
  type ObserverSpec,
  observeActivations,
  planQuantization,
  type ReconMethod,
  type ReconObjective,
  reconstructWeights,
  type ScaleMethod,
} from '@qdm/toolchain/quantize';
import { provenance, writeResult } from './lib.ts';
import { machineInfo } from './machine.ts';

// Recorded when the bench starts (the load average beside the run).
const machine = machineInfo();

const { values: args } = parseArgs({
  options: {
    wbits: { type: 'string', default: '4' },
    abits: { type: 'string', default: '8' },
    methods: { type: 'string', default: 'none,gptq,adaround' },
    objectives: { type: 'string', default: 'plain' },
    scales: { type: 'string', default: 'default' },
    seeds: { type: 'string', default: '64' },
    calib: { type: 'string', default: '256' },
    trajectories: { type: 'string', default: '32' },
    samples: { type: 'string', default: '128' },
    columns: { type: 'string', default: '8192' },
    iterations: { type: 'string', default: '200' },
    lr: { type: 'string', default: '0.02' },
    observer: { type: 'string', default: 'lp' },
    'act-order': { type: 'string', default: 'true' },
    damping: { type: 'string', default: '0.01' },
    threads: { type: 'string', default: '2' },
    layers: { type: 'boolean', default: false },
  },
});
const shared = process.env.QDM_SHARED ?? resolve(import.meta.dirname, '../../shared');
const threads = Number(args.threads);
const seeds = Number(args.seeds);
const list = (s: string) => s.split(',').filter(Boolean);

const flags = parseFlags(JSON.parse(readFileSync(resolve(shared, 'models/mnist32/flags.json'), 'utf8')));
const checkpoint = await readCheckpoint(resolve(shared, 'models/mnist32/ema.pt'));
const fp32 = buildUNet(flags.unet, checkpoint.tensors);
const { diffusionSteps, noiseSchedule, learnSigma, rescaleTimesteps } = flags.diffusion;
const diffusion = createDiffusion(
  { diffusionSteps, noiseSchedule, learnSigma, rescaleTimesteps },
  parseSteps(50, diffusionSteps),
);
const shape: [number, number, number] = [3, flags.unet.imageSize, flags.unet.imageSize];

async function images(model: OnnxModel): Promise<Uint8Array> {
  const session = await createSession(encodeModel(model), { threads, optimization: 'all' });
  try {
    const denoiser = sessionDenoiser(session, { shape, learnSigma });
    const x0 = await ddimSample(denoiser, { diffusion, shape, batch: seeds, seed: 0, eta: 0 });
    return toUint8NHWC(x0, seeds, ...shape);
  } finally {
    await session.release();
  }
}

/** The manifest's same-seed PSNR (mean of the images') and the pooled one (@qdm/shared pixel-metrics.ts). */
function psnr(a: Uint8Array, b: Uint8Array): { mean: number; pooled: number } {
  const d = pixelDiff(a, b, seeds);
  return { mean: d.psnrMean, pooled: d.psnrPooled };
}

const clock = performance.now();
const fpSession = await createSession(encodeModel(fp32), { threads, optimization: 'all' });
const calibration = await collectCalibration(sessionDenoiser(fpSession, { shape, learnSigma }), {
  diffusion,
  shape,
  policy: { kind: 'uniform' },
  samples: Number(args.calib),
  trajectories: Number(args.trajectories),
  batch: Number(args.trajectories),
  seed: 1,
  noise: 'gaussian',
});
await fpSession.release();
const reference = await images(fp32);
const plan = planQuantization(fp32.graph, {
  scheme: 'full',
  weightBits: Number(args.wbits) as 4 | 8,
  activationBits: Number(args.abits) as 8 | 16,
});
const stats = await observeActivations(fp32, plan, calibration, {
  observer: { kind: args.observer } as ObserverSpec,
  threads,
});
const setupSeconds = (performance.now() - clock) / 1000;
process.stderr.write(`calibration + reference + stats: ${setupSeconds.toFixed(1)} s\n`);

const runs: Record<string, unknown>[] = [];
// 'default': the driver's choice (absmax for gptq, lp otherwise).
const variants: [ScaleMethod | 'default', ReconMethod, ReconObjective, boolean][] = [];
for (const scaleMethod of list(args.scales) as (ScaleMethod | 'default')[]) {
  for (const method of list(args.methods) as ReconMethod[]) {
    for (const objective of (method === 'none' ? ['plain'] : list(args.objectives)) as ReconObjective[]) {
      for (const actOrder of method === 'gptq' ? list(args['act-order']) : ['false']) {
        variants.push([scaleMethod, method, objective, actOrder === 'true']);
      }
    }
  }
}
for (const [scaleMethod, method, objective, actOrder] of variants) {
  const recon = await reconstructWeights(fp32, plan, stats.ranges, calibration, {
    method,
    objective,
    scaleMethod: scaleMethod === 'default' ? undefined : scaleMethod,
    samples: Number(args.samples),
    columns: Number(args.columns),
    adaround: { iterations: Number(args.iterations), lr: Number(args.lr) },
    gptq: { actOrder, damping: Number(args.damping) },
    threads,
  });
  const quantized = exportQdq(fp32, plan, stats.ranges, recon.weights);
  const score = psnr(reference, await images(quantized));
  const sqnr = (e: number, s: number) => 10 * Math.log10(s / Math.max(e, 1e-30));
  const meanSqnr = (pick: 'error' | 'errorNearest') =>
    recon.layers.reduce((a, l) => a + sqnr(l[pick], l.signal), 0) / recon.layers.length;
  const run = {
    method,
    objective,
    scaleMethod,
    actOrder: method === 'gptq' ? actOrder : undefined,
    psnrMean: score.mean,
    psnrPooled: score.pooled,
    layerSqnrNearestDb: meanSqnr('errorNearest'),
    layerSqnrDb: meanSqnr('error'),
    seconds: recon.seconds,
    stages: recon.stages,
    layers: args.layers
      ? recon.layers.map((l) => ({
          node: l.node,
          nearestDb: sqnr(l.errorNearest, l.signal),
          db: sqnr(l.error, l.signal),
        }))
      : undefined,
  };
  runs.push(run);
  process.stderr.write(
    `${scaleMethod} ${method}/${objective}${actOrder ? ' act-order' : ''}: PSNR ${score.mean.toFixed(2)} dB (pooled ${score.pooled.toFixed(2)}), ` +
      `layer SQNR ${run.layerSqnrNearestDb.toFixed(2)} -> ${run.layerSqnrDb.toFixed(2)} dB, ` +
      `${recon.seconds.total.toFixed(1)} s\n`,
  );
}

const report = {
  ...provenance('recon-mnist32', machine),
  scheme: 'full',
  bits: `w${args.wbits}a${args.abits}`,
  seeds,
  sampler: 'ddim50 eta 0',
  calibration: { pairs: Number(args.calib), trajectories: Number(args.trajectories), policy: 'uniform' },
  observer: args.observer,
  reconSamples: Number(args.samples),
  columns: Number(args.columns),
  adaround: { iterations: Number(args.iterations), lr: Number(args.lr) },
  gptqDamping: Number(args.damping),
  setupSeconds,
  runs,
};
writeResult('recon-mnist32', report, { defaultRun: process.argv.length === 2 });
console.log(JSON.stringify(report, null, 1));
