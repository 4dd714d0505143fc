import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Manifest, SamplerName } from '@qdm/shared';
import { defineCommand } from 'citty';
import { readArtifactManifest, readVariant } from '../artifact/folder.ts';
import { floatArg, intArg, listArg, requireArg, stepsArg } from '../cli/args.ts';
import { deviceArg } from '../cli/device.ts';
import { commonArgs, emit } from '../cli/output.ts';
import { Progress } from '../cli/progress.ts';
import { checkEtaFor, SAMPLER_HINT, samplerArg } from '../cli/sampler-arg.ts';
import { UsageError } from '../errors.ts';
import { EvaluationError } from '../eval/errors.ts';
import type { FeatureNetwork } from '../eval/feature-network.ts';
import { pixelDiff } from '../eval/pixel-metrics.ts';
import { scoreAgainst } from '../eval/quality.ts';
import { checkSameSize } from '../eval/reference.ts';
import { featuresOf, type ImageSet } from '../eval/set-features.ts';
import { ssimPerImage } from '../eval/ssim.ts';
import {
  calibrationLabel,
  markdownTable,
  markdownText,
  methodLabel,
  rowJson,
  type SameSeedAgreement,
  type TableRow,
  tableNotes,
  tableVariants,
} from '../eval/table.ts';
import { tableHtml } from '../eval/table-html.ts';
import type { Device } from '../runtime/devices.ts';
import { deviceRecord } from '../runtime/placement.ts';
import { writeSamples } from '../sampling/files.ts';
import { openVariant, sampleWith } from '../sampling/run.ts';
import { localArtifactDir } from '../store/objects.ts';
import {
  featureArgs,
  featureProgress,
  openNetworkFromArgs,
  type PreparedReference,
  prepareReference,
  referenceArgs,
} from './eval-options.ts';

export default defineCommand({
  meta: {
    name: 'table',
    description:
      'Sample fp32 and every other variant of an artifact with the same seeds, evaluate each against the ' +
      'reference and write the table (Markdown, JSON, HTML with sample grids side by side): method and ' +
      "calibration from the manifest's quantization settings, IS, FID, sFID, precision, recall, and PSNR/SSIM " +
      'against the fp32 images of the same seeds (uint8)',
  },
  args: {
    artifact: { type: 'string', description: 'artifact folder, or s3://bucket/prefix/name', valueHint: 'DIR' },
    variants: {
      type: 'string',
      valueHint: 'A,B,...',
      description: 'comma-separated variants (default: every variant, fp32 first)',
    },
    n: { type: 'string', valueHint: 'N', description: 'samples per variant', default: '64' },
    seed: { type: 'string', valueHint: 'S', description: 'noise seed (the same for every variant)', default: '0' },
    steps: {
      type: 'string',
      valueHint: 'SPEC',
      description: 'respacing: "ddim50", "250", "10,20,30" or a count',
      default: 'ddim50',
    },
    eta: { type: 'string', valueHint: 'E', description: 'DDIM eta', default: '0' },
    sampler: { type: 'string', valueHint: SAMPLER_HINT, description: 'the sampler of every variant', default: 'ddim' },
    batch: { type: 'string', valueHint: 'B', description: 'samples per model call', default: '16' },
    ...referenceArgs,
    ...featureArgs,
    'features-batch': { type: 'string', valueHint: 'B', description: 'images per feature-network call', default: '64' },
    out: {
      type: 'string',
      description: 'folder for table.md, table.json, table.html and samples/NN-<variant>.npz',
      valueHint: 'DIR',
    },
    ...commonArgs,
  },
  async run({ args }) {
    const artifact = requireArg('artifact', args.artifact);
    const out = resolve(requireArg('out', args.out));
    if (!args.features) throw new UsageError('--features is required (inception or an .onnx feature network)');
    const n = intArg('n', args.n, { min: 1, max: 1_000_000 });
    const seed = intArg('seed', args.seed, { min: 0, max: 2 ** 32 - 1 });
    const eta = floatArg('eta', args.eta, { min: 0, max: 1 });
    const sampler = samplerArg('sampler', args.sampler);
    checkEtaFor(sampler, eta);
    const batch = intArg('batch', args.batch, { min: 1, max: 1024 });
    const featureBatch = intArg('features-batch', args['features-batch'], { min: 1, max: 4096 });
    const threads = args.threads === undefined ? undefined : intArg('threads', args.threads, { min: 1, max: 256 });
    const isSplits = intArg('is-splits', args['is-splits'], { min: 1 });
    const k = intArg('pr-k', args['pr-k'], { min: 1, max: 100 });
    const progress = !args.quiet && !args.json;
    stepsArg('steps', args.steps);
    const device = await deviceArg(args.device);

    const dir = await localArtifactDir(artifact);
    const manifest = await readArtifactManifest(dir);
    stepsArg('steps', args.steps, manifest.diffusion.diffusionSteps);
    let variants: string[];
    try {
      variants = tableVariants(manifest, listArg(args.variants));
    } catch (error) {
      throw new UsageError(`--variants: ${(error as Error).message}`);
    }
    const network = (await openNetworkFromArgs(args))!;
    const rows: TableRow[] = [];
    const samples = new Map<string, ImageSet>();
    let reference: PreparedReference;
    try {
      reference = await prepareReference(args, network, { batchSize: featureBatch, progress, k });
      await mkdir(join(out, 'samples'), { recursive: true });
      for (const [index, variant] of variants.entries()) {
        const started = performance.now();
        const set = await sampleVariant(dir, manifest, variant, {
          n,
          seed,
          steps: args.steps,
          eta,
          sampler,
          batch,
          threads,
          device,
          progress,
        });
        const samplingSeconds = (performance.now() - started) / 1000;
        if (reference.image) checkSameSize(set, reference.image, 'the reference');
        const samplesFile = join(out, 'samples', `${String(index).padStart(2, '0')}-${safeName(variant)}.npz`);
        await writeSamples(samplesFile, set);
        samples.set(variant, set);
        const metrics = await evaluate(network, set, reference, { featureBatch, progress, isSplits, k, variant });
        const fp32 = variant === 'fp32' ? undefined : samples.get('fp32');
        const entry = manifest.variants[variant];
        rows.push({
          variant,
          format: entry.precision,
          method: methodLabel(entry),
          calibration: calibrationLabel(manifest, entry),
          sha256: entry.sha256,
          metrics,
          vsFp32: fp32 ? agreement(fp32, set) : undefined,
          samplingSeconds,
          samplesFile,
        });
      }
    } finally {
      await network.release();
    }

    const settings = {
      artifact: manifest.name,
      n,
      seed,
      steps: args.steps,
      eta,
      sampler,
      features: network.id,
      ref: reference.label,
      n_ref: reference.n,
      saved_ref_stats: reference.savedTo ?? null,
    };
    const markdown = markdownTable(rows);
    const notes = tableNotes(rows);
    const result = { ...settings, rows: rows.map(rowJson) };
    await writeFile(join(out, 'table.md'), `${markdown}${notes.map((line) => `\n- ${markdownText(line)}`).join('')}\n`);
    await writeFile(join(out, 'table.json'), `${JSON.stringify(result, null, 2)}\n`);
    await writeFile(
      join(out, 'table.html'),
      tableHtml({
        artifact: manifest.name,
        settings: [
          ['samples', `${n} per variant, seed ${seed}, ${sampler} ${args.steps}, eta ${eta}`],
          ['feature network', `${network.id.name} (sha256 ${network.id.sha256.slice(0, 12)})`],
          ['reference', reference.label ? `${reference.label}, ${reference.n ?? '?'} images` : 'none'],
        ],
        rows,
        samples,
      }),
    );
    const files = { md: join(out, 'table.md'), json: join(out, 'table.json'), html: join(out, 'table.html') };
    emit(
      args.json,
      { ...result, ...deviceRecord(device), files },
      () => `${markdown}\n${notes.map((l) => `- ${l}`).join('\n')}\n-> ${out}`,
    );
  },
});

interface SampleOptions {
  n: number;
  seed: number;
  steps: string;
  eta: number;
  sampler: SamplerName;
  batch: number;
  threads?: number;
  device: Device;
  progress: boolean;
}

async function sampleVariant(dir: string, manifest: Manifest, variant: string, o: SampleOptions): Promise<ImageSet> {
  const session = await openVariant(
    await readVariant(dir, manifest, variant),
    manifest,
    o.threads,
    o.device,
    `sample ${variant}`,
  );
  try {
    let bar: Progress | undefined;
    const result = await sampleWith(session.denoiser, manifest, {
      firstSample: 0,
      count: o.n,
      seed: o.seed,
      steps: o.steps,
      eta: o.eta,
      batch: o.batch,
      sampler: o.sampler,
      correction: manifest.variants[variant]?.noiseCorrection,
      onProgress: (done, total) => {
        bar ??= new Progress(`sample ${variant}`, total, { enabled: o.progress, unit: ' steps' });
        bar.update(done);
      },
    });
    const [c, h, w] = result.shape;
    return { images: result.images, n: o.n, h, w, c };
  } finally {
    await session.release();
  }
}

async function evaluate(
  network: FeatureNetwork,
  set: ImageSet,
  reference: PreparedReference,
  o: { featureBatch: number; progress: boolean; isSplits: number; k: number; variant: string },
) {
  const features = await featuresOf(network, set, {
    batchSize: o.featureBatch,
    onProgress: featureProgress(`features ${o.variant}`, o.progress),
  });
  return scoreAgainst(features, reference.stats, { isSplits: o.isSplits, k: o.k });
}

function agreement(fp32: ImageSet, set: ImageSet): SameSeedAgreement {
  if (fp32.h !== set.h || fp32.w !== set.w || fp32.c !== set.c)
    throw new EvaluationError('variant image shapes differ');
  const diff = pixelDiff(fp32.images, set.images, set.n);
  const ssim = ssimPerImage(fp32.images, set.images, set.n, set.h, set.w, set.c);
  return {
    psnr: diff.psnrMean,
    psnrMin: diff.psnrMin,
    psnrPooled: diff.psnrPooled,
    identical: diff.identical,
    mse: diff.mse,
    ssim: ssim.reduce((a, b) => a + b, 0) / ssim.length,
    maxAbs: diff.maxAbs,
  };
}

/** A variant name as a file name part (manifest keys are free text). */
function safeName(variant: string): string {
  return variant.replace(/[^A-Za-z0-9._-]/g, '_');
}
