/**
 * Sampling throughput and build-artifact phase times per device (`--device` of the toolchain), on the
 * improved-diffusion CIFAR-10 configuration with random weights (as bench/build-artifact-cifar10.ts builds it).
 * Throughput: the real DDIM loop (@qdm/shared's ddimSample through sampleWith) at each batch; after one warm-up step
 * (WebGPU compiles its shaders there), `--timed-steps` steps are timed and images/s = batch / (median step seconds
 * x the loop's step count). Build: buildArtifact with `--device` (fp32 trajectories, statistics and evaluation
 * references on the device; integer work on the CPU, see CPU_ONLY_WORK) and each phase's seconds.
 * Devices: every one that runs here unless `--devices` names them (an unavailable one is reported, not run).
 * Target: a GPU's throughput >= 50x this 2-core CPU's, measured side by side when a GPU is present.
 *
 *   node bench/gpu.ts [--devices cpu,cuda,webgpu] [--batches 64,256] [--steps ddim50] [--timed-steps 5]
 *     [--build-trajectories 16] [--build-samples 64] [--no-build] [--model cifar10|tiny] [--out FILE]
 *
 * `--model tiny` is the test U-Net (`TINY_FLAGS`) with small defaults (batch 2, ddim10, 2 timed steps, a small
 * build): a check that the bench runs (the device pack's test), not a measurement.
 * Prints one JSON object; the default run also writes bench/results/gpu.json (a run with other arguments does not),
 * `--out` writes it there instead.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { encodeNpz, type Tensor } from '@qdm/shared';
import {
  AUTO_ORDER,
  buildArtifact,
  type Device,
  deviceProblem,
  importCheckpoint,
  openVariant,
  placementSummary,
  readArtifactManifest,
  readVariant,
  sampleWith,
} from '@qdm/toolchain';
import { parseFlags, unetLayout, unetWeightShapes } from '@qdm/toolchain/models';
import { TINY_FLAGS } from '@qdm/toolchain/testing';
import { median, provenance, randomWeights, writeResult } from './lib.ts';
import { machineInfo } from './machine.ts';

const DEFAULTS = {
  batches: '64,256',
  steps: 'ddim50',
  'timed-steps': '5',
  'build-trajectories': '16',
  'build-samples': '64',
};
const TINY_DEFAULTS: typeof DEFAULTS = {
  batches: '2',
  steps: 'ddim10',
  'timed-steps': '2',
  'build-trajectories': '2',
  'build-samples': '4',
};
const { values: given } = parseArgs({
  options: {
    devices: { type: 'string' },
    batches: { type: 'string' },
    steps: { type: 'string' },
    'timed-steps': { type: 'string' },
    'build-trajectories': { type: 'string' },
    'build-samples': { type: 'string' },
    'no-build': { type: 'boolean', default: false },
    model: { type: 'string', default: 'cifar10' },
    out: { type: 'string' },
  },
});
if (given.model !== 'cifar10' && given.model !== 'tiny') {
  process.stderr.write(`bench gpu: --model is cifar10 or tiny, not ${given.model}\n`);
  process.exit(2);
}
const tiny = given.model === 'tiny';
const args = {
  ...given,
  ...(Object.fromEntries(
    Object.entries(tiny ? TINY_DEFAULTS : DEFAULTS).map(([k, v]) => [k, given[k as keyof typeof DEFAULTS] ?? v]),
  ) as typeof DEFAULTS),
};
const isDefaultRun =
  !tiny &&
  args.devices === undefined &&
  !args['no-build'] &&
  Object.entries(DEFAULTS).every(([k, v]) => args[k as keyof typeof DEFAULTS] === v);
/** The build's calibration and report loop: the CIFAR-10 recipe's ddim50, the tiny check's own steps. */
const buildSteps = tiny ? args.steps : 'ddim50';

const log = (message: string) => process.stderr.write(`${message}\n`);
const flagsText = tiny
  ? TINY_FLAGS
  : '--image_size 32 --num_channels 128 --num_res_blocks 3 --learn_sigma True --dropout 0.3 ' +
    '--diffusion_steps 4000 --noise_schedule cosine';
const flags = parseFlags(flagsText);
const batches = args.batches.split(',').map(Number);
const timedSteps = Number(args['timed-steps']);

/** Stops the DDIM loop once the timed steps are in (the loop's later steps cost the same). */
class Enough extends Error {}

async function throughput(bytes: Uint8Array, dir: string, device: Device, batch: number) {
  const manifest = await readArtifactManifest(dir);
  const variant = await openVariant(bytes, manifest, undefined, device, `throughput b${batch}`);
  const stepSeconds: number[] = [];
  let loopSteps = 0;
  try {
    const timed = async (x: Float32Array, t: Float32Array, n: number) => {
      const started = performance.now();
      const out = await variant.denoiser(x, t, n);
      stepSeconds.push((performance.now() - started) / 1000);
      if (stepSeconds.length > timedSteps) throw new Enough();
      return out;
    };
    await sampleWith(timed, manifest, {
      firstSample: 0,
      count: batch,
      seed: 0,
      steps: args.steps,
      eta: 0,
      batch,
      sampler: 'ddim',
      onProgress: (_, total) => {
        loopSteps = total;
      },
    }).catch((error) => {
      if (!(error instanceof Enough)) throw error;
    });
  } finally {
    await variant.release();
  }
  const step = median(stepSeconds.slice(1)); // the first step warms up (and compiles shaders on WebGPU)
  return {
    batch,
    loopSteps,
    timedSteps: stepSeconds.length - 1,
    warmupStepSeconds: stepSeconds[0],
    medianStepSeconds: step,
    imagesPerSecond: batch / (step * loopSteps),
  };
}

async function buildPhases(dir: string, device: Device) {
  const result = await buildArtifact({
    artifact: dir,
    out: mkdtempSync(join(tmpdir(), `qdm-bench-gpu-build-${device}-`)),
    variants: [{ name: 'int8', weightBits: 8, activationBits: 8 }], // the recipe the CLI ships for W8A8
    scheme: 'full',
    keepFloat: [],
    calibration: {
      policy: { kind: 'uniform' },
      samples: Number(args['build-samples']),
      trajectories: Number(args['build-trajectories']),
      steps: buildSteps,
      noise: 'gaussian',
      batch: 16,
      seed: 1,
    },
    reportSamples: 0,
    reportSteps: buildSteps,
    device,
    log,
    progress: () => () => {},
  });
  rmSync(result.location, { recursive: true, force: true });
  return {
    phases: result.phases.map((p) => ({ name: p.name, device: p.device, seconds: Number(p.seconds.toFixed(2)) })),
    stageSeconds: result.variants[0]?.stageSeconds,
    recipe: result.variants[0]?.recipe,
    cpuOnly: result.cpuOnly,
  };
}

const requested = (args.devices?.split(',') ?? ['cpu', ...AUTO_ORDER]) as Device[];
const unavailable: Record<string, string> = {};
const devices: Device[] = [];
for (const d of requested) {
  const why = await deviceProblem(d);
  if (why) unavailable[d] = why;
  else devices.push(d);
}
log(
  `bench gpu: devices ${devices.join(', ')}${Object.keys(unavailable).length ? ` (not here: ${Object.keys(unavailable).join(', ')})` : ''}`,
);

const work = mkdtempSync(join(tmpdir(), 'qdm-bench-gpu-'));
try {
  const weights: Record<string, Tensor> = {};
  for (const [name, shape] of unetWeightShapes(unetLayout(flags.unet))) weights[name] = randomWeights(name, shape);
  const checkpoint = join(work, `${given.model}-random.npz`);
  writeFileSync(checkpoint, encodeNpz(weights));
  const dir = join(work, `${given.model}-random`);
  await importCheckpoint({ checkpoint, flags, outDir: dir, name: `${given.model}-random` });
  rmSync(checkpoint);
  const manifest = await readArtifactManifest(dir);
  const bytes = await readVariant(dir, manifest, 'fp32');

  const results: Record<string, unknown> = {};
  for (const device of devices) {
    const sampling = [];
    for (const batch of batches) {
      log(`  ${device}: sampling batch ${batch}`);
      sampling.push(await throughput(bytes, dir, device, batch));
    }
    if (!args['no-build']) log(`  ${device}: build-artifact`);
    const build = args['no-build'] ? null : await buildPhases(dir, device);
    results[device] = { sampling, build, placement: placementSummary(device) };
  }
  const cpu = results.cpu as { sampling: { batch: number; imagesPerSecond: number }[] } | undefined;
  const speedups = Object.fromEntries(
    devices
      .filter((d) => d !== 'cpu' && cpu)
      .map((d) => [
        d,
        (results[d] as typeof cpu)!.sampling.map((s, i) => ({
          batch: s.batch,
          vsCpu: s.imagesPerSecond / cpu!.sampling[i].imagesPerSecond,
        })),
      ]),
  );
  const gpus = devices.filter((d) => d !== 'cpu');
  const out = {
    ...provenance('gpu', machineInfo(gpus[0] ?? 'cpu')),
    model: tiny ? 'the test U-Net (TINY_FLAGS, random weights)' : 'improved-diffusion CIFAR-10 U-Net (random weights)',
    flags: flagsText,
    steps: args.steps,
    timedSteps,
    devices,
    /** Which Vulkan driver WebGPU's Dawn was pointed at (the device pack's run.sh sets it): SwiftShader is a CPU. */
    vulkanIcd: devices.includes('webgpu') ? (process.env.VK_ICD_FILENAMES ?? 'the Vulkan loader default') : null,
    unavailable,
    results,
    speedups,
    target: tiny ? null : 'a GPU device >= 50x the images/s of this 2-core CPU (ddim50, batch 64 and 256)',
    note: gpus.length
      ? null
      : 'no GPU device was available on this machine: CPU numbers only; GPU throughput not measured (not estimated)',
  };
  const json = JSON.stringify(out, null, 2);
  console.log(json);
  writeResult('gpu', out, { defaultRun: isDefaultRun, out: args.out, indent: 2 });
} finally {
  rmSync(work, { recursive: true, force: true });
}
