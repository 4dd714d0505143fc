/**
 * The work of a CIFAR-10 build after the calibration trajectories: activation statistics, plan, weight
 * reconstruction, QDQ export, on the improved-diffusion CIFAR-10 U-Net (52.5M parameters, random weights), each
 * phase's wall time and peak resident memory. Target: all four phases <= 5 minutes on the 2-core machine.
 *
 * NOTE: the calibration set is synthetic: Gaussian x_t of the right shape at the time steps a uniform draw over
 * `--trajectories` DDIM-50 trajectories would give (the trajectories themselves are not part of this budget, and
 * with random weights their content does not matter for timing).
 *
 *   node bench/build-cifar10.ts [--calib 256] [--trajectories 64] [--recon gptq] [--objective plain]
 *     [--samples 128] [--columns 8192] [--wbits 4] [--threads 2] [--observer lp]
 *
 * Prints one JSON object; also writes bench/results/build-cifar10.json.
 */
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { createDiffusion, gaussianNoise, parseSteps, type Tensor } from '@qdm/shared';
import { type CalibrationSet, sampleTimesteps } from '@qdm/toolchain';
import { buildUNet, parseFlags, unetLayout, unetWeightShapes } from '@qdm/toolchain/models';
import { encodeModel } from '@qdm/toolchain/onnx';
import {
  exportQdq,
  type ObserverSpec,
  observeActivations,
  planQuantization,
  prepareModel,
  type ReconMethod,
  type ReconObjective,
  reconstructWeights,
  roundWeightsNearest,
  weightMatrix,
} from '@qdm/toolchain/quantize';
import { provenance, randomWeights, writeResult } from './lib.ts';
import { machineInfo } from './machine.ts';

// Recorded when the bench starts (the load average beside the run).
const machine = machineInfo();

const { values: args } = parseArgs({
  options: {
    calib: { type: 'string', default: '256' },
    trajectories: { type: 'string', default: '64' },
    recon: { type: 'string', default: 'gptq' },
    objective: { type: 'string', default: 'plain' },
    samples: { type: 'string', default: '128' },
    columns: { type: 'string', default: '8192' },
    wbits: { type: 'string', default: '4' },
    threads: { type: 'string', default: '2' },
    observer: { type: 'string', default: 'lp' },
  },
});
const threads = Number(args.threads);
const count = Number(args.calib);

const flags = parseFlags(
  '--image_size 32 --num_channels 128 --num_res_blocks 3 --learn_sigma True --dropout 0.3 ' +
    '--diffusion_steps 4000 --noise_schedule cosine',
);
const weights = new Map<string, Tensor>();
for (const [name, shape] of unetWeightShapes(unetLayout(flags.unet))) weights.set(name, randomWeights(name, shape));
const fp32 = buildUNet(flags.unet, weights);
const parameters = [...weights.values()].reduce((n, t) => n + t.data.length, 0);

function syntheticCalibration(): CalibrationSet {
  const { diffusionSteps, noiseSchedule, learnSigma, rescaleTimesteps } = flags.diffusion;
  const diffusion = createDiffusion(
    { diffusionSteps, noiseSchedule, learnSigma, rescaleTimesteps },
    parseSteps(50, diffusionSteps),
  );
  const shape: [number, number, number] = [3, 32, 32];
  const size = 3 * 32 * 32;
  const steps = sampleTimesteps({ kind: 'uniform' }, diffusion.numSteps, count, 1);
  const x = new Float32Array(count * size);
  steps.forEach((_, j) => {
    x.set(gaussianNoise(1, j % Number(args.trajectories), steps[j], size), j * size);
  });
  return {
    x,
    t: Float32Array.from(steps, (i) => diffusion.modelTime(i)),
    stepIndex: Int32Array.from(steps),
    count,
    shape,
  };
}

interface Phase<T> {
  value: T;
  seconds: number;
  /** user + system CPU seconds of the process (onnxruntime's threads included): robust to other load. */
  cpuSeconds: number;
  peakRssMb: number;
  /** 1-minute load average at the end (the machine is shared: above ~2, wall times are inflated). */
  load: number;
}

/** Wall time and peak RSS of one phase (RSS sampled every 50 ms while the event loop is free, and at the end). */
async function phase<T>(run: () => Promise<T> | T): Promise<Phase<T>> {
  let peak = process.memoryUsage.rss();
  const cpu = process.cpuUsage();
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage.rss());
  }, 50);
  const start = performance.now();
  try {
    const value = await run();
    peak = Math.max(peak, process.memoryUsage.rss());
    const used = process.cpuUsage(cpu);
    return {
      value,
      seconds: (performance.now() - start) / 1000,
      cpuSeconds: (used.user + used.system) / 1e6,
      peakRssMb: peak / 2 ** 20,
      load: loadavg()[0],
    };
  } finally {
    clearInterval(timer);
  }
}

const calibration = syntheticCalibration();
const baseRssMb = process.memoryUsage.rss() / 2 ** 20;
const planned = await phase(() =>
  planQuantization(fp32.graph, { scheme: 'full', weightBits: Number(args.wbits) as 4 | 8, activationBits: 8 }),
);
const plan = planned.value;
const stats = await phase(() =>
  observeActivations(fp32, plan, calibration, { observer: { kind: args.observer } as ObserverSpec, threads }),
);
const ranges = stats.value.ranges;
const layerLog: string[] = [];
const recon = await phase(async () => {
  if (args.recon === 'none') {
    const floats = new Map(prepareModel(fp32, plan).graph.initializers.map((t) => [t.name, t]));
    return {
      weights: new Map(
        plan.weights.map((s) => [s.node, roundWeightsNearest(s, weightMatrix(floats.get(s.weight)!), 'absmax')]),
      ),
      seconds: undefined,
      stages: 0,
    };
  }
  return reconstructWeights(fp32, plan, ranges, calibration, {
    method: args.recon as ReconMethod,
    objective: args.objective as ReconObjective,
    samples: Number(args.samples),
    columns: Number(args.columns),
    threads,
    onLayer: (l, done, total) => {
      layerLog.push(l.node);
      process.stderr.write(`\r${done}/${total} ${l.node} ${l.seconds.toFixed(2)} s      `);
    },
  });
});
process.stderr.write('\n');
const exported = await phase(() => encodeModel(exportQdq(fp32, plan, ranges, recon.value.weights)));

const summary = ({ value: _, ...rest }: Phase<unknown>) => rest;
const phases = {
  statistics: { ...summary(stats), breakdown: stats.value.seconds, batch: stats.value.batch },
  plan: summary(planned),
  reconstruction: { ...summary(recon), breakdown: recon.value.seconds },
  export: { ...summary(exported), bytes: exported.value.length },
};
const total = stats.seconds + planned.seconds + recon.seconds + exported.seconds;
const report = {
  ...provenance('build-cifar10', machine),
  model: 'improved-diffusion CIFAR-10 U-Net (random weights)',
  parameters,
  calibration: `synthetic: ${count} Gaussian x_t at uniform DDIM-50 steps of ${args.trajectories} trajectories`,
  scheme: 'full',
  bits: `w${args.wbits}a8`,
  recon: args.recon,
  objective: args.objective,
  reconSamples: Number(args.samples),
  columns: Number(args.columns),
  observer: args.observer,
  threads,
  weightSites: plan.weights.length,
  stages: recon.value.stages,
  baseRssMb,
  phases,
  totalSeconds: total,
  peakRssMb: Math.max(...Object.values(phases).map((p) => p.peakRssMb)),
  target: 'statistics + plan + reconstruction + export <= 300 s',
  met: total <= 300,
};
writeResult('build-cifar10', report, { defaultRun: process.argv.length === 2 });
console.log(JSON.stringify(report, null, 1));
