import { resolve } from 'node:path';
import { DEFAULT_SCHEDULE } from '@qdm/shared';
import { defineCommand } from 'citty';
import { readArtifactManifest, readVariant } from '../artifact/folder.ts';
import { floatArg, intArg, outputFileArg, requireArg, shardArg, stepsArg } from '../cli/args.ts';
import { deviceArg, deviceArgs } from '../cli/device.ts';
import { commonArgs, emit } from '../cli/output.ts';
import { Progress } from '../cli/progress.ts';
import { checkEtaFor, SAMPLER_HINT, samplerArg, servingSchedule } from '../cli/sampler-arg.ts';
import type { Device } from '../runtime/devices.ts';
import { deviceRecord, placementSummary } from '../runtime/placement.ts';
import { readInitNoise, type SampleSet, writeGrid, writeSamples } from '../sampling/files.ts';
import { openVariant, sampleWith, shardRange } from '../sampling/run.ts';
import { isS3Uri, localArtifactDir, objectLocation } from '../store/objects.ts';

export default defineCommand({
  meta: {
    name: 'sample',
    description: 'Sample images from an artifact variant with onnxruntime-node (DDIM, DDPM or DPM-Solver++(2M))',
  },
  args: {
    artifact: {
      type: 'string',
      description: 'artifact folder, or s3://bucket/prefix/name (pulled and verified first)',
      valueHint: 'DIR',
    },
    variant: {
      type: 'string',
      valueHint: 'NAME',
      description: 'variant in the manifest: fp32, int8, w4a8, ...',
      default: 'fp32',
    },
    n: { type: 'string', valueHint: 'N', description: 'number of samples', default: '16' },
    seed: {
      type: 'string',
      valueHint: 'S',
      description: 'noise seed: sample k of seed s is the same in any batch or shard',
      default: '0',
    },
    steps: {
      type: 'string',
      valueHint: 'SPEC',
      description:
        'respacing: "ddim20", "250", "10,20,30" or a count (default: the schedule the variant was calibrated for, ' +
        `else ${DEFAULT_SCHEDULE.steps}: the fewest calls within 2% of DDIM-25's class-FID on mnist32)`,
    },
    eta: { type: 'string', valueHint: 'E', description: 'DDIM eta (0 = deterministic)', default: '0' },
    sampler: {
      type: 'string',
      valueHint: SAMPLER_HINT,
      description:
        'ddim, ddpm (ancestral, learned variance) or dpm++2m (DPM-Solver++(2M), also spelled dpmpp2m: one model ' +
        'call per step of --steps, at the times DDIM uses). Default: the sampler the variant was calibrated for ' +
        '(build-artifact --calib-sampler), else ddim',
    },
    batch: { type: 'string', valueHint: 'B', description: 'samples per model call', default: '16' },
    threads: {
      type: 'string',
      valueHint: 'T',
      description:
        'onnxruntime intra-op threads (default: one per GMAC of work per model call, from the model and --batch, ' +
        'up to all cores: mnist32 at batch 1 runs faster on one thread)',
    },
    shard: {
      type: 'string',
      valueHint: 'i/n',
      description: 'i/n: make only shard i of n (sample index ranges); merge with `toolchain merge`',
    },
    out: {
      type: 'string',
      description: '.npz to write (path or s3://bucket/key): arr_0 uint8 NHWC, raw float32 NCHW, sample_index',
      valueHint: 'FILE',
    },
    grid: { type: 'string', description: 'also write a PNG grid of the samples', valueHint: 'FILE' },
    'init-noise': { type: 'string', description: '.npy float32 [n,C,H,W] replacing the seeded x_T', valueHint: 'FILE' },
    ...deviceArgs,
    ...commonArgs,
  },
  async run({ args }) {
    const artifact = requireArg('artifact', args.artifact);
    const out = outputFileArg('out', args.out, '.npz');
    const grid = args.grid === undefined ? undefined : outputFileArg('grid', args.grid, '.png');
    // A bad s3:// output must fail now, not after the sampling it would have stored.
    for (const target of [out, grid]) if (target && isS3Uri(target)) objectLocation(target);
    if (args.steps !== undefined) stepsArg('steps', args.steps);
    const total = intArg('n', args.n, { min: 1, max: 1_000_000 });
    const seed = intArg('seed', args.seed, { min: 0, max: 2 ** 32 - 1 });
    const eta = floatArg('eta', args.eta, { min: 0, max: 1 });
    const batch = intArg('batch', args.batch, { min: 1, max: 1024 });
    const threads = args.threads === undefined ? undefined : intArg('threads', args.threads, { min: 1, max: 256 });
    if (args.sampler !== undefined) checkEtaFor(samplerArg('sampler', args.sampler), eta);
    const range = args.shard
      ? shardRange(shardArg('shard', args.shard), total)
      : { first: 0, count: total, index: 0, of: 1 };
    const device = await deviceArg(args.device);

    const dir = await localArtifactDir(artifact);
    const manifest = await readArtifactManifest(dir);
    const bytes = await readVariant(dir, manifest, args.variant);
    const { sampler, steps, from } = servingSchedule(args, manifest.variants[args.variant].schedule, eta);
    stepsArg('steps', steps, manifest.diffusion.diffusionSteps);
    const shape: [number, number, number] = [
      manifest.model.inChannels,
      manifest.model.imageSize,
      manifest.model.imageSize,
    ];
    const initNoise = args['init-noise'] ? await readInitNoise(args['init-noise'], range.count, shape) : undefined;
    const variant = await openVariant(bytes, manifest, threads, device, `sample ${args.variant}`, batch);
    const started = performance.now();
    let result: Awaited<ReturnType<typeof sampleWith>>;
    try {
      let bar: Progress | undefined;
      result = await sampleWith(variant.denoiser, manifest, {
        firstSample: range.first,
        count: range.count,
        seed,
        steps,
        eta,
        batch,
        sampler,
        initNoise,
        correction: manifest.variants[args.variant].noiseCorrection,
        onProgress: (done, all) => {
          bar ??= new Progress(`sample ${args.variant}`, all, { enabled: !args.quiet && !args.json, unit: ' steps' });
          bar.update(done);
        },
      });
    } finally {
      await variant.release();
    }
    const seconds = (performance.now() - started) / 1000;
    const sampleIndex = BigInt64Array.from({ length: range.count }, (_, k) => BigInt(range.first + k));
    const set: SampleSet = {
      images: result.images,
      raw: result.raw,
      sampleIndex,
      n: range.count,
      h: shape[1],
      w: shape[2],
      c: shape[0],
    };
    await writeSamples(out, set);
    if (grid) await writeGrid(grid, set);
    emit(
      args.json,
      {
        out: isS3Uri(out) ? out : resolve(out),
        grid: grid && !isS3Uri(grid) ? resolve(grid) : grid,
        artifact: manifest.name,
        variant: args.variant,
        sha256: manifest.variants[args.variant].sha256,
        seed,
        firstSample: range.first,
        n: range.count,
        steps: result.diffusion.numSteps,
        respacing: steps,
        schedule: from,
        eta,
        sampler,
        seconds,
        ...deviceRecord(device),
      },
      () =>
        `${range.count} samples (${args.variant}, ${sampler === 'ddim' && from !== 'variant' ? '' : `${sampler} `}${steps}${from === 'variant' ? ' (calibrated for)' : ''}, seed ${seed}${args.shard ? `, shard ${args.shard}` : ''}) ` +
        `in ${seconds.toFixed(1)}s on ${device}${deviceNote(device)} -> ${out}${grid ? `, ${grid}` : ''}`,
    );
  },
});

/** " (3 nodes on the CPU provider)" when the device's EP left some nodes to the CPU. */
function deviceNote(device: Device): string {
  const { nodesNotOnDevice } = placementSummary(device);
  return nodesNotOnDevice > 0 ? ` (${nodesNotOnDevice} nodes on the CPU provider)` : '';
}
