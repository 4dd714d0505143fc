import { defineCommand } from 'citty';
import { loadFlags } from '../artifact/import.ts';
import { type BuildOptions, buildArtifact, type VariantSpec, variantName } from '../build-artifact/build.ts';
import type { TimestepPolicy } from '../calibrate/timesteps.ts';
import type { CalibrationNoise } from '../calibrate/trajectory.ts';
import { enumArg, floatArg, intArg, listArg, stepsArg } from '../cli/args.ts';
import { deviceArg, deviceArgs } from '../cli/device.ts';
import { commonArgs, emit } from '../cli/output.ts';
import { logger, progressBars } from '../cli/progress.ts';
import { calibSamplerArg } from '../cli/sampler-arg.ts';
import { UsageError } from '../errors.ts';
import type { ObserverSpec } from '../quantize/observe/observers.ts';
import { SCHEMES, type Scheme } from '../quantize/plan/plan.ts';
import { RECON_METHODS, type ReconMethod } from '../quantize/reconstruct/reconstruct.ts';
import { parseWideSteps } from '../quantize/steps/wide-steps.ts';
import { type RecipeOverrides, resolveRecipes } from '../recipe.ts';
import { parseLocation } from '../store/location.ts';

const IMAGE_ENDS = ['float', 'quantized'] as const;

export default defineCommand({
  meta: {
    name: 'build-artifact',
    description:
      'Calibrate on the fp32 model’s own DDIM trajectory, quantize the whole U-Net, reconstruct weight rounding, ' +
      'and write int8 QDQ ONNX + its report + manifest (last) to a folder or s3://bucket/prefix',
  },
  args: {
    artifact: { type: 'string', description: 'fp32 artifact folder from `toolchain import`', valueHint: 'DIR' },
    checkpoint: { type: 'string', description: 'or: a checkpoint to import first (with --flags)', valueHint: 'FILE' },
    flags: { type: 'string', description: 'improved-diffusion flags for --checkpoint (JSON file or flags string)' },
    name: { type: 'string', description: 'artifact name (default: the manifest name, or the folder name)' },
    out: {
      type: 'string',
      description: 'folder, or s3://bucket/prefix (published as <prefix>/<name>/, atomically); default: --artifact',
      valueHint: 'DIR|S3',
    },
    scheme: {
      type: 'string',
      description: 'what is quantized: ptq4dm, qdiff or full (the whole U-Net)',
      default: 'full',
    },
    wbits: {
      type: 'string',
      description: 'weight bits, 8 or 4; "8,4" builds both variants from one calibration',
      default: '8',
    },
    abits: { type: 'string', description: 'activation bits, 8 or 16', default: '8' },
    'softmax-bits': {
      type: 'string',
      description: 'bits of the attention softmax output quantizer (default: --abits)',
    },
    'variant-name': { type: 'string', description: 'variant name (default: int8 for W8A8, else w<W>a<A>)' },
    'keep-float': { type: 'string', description: 'comma-separated node names (module paths) to leave float' },
    'image-ends': {
      type: 'string',
      description: 'the convs reading x_t and writing the output: float or quantized (default: float for full)',
    },
    observer: {
      type: 'string',
      description: 'activation ranges: lp (p=2.4 search, the default), percentile, minmax, ema',
    },
    percentile: { type: 'string', description: 'for --observer percentile', default: '99.99' },
    recon: {
      type: 'string',
      description:
        'weight rounding: none (nearest), gptq, adaround (layer-wise, sequential), or auto: what measured best on ' +
        'mnist32 per width, gptq for 4-bit weights, none for 8-bit (docs/results.md#recon-mnist32)',
      default: 'auto',
    },
    'w8-budget': {
      type: 'string',
      description:
        'mixed-precision W4A8: share of the weights (0..1) kept at 8 bits in 4-bit variants, the layers with the ' +
        'most epsilon error per parameter when alone at 4 bits (listed in the manifest with the reason); 0 = off. ' +
        'Default 0.15: measured best on mnist32 within the W4A8 size target (docs/results.md#fidelity-mnist32)',
    },
    'noise-correction': {
      type: 'string',
      description:
        'ptqd: fit eps_q = (1 + k_t) eps + r per calibration step and store it, so every sampler corrects epsilon ' +
        '(and, with eta > 0, adds less noise by the residual variance); none: off, the default, because on mnist32 ' +
        'it measured no gain (docs/results.md#fidelity-mnist32)',
    },
    'wide-steps': {
      type: 'string',
      description:
        'FIRST,LAST: the noisiest FIRST and the LAST steps of --calib-steps run the same integer weights with float ' +
        'activations, picked inside the one graph by t (other respacings: the steps at the same noise levels); off ' +
        '= every step at 8 bits. Default 1,4 for W8A8: measured best on mnist32 for a small step-time and size cost ' +
        '(docs/results.md#fidelity-mnist32-shipped); off for W4A8, where the extra nodes pass its size target ' +
        '(docs/results.md#fidelity-mnist32-w4-wide), and for W8A16',
    },
    'calib-timesteps': {
      type: 'string',
      description: 'uniform (DI2N), normal (PTQ4DM) or every-k (Q-Diffusion)',
      default: 'uniform',
    },
    'normal-mean': {
      type: 'string',
      description: 'mean of the normal time-step sampler, as a fraction of the steps',
      default: '0.4',
    },
    'normal-std': { type: 'string', description: 'std of the normal time-step sampler', default: '0.4' },
    every: { type: 'string', description: 'K for --calib-timesteps every-k', default: '5' },
    'calib-samples': { type: 'string', description: 'number of (x_t, t) calibration pairs', default: '256' },
    'calib-trajectories': { type: 'string', description: 'fp32 sampler runs the pairs are drawn from', default: '32' },
    'calib-steps': {
      type: 'string',
      description: 'respacing of the calibration trajectories ("ddim50", "250", ...)',
      default: 'ddim50',
    },
    'calib-sampler': {
      type: 'string',
      valueHint: 'ddim|dpm++2m',
      description:
        "draw the pairs from this sampler's own fp32 trajectory over --calib-steps, and record that (sampler, steps) " +
        'in the manifest as the schedule the variant serves by default (default: ddim, nothing recorded)',
    },
    'calib-noise': {
      type: 'string',
      description: 'gaussian, di2n (2 fp32 steps, re-noised) or data (forward-noised images)',
      default: 'gaussian',
    },
    'calib-data': { type: 'string', description: 'images for --calib-noise data: evaluator .npz or a folder of PNGs' },
    'calib-batch': { type: 'string', description: 'trajectories per model call', default: '16' },
    'calib-seed': { type: 'string', description: 'seed of the calibration noise and step choice', default: '1' },
    'report-samples': {
      type: 'string',
      description: 'same-seed samples per variant for report.html and the PSNR (0: none)',
      default: '16',
    },
    'report-steps': { type: 'string', description: 'respacing of the report samples', default: 'ddim50' },
    threads: { type: 'string', description: 'onnxruntime intra-op threads (default: all cores)' },
    ...deviceArgs,
    ...commonArgs,
  },
  async run({ args }) {
    if (!args.artifact && !args.checkpoint)
      throw new UsageError('give --artifact DIR (an fp32 artifact) or --checkpoint FILE --flags FLAGS');
    if (args.artifact && args.checkpoint) throw new UsageError('give either --artifact or --checkpoint, not both');
    if (args.checkpoint && !args.flags) throw new UsageError('--checkpoint needs --flags');
    const out = args.out ?? args.artifact;
    if (!out) throw new UsageError('--out is required with --checkpoint');
    parseLocation(out); // a malformed s3:// URI fails now, not after calibration
    const calibNoise = enumArg<CalibrationNoise>('calib-noise', args['calib-noise'], ['gaussian', 'di2n', 'data']);
    if (calibNoise === 'data' && !args['calib-data']) {
      throw new UsageError('--calib-noise data needs --calib-data (an .npz of images or a folder of PNGs)');
    }
    const weightBits = listArg(args.wbits).map((b) => Number(enumArg('wbits', b, ['8', '4'])) as 4 | 8);
    const activationBits = Number(enumArg('abits', args.abits, ['8', '16'])) as 8 | 16;
    if (weightBits.length === 0) throw new UsageError('--wbits must name at least one width');
    if (args['variant-name'] && weightBits.length > 1) throw new UsageError('--variant-name needs a single --wbits');
    const reconArg = enumArg<ReconMethod | 'auto'>('recon', args.recon, [...RECON_METHODS, 'auto']);
    // Only what the user gave: buildArtifact resolves the rest with the recipe's defaults (recipe.ts).
    const wideSteps = args['wide-steps'] !== undefined ? parseWideSteps(args['wide-steps']) : undefined;
    const variants: VariantSpec[] = weightBits.map((w) => ({
      name: args['variant-name'] ?? variantName(w, activationBits),
      weightBits: w,
      activationBits,
      ...(wideSteps ? { wideSteps } : {}),
    }));
    const policyKind = enumArg('calib-timesteps', args['calib-timesteps'], ['uniform', 'normal', 'every-k']);
    const policy: TimestepPolicy =
      policyKind === 'normal'
        ? {
            kind: 'normal',
            mean: floatArg('normal-mean', args['normal-mean'], { min: -1, max: 2 }),
            std: floatArg('normal-std', args['normal-std'], { min: 1e-3, max: 10 }),
          }
        : policyKind === 'every-k'
          ? { kind: 'every-k', every: intArg('every', args.every, { min: 1 }) }
          : { kind: 'uniform' };
    const observerKind =
      args.observer === undefined
        ? undefined
        : enumArg('observer', args.observer, ['lp', 'percentile', 'minmax', 'ema']);
    const observer: ObserverSpec | undefined =
      observerKind === 'percentile'
        ? { kind: 'percentile', percentile: floatArg('percentile', args.percentile, { min: 50, max: 100 }) }
        : observerKind && { kind: observerKind };
    const scheme = enumArg<Scheme>('scheme', args.scheme, SCHEMES);
    const overrides: RecipeOverrides = {
      recon: reconArg === 'auto' ? undefined : reconArg,
      w8Budget:
        args['w8-budget'] === undefined ? undefined : floatArg('w8-budget', args['w8-budget'], { min: 0, max: 1 }),
      noiseCorrection:
        args['noise-correction'] === undefined
          ? undefined
          : enumArg('noise-correction', args['noise-correction'], ['ptqd', 'none'] as const),
      imageEnds: args['image-ends'] ? enumArg('image-ends', args['image-ends'], IMAGE_ENDS) : undefined,
      softmaxBits: args['softmax-bits']
        ? (Number(enumArg('softmax-bits', args['softmax-bits'], ['8', '16'])) as 8 | 16)
        : undefined,
      observer,
    };
    // Combinations that cannot be built fail here (RecipeError: exit 2), before any work.
    resolveRecipes(variants, { scheme, ...overrides });
    const quiet = args.quiet || args.json;
    const device = await deviceArg(args.device);
    const options: BuildOptions = {
      artifact: args.artifact,
      checkpoint: args.checkpoint,
      flags: args.flags ? await loadFlags(args.flags) : undefined,
      name: args.name,
      out,
      variants,
      scheme,
      keepFloat: listArg(args['keep-float']),
      ...overrides,
      recon: overrides.recon as ReconMethod | undefined,
      calibration: {
        policy,
        samples: intArg('calib-samples', args['calib-samples'], { min: 1, max: 1_000_000 }),
        trajectories: intArg('calib-trajectories', args['calib-trajectories'], { min: 1, max: 100_000 }),
        steps: stepsArg('calib-steps', args['calib-steps']),
        ...calibSamplerArg(args['calib-sampler']),
        noise: calibNoise,
        data: args['calib-data'],
        batch: intArg('calib-batch', args['calib-batch'], { min: 1, max: 4096 }),
        seed: intArg('calib-seed', args['calib-seed'], { min: 0, max: 2 ** 32 - 1 }),
      },
      reportSamples: intArg('report-samples', args['report-samples'], { min: 0, max: 1024 }),
      reportSteps: stepsArg('report-steps', args['report-steps']),
      threads: args.threads === undefined ? undefined : intArg('threads', args.threads, { min: 1, max: 256 }),
      device,
      log: logger(!quiet),
      progress: progressBars(!quiet),
    };
    const result = await buildArtifact(options);
    emit(
      args.json,
      {
        location: result.location,
        variants: result.variants,
        phases: result.phases,
        device: result.device,
        placement: result.placement,
        cpuOnly: result.cpuOnly,
        manifest: result.manifest,
      },
      () =>
        [
          `built ${result.manifest.name} -> ${result.location}`,
          ...result.variants.map(
            (v) =>
              `  ${v.name}: ${v.file} ${(v.bytes / 1e6).toFixed(2)} MB (${(v.ratio * 100).toFixed(0)}% of fp32), ` +
              `${Object.values(v.integerNodes).reduce((a, b) => a + b, 0)} integer kernels` +
              (v.psnrDb !== null ? `, same-seed PSNR vs fp32 ${v.psnrDb.toFixed(2)} dB` : ''),
          ),
          `  phases: ${result.phases.map((p) => `${p.name} ${p.seconds.toFixed(1)}s`).join(', ')}`,
          ...(result.device === 'cpu'
            ? []
            : [
                `  device ${result.device}: ${result.placement.nodesNotOnDevice} of ${result.placement.nodes} nodes ` +
                  `left to the CPU provider; on the CPU by design: ${result.cpuOnly.map((w) => w.split(' (')[0]).join('; ')}`,
              ]),
        ].join('\n'),
    );
  },
});
