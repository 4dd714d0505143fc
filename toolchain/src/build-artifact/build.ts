/**
 * `build-artifact` as a library: fp32 artifact (or checkpoint + flags) -> calibration pairs from the fp32 DDIM
 * trajectory -> one quantized variant per requested bit width -> same-seed sample grids -> report.<variant>.html -> the
 * manifest, written last, to a folder or published to S3 (files, manifest, then latest.json).
 */
import { existsSync } from 'node:fs';
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import {
  type Manifest,
  manifestFiles,
  meanPsnr,
  type NoiseCorrection,
  numel,
  pixelDiff,
  type VariantEntry,
} from '@qdm/shared';
import {
  ArtifactError,
  readArtifactManifest,
  readVariant,
  sha256Bytes,
  writeArtifactManifest,
  writeFileAtomic,
} from '../artifact/folder.ts';
import { importCheckpoint, TOOLCHAIN_VERSION } from '../artifact/import.ts';
import type { TimestepPolicy } from '../calibrate/timesteps.ts';
import {
  type CalibrationNoise,
  type CalibrationSampler,
  type CalibrationSet,
  collectCalibration,
} from '../calibrate/trajectory.ts';
import { CLIError } from '../errors.ts';
import type { ImprovedDiffusionFlags } from '../models/flags.ts';
import type { OnnxModel } from '../onnx/ir.ts';
import { decodeModel } from '../onnx/model.ts';
import type { ObserverSpec } from '../quantize/observe/observers.ts';
import { type QuantizeReport, quantizeModel } from '../quantize/pipeline.ts';
import {
  BudgetError,
  checkBudget,
  chooseW8Layers,
  measureSensitivity,
  type PrecisionChoice,
} from '../quantize/plan/mixed-precision.ts';
import { planQuantization, type Scheme } from '../quantize/plan/plan.ts';
import type { ReconMethod } from '../quantize/reconstruct/reconstruct.ts';
import { fitNoiseCorrection } from '../quantize/steps/noise-correction.ts';
import { type WideSteps, type WideStepsRecord, wideStepThresholds } from '../quantize/steps/wide-steps.ts';
import { type RecipeRecord, recipeRecord } from '../recipe.ts';
import { renderReport } from '../report/report.ts';
import type { Device } from '../runtime/devices.ts';
import { type PlacementSummary, placementSummary } from '../runtime/placement.ts';
import { openVariant, type SampleResult, sampleWith } from '../sampling/run.ts';
import { openStore } from '../store/index.ts';
import { isS3Uri } from '../store/objects.ts';
import { readCleanImages } from './calibration-data.ts';
import { EdgeGraphError, writeEdgeGraph } from './edge-graph.ts';
import { CPU_ONLY_WORK, PhaseClock, phaseDevice } from './phases.ts';
import { buildReportData, type VariantBuild } from './report-data.ts';
import { type ResolvedVariantSpec, resolveBuildOptions } from './resolve-options.ts';

/**
 * One variant to build. Unset settings here and in BuildOptions take the recipe's defaults (toolchain/src/recipe.ts,
 * the CLI's): say `recon: 'none'`, `wideSteps: WIDE_STEPS_OFF`, `w8Budget: 0` to build without them.
 */
export interface VariantSpec {
  name: string;
  weightBits: 4 | 8;
  activationBits: 8 | 16;
  /** This variant's weight rounding (default: BuildOptions.recon, else the recipe's for its widths). */
  recon?: ReconMethod;
  /** Steps of the calibration respacing that run with float activations in the same graph (wide-steps.ts). */
  wideSteps?: WideSteps;
}

export interface CalibrationOptions {
  policy: TimestepPolicy;
  samples: number;
  trajectories: number;
  steps: string;
  /**
   * The serving sampler whose fp32 trajectory the pairs come from (default ddim). When given, every variant records
   * (sampler, steps) as its serving schedule (manifest `schedule`).
   */
  sampler?: CalibrationSampler;
  noise: CalibrationNoise;
  data?: string;
  batch: number;
  seed: number;
}

export interface BuildOptions {
  /** An fp32 artifact folder, or a checkpoint + flags to import first. */
  artifact?: string;
  checkpoint?: string;
  flags?: ImprovedDiffusionFlags;
  name?: string;
  /** Folder, or s3://bucket/prefix (the store root: the artifact lands at <prefix>/<name>/). */
  out: string;
  variants: VariantSpec[];
  scheme: Scheme;
  softmaxBits?: 8 | 16;
  keepFloat: string[];
  /** The convs reading x_t and writing the output: float or quantized (default: float for full, see plan.ts). */
  imageEnds?: 'float' | 'quantized';
  /** Unset: the recipe's (lp). */
  observer?: ObserverSpec;
  /** Every variant's weight rounding unless its spec says otherwise; unset: the recipe's for each width. */
  recon?: ReconMethod;
  /**
   * Mixed-precision W4A8: the share of the weights kept at 8 bits in 4-bit variants, the layers chosen by output
   * sensitivity (mixed-precision.ts); 0 = every layer at 4 bits; unset: the recipe's default (DEFAULT_W8_BUDGET).
   */
  w8Budget?: number;
  /** PTQD noise correction fit per calibration step and stored in the manifest; unset: the recipe's ('none'). */
  noiseCorrection?: 'ptqd' | 'none';
  calibration: CalibrationOptions;
  /** Same-seed sample grids for the report and the PSNR in the manifest (0 = skip). */
  reportSamples: number;
  reportSteps: string;
  threads?: number;
  /** Where the fp32 passes run (trajectories, fp32 sample grid, statistics, evaluation references); default cpu. */
  device?: Device;
  log: (message: string) => void;
  progress: (label: string) => (done: number, total: number, detail?: string) => void;
  signal?: AbortSignal;
}

export interface BuildResult {
  manifest: Manifest;
  location: string;
  variants: {
    name: string;
    file: string;
    bytes: number;
    ratio: number;
    integerNodes: Record<string, number>;
    psnrDb: number | null;
    /** The recipe the variant was built with (recipe.ts), as the manifest records it. */
    recipe: RecipeRecord;
    /** Seconds of each stage of the quantize phase (statistics = observe, reconstruction = weights, ...). */
    stageSeconds: Record<string, number>;
  }[];
  phases: { name: string; seconds: number; peakRssMb: number; device: Device | 'mixed' }[];
  device: Device;
  /** Nodes of the device sessions that onnxruntime left to the CPU provider. */
  placement: PlacementSummary;
  /** What runs on the CPU whatever --device says, and why. */
  cpuOnly: string[];
}

export const VARIANT_FILE = (name: string) => `model.${name}.onnx`;

/** The --w8-budget every 4-bit variant gets; checked against the plan before any calibration work. */
function checkW8Budget(options: BuildOptions, fp32: Uint8Array): void {
  const budget = options.w8Budget ?? 0;
  const four = options.variants.filter((v) => v.weightBits === 4);
  if (options.w8Budget !== undefined && options.w8Budget > 0 && four.length === 0) {
    throw new BudgetError('--w8-budget applies to 4-bit weights: add --wbits 4');
  }
  if (four.length === 0 || budget === 0) return;
  const graph = decodeModel(fp32).graph;
  for (const spec of four) checkBudget(budget, planQuantization(graph, planOptions(options, spec)));
}

function planOptions(options: BuildOptions, spec: VariantSpec) {
  return {
    scheme: options.scheme,
    weightBits: spec.weightBits,
    activationBits: spec.activationBits,
    softmaxBits: options.softmaxBits,
    keepFloat: options.keepFloat,
    imageEnds: options.imageEnds,
  };
}

/**
 * The wide-step thresholds of each variant that has wide steps, on the calibration respacing; a count that leaves
 * no 8-bit step is a WideStepsError before any calibration work.
 */
async function wideStepRecords(options: BuildOptions, manifest: Manifest): Promise<Map<string, WideStepsRecord>> {
  const records = new Map<string, WideStepsRecord>();
  const { diffusionFor } = await import('../sampling/run.ts');
  const diffusion = diffusionFor(manifest, options.calibration.steps);
  for (const spec of options.variants) {
    if (!spec.wideSteps || spec.wideSteps.first + spec.wideSteps.last === 0) continue;
    records.set(spec.name, wideStepThresholds(diffusion, spec.wideSteps, options.calibration.steps));
  }
  return records;
}

/** Mixed precision for a 4-bit variant: rank its layers by output sensitivity, keep the budget's worth at 8 bits. */
async function choosePrecision(
  options: BuildOptions,
  spec: VariantSpec,
  fp32: OnnxModel,
  calibration: CalibrationSet,
): Promise<PrecisionChoice | undefined> {
  const budget = options.w8Budget ?? 0;
  if (spec.weightBits !== 4 || budget === 0) return undefined;
  const plan = planQuantization(fp32.graph, planOptions(options, spec));
  const picks = Array.from({ length: Math.min(32, calibration.count) }, (_, k) =>
    Math.floor(((k + 0.5) * calibration.count) / Math.min(32, calibration.count)),
  );
  const progress = options.progress(`sensitivity ${spec.name}`);
  const sensitivity = await measureSensitivity(fp32, plan, calibration, picks, {
    threads: options.threads,
    signal: options.signal,
    onLayer: (done, total) => progress(done, total),
  });
  const total = plan.weights.reduce((a, s) => a + s.shape.reduce((x, y) => x * y, 1), 0);
  return chooseW8Layers(sensitivity, budget, total);
}

/** The default variant name for a bit width: W8A8 is `int8`, others spell their widths (`w4a8`). */
export function variantName(weightBits: number, activationBits: number): string {
  return weightBits === 8 && activationBits === 8 ? 'int8' : `w${weightBits}a${activationBits}`;
}

function precision(spec: VariantSpec): string {
  return `w${spec.weightBits}a${spec.activationBits}`;
}

/**
 * Where the build writes: a temporary folder for S3 (uploaded at the end, always removed), else `--out` itself.
 * `created` marks an --out folder this build makes, removed if the build fails so no artifact-looking folder stays.
 */
async function stagingFolder(options: BuildOptions): Promise<{ dir: string; temporary: boolean; created: boolean }> {
  if (isS3Uri(options.out)) {
    return { dir: await mkdtemp(join(tmpdir(), 'qdm-build-')), temporary: true, created: false };
  }
  const dir = resolve(options.out);
  return { dir, temporary: false, created: !existsSync(dir) };
}

/** Puts the fp32 artifact into the staging folder (import, or copy verified files) and returns its manifest. */
async function stageFp32(options: BuildOptions, dir: string): Promise<{ manifest: Manifest; fp32: Uint8Array }> {
  if (options.checkpoint) {
    if (!options.flags) throw new Error('--checkpoint needs --flags');
    await importCheckpoint({
      checkpoint: options.checkpoint,
      flags: options.flags,
      outDir: dir,
      name: options.name,
      log: options.log,
    });
  } else if (options.artifact && resolve(options.artifact) !== dir) {
    const source = resolve(options.artifact);
    const manifest = await readArtifactManifest(source);
    const fp32 = await readVariant(source, manifest, 'fp32');
    await writeFileAtomic(dir, manifest.variants.fp32.file, fp32);
    for (const file of manifestFiles(manifest)) {
      if (file !== manifest.variants.fp32.file) await copyArtifactFile(source, dir, file);
    }
    await writeArtifactManifest(dir, { ...manifest, name: options.name ?? manifest.name });
  }
  const manifest = await readArtifactManifest(dir);
  if (!manifest.variants.fp32) throw new ArtifactError(`${dir}: the manifest has no fp32 variant to quantize`);
  return { manifest, fp32: await readVariant(dir, manifest, 'fp32') };
}

async function copyArtifactFile(source: string, dir: string, file: string): Promise<void> {
  await copyFile(join(source, file), join(dir, file)).catch((error: unknown) => {
    throw new ArtifactError(`${join(source, file)}: cannot copy (named by the manifest): ${(error as Error).message}`);
  });
}

/** One report per build, named after its first variant: a later build of other variants keeps this one. */
function reportFileOf(options: BuildOptions): string {
  return `report.${options.variants[0]?.name ?? 'build'}.html`;
}

async function calibrate(options: BuildOptions, manifest: Manifest, fp32: Uint8Array): Promise<CalibrationSet> {
  const { calibration: c } = options;
  const shape: [number, number, number] = [
    manifest.model.inChannels,
    manifest.model.imageSize,
    manifest.model.imageSize,
  ];
  const { diffusionFor } = await import('../sampling/run.ts');
  const diffusion = diffusionFor(manifest, c.steps);
  const data = c.noise === 'data' ? await readCleanImages(requireData(c), shape) : undefined;
  const variant = await openVariant(fp32, manifest, options.threads, options.device, 'trajectories');
  try {
    return await collectCalibration(variant.denoiser, {
      diffusion,
      sampler: c.sampler,
      shape,
      policy: c.policy,
      samples: c.samples,
      trajectories: c.trajectories,
      batch: c.batch,
      seed: c.seed,
      noise: c.noise,
      data,
      signal: options.signal,
      onProgress: options.progress('calibration trajectories'),
    });
  } finally {
    await variant.release();
  }
}

/** PTQD: the quantized variant's epsilon against fp32 on every calibration pair, fit per step. */
async function fitCorrection(
  fp32: Uint8Array,
  quantized: Uint8Array,
  manifest: Manifest,
  calibration: CalibrationSet,
  options: BuildOptions,
): Promise<NoiseCorrection> {
  const reference = await openVariant(fp32, manifest, options.threads);
  try {
    const model = await openVariant(quantized, manifest, options.threads);
    try {
      return await fitNoiseCorrection(reference.denoiser, model.denoiser, calibration, {
        steps: options.calibration.steps,
        outChannels: manifest.model.outChannels,
        batch: options.calibration.batch,
        signal: options.signal,
      });
    } finally {
      await model.release();
    }
  } finally {
    await reference.release();
  }
}

function requireData(c: CalibrationOptions): string {
  if (!c.data) throw new Error('--calib-noise data needs --calib-data (an .npz or a folder of PNGs)');
  return c.data;
}

async function sampleGrid(
  bytes: Uint8Array,
  manifest: Manifest,
  options: BuildOptions,
  label: string,
  correction?: NoiseCorrection,
): Promise<SampleResult> {
  // Only fp32 grids go to the device: a quantized variant's grid is the CPU integer kernels' (CPU_ONLY_WORK).
  const device = label === 'fp32' ? options.device : 'cpu';
  const variant = await openVariant(bytes, manifest, options.threads, device, `samples ${label}`);
  try {
    return await sampleWith(variant.denoiser, manifest, {
      correction,
      firstSample: 0,
      count: options.reportSamples,
      seed: 0,
      steps: options.reportSteps,
      eta: 0,
      batch: Math.min(16, options.reportSamples),
      sampler: 'ddim',
      signal: options.signal,
      onProgress: options.progress(`samples ${label}`),
    });
  } finally {
    await variant.release();
  }
}

/**
 * A build that failed after it wrote quantized variants: the staging folder is kept with them, and the message
 * says in one line what failed, what was kept and what to rerun (`cause` is the original error). `complete`: the
 * folder holds the whole artifact, manifest included (only the upload failed): `toolchain push` publishes it.
 */
export class BuildKeptError extends CLIError {
  override name = 'BuildKeptError';
  readonly kept: { dir: string; files: string[]; complete: boolean };
  constructor(cause: unknown, kept: { dir: string; files: string[]; complete: boolean }, out: string) {
    const text = cause instanceof Error ? cause.message.split('\n')[0] : String(cause);
    const what = cause instanceof CLIError ? text : `internal error: ${text} (QDM_DEBUG=1 shows the stack)`;
    const next = kept.complete
      ? `the built artifact is complete in ${kept.dir}: publish it with toolchain push --from ${kept.dir} --to ${out}`
      : `kept ${kept.files.join(', ')} in ${kept.dir} (not yet in its manifest.json): rerun the same ` +
        'build-artifact command to finish';
    super(`${what}; ${next}`, cause instanceof CLIError ? cause.code : 1, { cause });
    this.kept = kept;
  }
}

/** The variant's edge graph, or undefined (the edge serves the portable graph) when the runtime cannot load it. */
async function edgeGraphOrPortable<T>(options: BuildOptions, name: string, write: () => Promise<T>) {
  try {
    return await write();
  } catch (error) {
    if (!(error instanceof EdgeGraphError)) throw error;
    options.log(`${name}: no edge graph, the edge will load the portable graph: ${error.message}`);
    return undefined;
  }
}

export async function buildArtifact(partial: BuildOptions): Promise<BuildResult> {
  const options = resolveBuildOptions(partial);
  const clock = new PhaseClock();
  const staging = await stagingFolder(options);
  let built = false;
  const keptFiles: string[] = [];
  let complete = false;
  try {
    const { manifest, fp32 } = await clock.run('load', () => stageFp32(options, staging.dir));
    options.log(
      `${manifest.name}: ${(manifest.model.parameters / 1e6).toFixed(2)}M parameters, fp32 ${(fp32.length / 1e6).toFixed(1)} MB`,
    );
    checkW8Budget(options, fp32);
    const wideSteps = await wideStepRecords(options, manifest);
    const calibration = await clock.run('trajectories', () => calibrate(options, manifest, fp32));
    options.log(
      `calibration: ${calibration.count} (x_t, t) pairs from ${options.calibration.trajectories} ${options.calibration.steps} trajectories`,
    );
    const fp32Model = decodeModel(fp32);
    const fp32Samples =
      options.reportSamples > 0
        ? await clock.run('samples fp32', () => sampleGrid(fp32, manifest, options, 'fp32'))
        : undefined;

    const reportFile = reportFileOf(options);
    const { inChannels, imageSize } = manifest.model;
    const edgeOptions = { shape: [inChannels, imageSize, imageSize] as [number, number, number] };
    const builds: VariantBuild[] = [];
    const entries: Record<string, VariantEntry> = {};
    for (const spec of options.variants) {
      const precision = await clock.run(`sensitivity ${spec.name}`, () =>
        choosePrecision(options, spec, fp32Model, calibration),
      );
      if (precision) {
        options.log(
          `${spec.name}: ${precision.w8.length} layers (${(precision.used * 100).toFixed(1)}% of the weights) kept at 8 bits: ` +
            precision.w8.map((l) => l.node).join(', '),
        );
      }
      const result = await clock.run(`quantize ${spec.name}`, async () => {
        const progress = options.progress(`quantize ${spec.name}`);
        const out = await quantizeModel({
          fp32: fp32Model,
          calibration,
          scheme: options.scheme,
          weightBits: spec.weightBits,
          activationBits: spec.activationBits,
          softmaxBits: options.softmaxBits,
          keepFloat: options.keepFloat,
          imageEnds: options.imageEnds,
          w8Layers: precision?.w8.map((l) => l.node),
          observer: options.observer,
          recon: spec.recipe.recon,
          wideSteps: wideSteps.get(spec.name),
          threads: options.threads,
          device: options.device,
          signal: options.signal,
          onProgress: (event) =>
            progress(event.done, event.total, `${event.stage}${event.detail ? ` ${event.detail}` : ''}`),
        });
        return out;
      });
      const file = VARIANT_FILE(spec.name);
      await writeFileAtomic(staging.dir, file, result.bytes);
      keptFiles.push(file);
      const correction =
        options.noiseCorrection === 'ptqd'
          ? await clock.run(`noise correction ${spec.name}`, () =>
              fitCorrection(fp32, result.bytes, manifest, calibration, options),
            )
          : undefined;
      const samples =
        options.reportSamples > 0
          ? await clock.run(`samples ${spec.name}`, () =>
              sampleGrid(result.bytes, manifest, options, spec.name, correction),
            )
          : undefined;
      const psnr =
        samples && fp32Samples
          ? pixelDiff(fp32Samples.images, samples.images, options.reportSamples).psnrPerImage
          : undefined;
      builds.push({
        spec,
        file,
        bytes: result.bytes.length,
        report: result.report,
        plan: result.plan,
        samples,
        psnr,
      });
      entries[spec.name] = {
        ...variantEntry(spec, file, result.bytes, result.report, options, psnr, precision),
        report: reportFile,
        edgeGraph: await clock.run(`edge graph ${spec.name}`, () =>
          edgeGraphOrPortable(options, spec.name, async () => {
            const wideSteps = result.eightBitOnly !== undefined;
            const graph = await writeEdgeGraph(staging.dir, file, result.bytes, { ...edgeOptions, wideSteps });
            if (!result.eightBitOnly) return graph;
            const eightBit = file.replace(/\.onnx$/, '.8bit.onnx'); // names the edge graph; not written itself
            const fallback = await edgeGraphOrPortable(options, `${spec.name} (8-bit only)`, () =>
              writeEdgeGraph(staging.dir, eightBit, result.eightBitOnly as Uint8Array, edgeOptions),
            );
            return fallback ? { ...graph, eightBitOnly: fallback } : graph;
          }),
        ),
        ...(correction ? { noiseCorrection: correction } : {}),
      };
      options.log(
        `${spec.name}: ${(result.bytes.length / 1e6).toFixed(2)} MB (${(result.report.bytes.ratio * 100).toFixed(0)}% of fp32), ` +
          `${result.report.fusion.integerTotal} integer nodes` +
          (psnr ? `, same-seed PSNR ${meanPsnr(psnr)?.toFixed(2)} dB over ${psnr.length} seeds` : ''),
      );
    }

    const fp32Entry = manifest.variants.fp32;
    if (!fp32Entry.edgeGraph) {
      entries.fp32 = { ...fp32Entry, edgeGraph: await writeEdgeGraph(staging.dir, fp32Entry.file, fp32, edgeOptions) };
    }
    const updated: Manifest = {
      ...manifest,
      variants: { ...manifest.variants, ...entries },
      calibration: calibrationRecord(options, calibration),
      report: reportFile,
      toolchain: { version: TOOLCHAIN_VERSION },
    };
    const html = renderReport(
      buildReportData({
        manifest: updated,
        fp32Bytes: fp32.length,
        fp32Samples,
        builds,
        calibration,
        options,
        phases: clock.phases,
      }),
    );
    const reportBytes = new TextEncoder().encode(html);
    await writeFileAtomic(staging.dir, reportFile, reportBytes);
    updated.reports = {
      ...manifest.reports,
      [reportFile]: { bytes: reportBytes.length, sha256: sha256Bytes(reportBytes) },
    };
    await writeArtifactManifest(staging.dir, updated);
    complete = true;

    let location = staging.dir;
    if (isS3Uri(options.out)) {
      const store = openStore(options.out);
      const published = await clock.run('upload', () =>
        store.publish(updated.name, staging.dir, {
          force: true,
          signal: options.signal,
          onProgress: (p) => options.progress(`upload ${p.file}`)(p.bytesDone, p.bytesTotal),
        }),
      );
      location = published.location;
    }
    const result: BuildResult = {
      manifest: updated,
      location,
      variants: builds.map((b) => ({
        name: b.spec.name,
        file: b.file,
        bytes: b.bytes,
        ratio: b.bytes / fp32.length,
        integerNodes: b.report.integerNodes,
        psnrDb: b.psnr ? meanPsnr(b.psnr) : null,
        recipe: recipeRecord(b.spec.recipe),
        stageSeconds: b.report.seconds,
      })),
      phases: clock.phases.map((p) => ({ ...p, device: phaseDevice(p.name, options.device ?? 'cpu') })),
      device: options.device ?? 'cpu',
      placement: placementSummary(options.device ?? 'cpu'),
      cpuOnly: options.device && options.device !== 'cpu' ? CPU_ONLY_WORK : [],
    };
    built = true;
    return result;
  } catch (error) {
    // Quantized variants are the long work: a later failure keeps them (and the folder) and says so.
    if (keptFiles.length > 0 && !options.signal?.aborted) {
      throw new BuildKeptError(error, { dir: staging.dir, files: keptFiles, complete }, options.out);
    }
    throw error;
  } finally {
    const keep = keptFiles.length > 0 && !options.signal?.aborted;
    if (!built && !keep && (staging.temporary || staging.created))
      await rm(staging.dir, { recursive: true, force: true });
    else if (built && staging.temporary) await rm(staging.dir, { recursive: true, force: true });
  }
}

function variantEntry(
  spec: ResolvedVariantSpec,
  file: string,
  bytes: Uint8Array,
  report: QuantizeReport,
  options: BuildOptions,
  psnr: number[] | undefined,
  mixed?: PrecisionChoice,
): VariantEntry {
  const c = options.calibration;
  return {
    file,
    bytes: bytes.length,
    sha256: sha256Bytes(bytes),
    precision: precision(spec),
    quantization: {
      scheme: report.scheme,
      weightBits: report.weightBits,
      activationBits: report.activationBits,
      softmaxBits: report.softmaxBits,
      imageEnds: report.imageEnds,
      recon: spec.recipe.recon,
      noiseCorrection: spec.recipe.noiseCorrection,
      recipe: recipeRecord(spec.recipe),
      ...(mixed
        ? {
            w8Budget: mixed.budget,
            w8Share: mixed.used,
            w8Layers: mixed.w8.map((l) => ({ node: l.node, share: l.share, reason: l.reason })),
          }
        : {}),
      observer: report.observer.kind,
      weightScales: report.weightScales,
      calibration: {
        kind: c.policy.kind,
        samples: c.samples,
        trajectories: c.trajectories,
        steps: c.steps,
        ...(c.sampler ? { sampler: c.sampler } : {}),
        noise: c.noise,
      },
      integerNodes: report.integerNodes,
      floatLayersAfterFusion: report.fusion.floatLayerTotal,
      ...(report.wideSteps ? { wideSteps: report.wideSteps } : {}),
      keptFloat: report.keptFloat.map((k) => ({ name: k.name, reason: k.reason })),
    },
    metrics: {
      sizeRatioVsFp32: report.bytes.ratio,
      ...(psnr ? { samePsnrDb: meanPsnr(psnr), samePsnrSeeds: psnr.length, samePsnrSteps: options.reportSteps } : {}),
      meanEpsilonSqnrDb: mean(report.epsilonSqnrByStep.filter((v): v is number => v !== null)),
    },
    ...(c.sampler ? { schedule: { sampler: c.sampler, steps: c.steps } } : {}),
  };
}

function mean(values: number[]): number | null {
  return values.length ? values.reduce((a, b) => a + b, 0) / values.length : null;
}

function calibrationRecord(options: BuildOptions, set: CalibrationSet): Record<string, unknown> {
  const c = options.calibration;
  const histogram = new Array<number>(Math.max(0, ...set.stepIndex) + 1).fill(0);
  for (const i of set.stepIndex) histogram[i]++;
  return {
    timesteps: c.policy,
    samples: set.count,
    trajectories: c.trajectories,
    steps: c.steps,
    ...(c.sampler ? { sampler: c.sampler } : {}),
    noise: c.noise,
    seed: c.seed,
    stepHistogram: histogram,
    inputElements: numel(set.shape),
  };
}
