/**
 * `build-artifact` end to end on the improved-diffusion CIFAR-10 configuration (52.5M parameters, random weights
 * written as an .npz checkpoint): import, real calibration trajectories from the fp32 model (64 x ddim50 by
 * default), then the quantized variant (statistics, plan, reconstruction, export, as one phase of the build), the
 * edge graph and the manifest. Records every phase's wall time and peak RSS from the build itself, and checks that
 * the trajectories ran at onnxruntime's fp32 speed: their time against the same number of batched forwards timed
 * alone with the same session settings.
 * Target: the work after the trajectories <= 5 minutes on this 2-core machine.
 * The variant is built with the recipe `toolchain build-artifact` ships for its widths (`resolveRecipe` of @qdm/toolchain:
 * for W4A8 gptq and the default --w8-budget, so a sensitivity phase); --recon, --w8-budget and --wide-steps
 * override it as the CLI's flags do (`--w8-budget 0` is the build without mixed precision). The JSON records the
 * resolved recipe.
 *
 *   node bench/build-artifact-cifar10.ts [--trajectories 64] [--calib-steps ddim50] [--calib-samples 256]
 *     [--wbits 4] [--recon auto] [--w8-budget B] [--wide-steps F,L|off] [--report-samples 0] [--keep DIR]
 *
 * Prints one JSON object; also writes bench/results/build-artifact-cifar10.json.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { encodeNpz, spaceTimesteps, type Tensor } from '@qdm/shared';
import { buildArtifact, createSession, float32Tensor } from '@qdm/toolchain';
import { parseFlags, unetLayout, unetWeightShapes } from '@qdm/toolchain/models';
import { parseWideSteps, type ReconMethod } from '@qdm/toolchain/quantize';
import { median, provenance, randomWeights, writeResult } from './lib.ts';
import { machineInfo } from './machine.ts';

// Recorded when the bench starts (the load average beside the run).
const machine = machineInfo();

const { values: args } = parseArgs({
  options: {
    trajectories: { type: 'string', default: '64' },
    'calib-steps': { type: 'string', default: 'ddim50' },
    'calib-samples': { type: 'string', default: '256' },
    'calib-batch': { type: 'string', default: '16' },
    wbits: { type: 'string', default: '4' },
    recon: { type: 'string', default: 'auto' },
    'w8-budget': { type: 'string' },
    'wide-steps': { type: 'string' },
    'report-samples': { type: 'string', default: '0' },
    keep: { type: 'string' },
  },
});

const log = (message: string) => process.stderr.write(`${message}\n`);
const flagsText =
  '--image_size 32 --num_channels 128 --num_res_blocks 3 --learn_sigma True --dropout 0.3 ' +
  '--diffusion_steps 4000 --noise_schedule cosine';
const flags = parseFlags(flagsText);
const work = args.keep ? resolve(args.keep) : mkdtempSync(join(tmpdir(), 'qdm-bench-cifar-'));
mkdirSync(work, { recursive: true });

try {
  const weights: Record<string, Tensor> = {};
  for (const [name, shape] of unetWeightShapes(unetLayout(flags.unet))) weights[name] = randomWeights(name, shape);
  const checkpoint = join(work, 'cifar10-random.npz');
  writeFileSync(checkpoint, encodeNpz(weights));
  log(`bench: random CIFAR-10 checkpoint at ${checkpoint}`);

  const trajectories = Number(args.trajectories);
  const batch = Number(args['calib-batch']);
  const weightBits = Number(args.wbits) as 4 | 8;
  const started = performance.now();
  const result = await buildArtifact({
    checkpoint,
    flags,
    name: 'cifar10-random',
    out: join(work, 'cifar10-random'),
    variants: [
      {
        name: `w${weightBits}a8`,
        weightBits,
        activationBits: 8,
        ...(args['wide-steps'] ? { wideSteps: parseWideSteps(args['wide-steps']) } : {}),
      },
    ],
    scheme: 'full',
    keepFloat: [],
    // Unset settings take the recipe's defaults for the widths, as on the command line.
    recon: args.recon === 'auto' ? undefined : (args.recon as ReconMethod),
    w8Budget: args['w8-budget'] === undefined ? undefined : Number(args['w8-budget']),
    calibration: {
      policy: { kind: 'uniform' },
      samples: Number(args['calib-samples']),
      trajectories,
      steps: args['calib-steps'],
      noise: 'gaussian',
      batch,
      seed: 1,
    },
    reportSamples: Number(args['report-samples']),
    reportSteps: 'ddim50',
    log,
    progress: (label) => {
      let last = 0;
      return (done, total) => {
        const now = performance.now();
        if (now - last < 15_000 && done < total) return;
        log(`  ${label}: ${done}/${total}`);
        last = now;
      };
    },
  });
  const wallSeconds = (performance.now() - started) / 1000;
  const phase = (name: string) => result.phases.find((p) => p.name === name);
  const quantize = result.phases.filter((p) => p.name.startsWith('quantize '));
  const trajectoryPhase = phase('trajectories');

  // The same batched forwards the trajectories made, timed alone with the build's session settings.
  const fp32 = readFileSync(join(work, 'cifar10-random', 'model.fp32.onnx'));
  const session = await createSession(fp32, { optimization: 'all' });
  const steps = spaceTimesteps(flags.diffusion.diffusionSteps, args['calib-steps']).length;
  const calls = Math.ceil(trajectories / batch) * steps;
  const x = float32Tensor(
    new Float32Array(batch * 3 * 32 * 32).map(() => Math.random() * 2 - 1),
    [batch, 3, 32, 32],
  );
  const t = float32Tensor(new Float32Array(batch).fill(500), [batch]);
  await session.run({ x, t });
  const forwardMs: number[] = [];
  for (let i = 0; i < 5; i++) {
    const a = performance.now();
    await session.run({ x, t });
    forwardMs.push(performance.now() - a);
  }
  await session.release();
  const expectedTrajectorySeconds = (calls * median(forwardMs)) / 1000;

  const afterTrajectories = quantize.reduce((s, p) => s + p.seconds, 0);
  const out = {
    ...provenance('build-artifact-cifar10', machine),
    model: 'improved-diffusion CIFAR-10 U-Net (random weights), through buildArtifact (the CLI command)',
    flags: flagsText,
    cores: cpus().length,
    trajectories,
    calibSteps: args['calib-steps'],
    calibSamples: Number(args['calib-samples']),
    calibBatch: batch,
    variant: result.variants[0],
    recipe: result.variants[0].recipe,
    phases: result.phases.map((p) => ({ ...p, seconds: Number(p.seconds.toFixed(2)) })),
    trajectorySpeed: {
      seconds: trajectoryPhase?.seconds,
      batchedForwards: calls,
      forwardMsAlone: median(forwardMs),
      expectedSeconds: expectedTrajectorySeconds,
      ratio: trajectoryPhase ? trajectoryPhase.seconds / expectedTrajectorySeconds : null,
    },
    afterTrajectoriesSeconds: afterTrajectories,
    wallSeconds,
    loadAverageAtEnd: loadavg()[0],
    target: 'quantize phase (statistics + plan + reconstruction + export) <= 300 s',
    met: afterTrajectories <= 300,
  };
  const json = JSON.stringify(out, null, 2);
  console.log(json);
  // Only the run with every default writes bench/results/ (see writeResult).
  writeResult('build-artifact-cifar10', out, { defaultRun: process.argv.length === 2, indent: 2 });
} finally {
  if (!args.keep) rmSync(work, { recursive: true, force: true });
}
