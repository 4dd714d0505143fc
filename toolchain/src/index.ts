/**
 * `@qdm/toolchain`: the library behind the `toolchain` CLI. Each command is a call here:
 *
 * ```ts
 * import { buildArtifact, importCheckpoint, parseFlags, publishArtifact, sampleArtifact } from '@qdm/toolchain';
 *
 * const flags = parseFlags('--image_size 32 --num_channels 64 ...'); // improved-diffusion's flags
 * const { outDir } = await importCheckpoint({ checkpoint: 'ema.pt', flags, outDir: 'artifacts/mine' }); // `import`
 * const { images } = await sampleArtifact(outDir, { variant: 'fp32', count: 8, steps: 'ddim50' }); // `sample`
 * ```
 *
 * `buildArtifact` is `build-artifact` (calibrate, quantize, export, report); `publishArtifact` / `pullArtifact` /
 * `listArtifacts` are `push` / `pull` / `ls`; evaluation is `openFeatureNetwork` + `featuresOf` + `scoreAgainst`
 * (`eval`). Lower-level pieces live under subpaths: `@qdm/toolchain/quantize` (the quantizer's stages),
 * `@qdm/toolchain/models` (U-Net and Inception graph builders), `@qdm/toolchain/onnx` (ONNX model IO),
 * `@qdm/toolchain/eval` (metric math) and `@qdm/toolchain/testing` (small deterministic models for tests).
 * Node only; the package runs from its TypeScript sources (Node >= 22.18 strips the types).
 */

// ---- import: a checkpoint to an fp32 artifact ----

/** `toolchain import`: checkpoint + flags -> an artifact folder with `manifest.json` and `model.fp32.onnx`. */
export {
  FP32_FILE,
  type ImportOptions,
  type ImportResult,
  importCheckpoint,
  loadFlags,
  type WinogradDecision,
} from './artifact/import.ts';
/** PyTorch zip/pickle (allow-listed), .safetensors and .npz checkpoints -> named tensors. */
export {
  type Checkpoint,
  CheckpointError,
  type CheckpointFormat,
  parseCheckpoint,
  type ReadCheckpointOptions,
  readCheckpoint,
} from './checkpoint/index.ts';
/** improved-diffusion's command-line flags (string or JSON object) -> U-Net and diffusion settings. */
export { FlagsError, type ImprovedDiffusionFlags, parseFlags } from './models/flags.ts';

// ---- build: calibrate, quantize, export ----

/** `toolchain build-artifact`: an fp32 artifact (or a checkpoint) -> quantized variants, edge graphs, report. */
export {
  type BuildOptions,
  type BuildResult,
  buildArtifact,
  type CalibrationOptions,
  VARIANT_FILE,
  type VariantSpec,
  variantName,
} from './build-artifact/build.ts';
/** The edge graph: a variant as onnxruntime's optimizer leaves it, in ONNX or ORT format. */
export { type EdgeGraphFormat, edgeGraphFile, optimizeForEdge } from './build-artifact/edge-graph.ts';
/** Which time steps calibration draws its pairs from: uniform, normal around a mean step, or every k-th. */
export { sampleTimesteps, type TimestepPolicy } from './calibrate/timesteps.ts';
/** Calibration: (x_t, t) pairs from the model's own DDIM trajectories, at time steps a policy picks. */
export {
  type CalibrationNoise,
  type CalibrationSet,
  collectCalibration,
  type TrajectoryOptions,
} from './calibrate/trajectory.ts';
/** The settings BuildOptions names, from the quantizer (`@qdm/toolchain/quantize` has the rest). */
export {
  DEFAULT_WIDE_STEPS,
  type ObserverSpec,
  type ReconMethod,
  type Scheme,
  type WideSteps,
} from './quantize/index.ts';
/**
 * The recipe: every default of a variant (reconstruction, mixed-precision budget, wide steps, noise correction,
 * image ends, softmax bits, observer) resolved in one place from (wbits, abits, scheme) and explicit overrides,
 * with the reason for each; `buildArtifact` and the CLI both call it.
 */
export {
  DEFAULT_W8_BUDGET,
  type Recipe,
  RecipeError,
  type RecipeOverrides,
  type RecipeRecord,
  type RecipeRequest,
  recipeDefaults,
  recipeRecord,
  resolveRecipe,
  resolveRecipes,
  WIDE_STEPS_OFF,
} from './recipe.ts';

// ---- artifacts on disk ----

/** Reads a folder's manifest (validated) and a variant's bytes (size checked against the manifest). */
export { ArtifactError, readArtifactManifest, readVariant } from './artifact/folder.ts';

// ---- sample ----

/** `toolchain sample` in one call: an artifact folder's variant -> images. */
export { type SampleArtifactOptions, sampleArtifact } from './sampling/artifact.ts';
/** Sample files: `.npz` (arr_0 uint8 NHWC, raw float32 NCHW) and PNG grids. */
export { readSamples, type SampleSet, writeGrid, writeSamples } from './sampling/files.ts';
/** The parts of it: a variant's session, and the seeded DDIM/DDPM loop over any Denoiser. */
export {
  diffusionFor,
  openVariant,
  type SampleRequest,
  type SampleResult,
  type SamplerName,
  sampleWith,
  type VariantSession,
} from './sampling/run.ts';

// ---- runtime ----

/** Execution devices: which exist here, and why one does not. */
export { AUTO_ORDER, type Device, type DeviceChoice, deviceProblem, resolveDevice } from './runtime/devices.ts';
/** onnxruntime-node sessions (CPU, CUDA, WebGPU) and the Denoiser over one. */
export {
  type CreateSessionOptions,
  createSession,
  float32Tensor,
  type Session,
  sessionDenoiser,
} from './runtime/ort.ts';
/** Which nodes of the device sessions onnxruntime left to the CPU provider. */
export { type PlacementSummary, placementSummary } from './runtime/placement.ts';

// ---- evaluate ----

/** What `--features` and `--ref` set up for `eval` and `table`: the feature network and the reference's statistics. */
export { openNetworkFromArgs, prepareReference } from './commands/eval-options.ts';
/** A feature network: FID Inception (from its PyTorch weights) or any ONNX model with named outputs. */
export { type FeatureNetwork, type FeatureNetworkSpec, openFeatureNetwork } from './eval/feature-network.ts';
/** The Frechet distance between two Gaussians (FID, sFID). */
export { frechetDistance } from './eval/fid.ts';
/** Same-seed pixel comparison of two uint8 image sets (PSNR, max abs). */
export { type PixelDiff, pixelDiff, psnrFromMse } from './eval/pixel-metrics.ts';
/** IS, FID, sFID, precision and recall of sample features against reference statistics. */
export { type QualityMetrics, scoreAgainst } from './eval/quality.ts';
/** Sample and reference images from `.npz`, image folders or MNIST idx files. */
export { loadReferenceImages, parseReference, readSampleImages } from './eval/reference.ts';
/** Features of an image set, and reference statistics from them. */
export { featuresOf, type ImageSet, referenceStatsOf, type SetFeatures } from './eval/set-features.ts';

// ---- publish / pull ----

/** `toolchain ls`: the artifacts of a store and their versions. */
export { type LsOptions, type LsResult, run as listArtifacts } from './commands/ls.ts';
/** `toolchain pull`: the latest version of an artifact, verified against its manifest, into a folder. */
export { type PullCommandResult, type PullOptions, run as pullArtifact } from './commands/pull.ts';
/** `toolchain push`: publish an artifact folder to a store (folder or s3://bucket/prefix), atomically. */
export { type PushOptions, type PushResult, run as publishArtifact } from './commands/push.ts';
/** Artifact stores: a local folder or S3 (versioned, `latest.json` written last). */
export { type ArtifactStore, openStore, StoreError } from './store/index.ts';
