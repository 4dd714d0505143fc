/**
 * The artifact manifest: the one contract between the toolchain (writer) and the edge (reader).
 * An artifact is a folder or object prefix with `manifest.json`, one ONNX file per variant and the build reports.
 * The manifest is written last, so a reader that finds it may assume every file it names is complete.
 */

import { SAMPLER_NAMES, type SamplerName } from './multistep.ts';
import { type NoiseCorrection, noiseCorrectionProblem } from './noise-correction.ts';
import { parseSteps } from './respace.ts';

export const MANIFEST_SCHEMA = 'qdm.artifact/1';
export const MANIFEST_FILE = 'manifest.json';

export type NoiseScheduleName = 'linear' | 'cosine';

export interface DiffusionSettings {
  diffusionSteps: number;
  noiseSchedule: NoiseScheduleName;
  learnSigma: boolean;
  rescaleTimesteps: boolean;
  /** The respacing the checkpoint was published with ("" = all steps); samplers choose their own. */
  timestepRespacing: string;
}

export interface ModelSettings {
  architecture: 'improved-diffusion-unet';
  imageSize: number;
  inChannels: number;
  outChannels: number;
  classCond: boolean;
  parameters: number;
  /** improved-diffusion flags as given by the user, normalized to snake_case keys. */
  flags: Record<string, unknown>;
  checkpoint?: { file: string; sha256: string; bytes: number };
}

export interface QuantizationSettings {
  scheme: 'ptq4dm' | 'qdiff' | 'full' | string;
  weightBits: number;
  activationBits: number;
  softmaxBits?: number;
  recon: 'none' | 'gptq' | 'adaround' | string;
  observer?: string;
  /** Integer kernels onnxruntime fused the QDQ graph into at graphOptimizationLevel 'all'. */
  integerNodes?: Record<string, number>;
  /** Tensors left in float, with the reason. */
  keptFloat?: { name: string; reason: string }[];
  /**
   * Steps that run with float activations (same integer weights): the graph itself picks them with an If on t
   * (wide when max(t) > tAbove or min(t) < tBelow), so samplers need do nothing; recorded for people and tables.
   */
  wideSteps?: {
    first: number;
    last: number;
    respacing: string;
    tAbove: number | null;
    tBelow: number | null;
    activations: 'float';
  };
  /** The recipe the variant was built with (toolchain/src/recipe.ts), for people and tables. */
  recipe?: RecipeSettings;
  [extra: string]: unknown;
}

/**
 * Every setting of a build recipe as resolved; `defaults` names the settings the builder did not give, each with
 * why its default is what it is.
 */
export interface RecipeSettings {
  scheme: string;
  weightBits: number;
  activationBits: number;
  recon: string;
  /** Share of the weights a 4-bit variant keeps at 8 bits; 0 = off. */
  w8Budget: number;
  wideSteps: { first: number; last: number } | 'off';
  noiseCorrection: string;
  imageEnds: string;
  softmaxBits: number;
  observer: { kind: string; [option: string]: unknown };
  defaults: Record<string, string>;
}

/**
 * The variant's graph as onnxruntime optimizes it (QDQ pairs fused into integer kernels), saved at build time so
 * the edge can create its session without running the optimizer (faster cold start). It holds onnxruntime's own
 * contrib ops, so it is only for the runtime it was made with; `file` stays the portable graph.
 */
export interface EdgeGraph {
  file: string;
  bytes: number;
  sha256: string;
  /** The runtime and version that wrote it, e.g. "onnxruntime 1.30.0". */
  runtime: string;
  /** The graphOptimizationLevel it was optimized at; sessions load it with optimization disabled. */
  level: string;
  /** 'ort': onnxruntime's own format, which the WASM runtime reads in place (weights not copied). Absent: ONNX. */
  format?: 'onnx' | 'ort';
  /** The WASM runtime's memory with this graph loaded, measured at build time (absent in older artifacts). */
  memory?: EdgeMemory;
  /**
   * A variant with wide steps (quantization.wideSteps): the same edge graph without them, every step on the 8-bit
   * kernels, for a runtime whose memory budget the float-activation steps pass (at CIFAR-10 size they need more
   * than a 128 MB Worker has). The edge loads it only then, and says so in /models.
   */
  eightBitOnly?: Omit<EdgeGraph, 'eightBitOnly'>;
  /**
   * A 4-bit variant's edge graph: its int4 tensors stored as int8 with the same values (the ORT format has no int4
   * type), so the edge runs the same kernels and outputs as the int4 graph; the reason says why.
   */
  fourBitAsInt8?: { tensors: number; reason: string };
}

/** A variant's edge graphs: the one it serves, then its 8-bit-only fallback. */
export function edgeGraphsOf(entry: VariantEntry): EdgeGraph[] {
  const graph = entry.edgeGraph;
  return graph ? [graph, ...(graph.eightBitOnly ? [graph.eightBitOnly] : [])] : [];
}

/**
 * The onnxruntime-web WASM heap (which never shrinks) after a fresh runtime loaded the graph and ran one step at
 * batch n, for the batches measured: what a Workers isolate pays for the model besides its own JS heap.
 */
export interface EdgeMemory {
  runtime: string;
  /** Heap bytes after one step at each measured batch, ascending n. */
  heapBytes: { n: number; bytes: number }[];
  /** Growth per extra sample, from the two largest batches measured. */
  perSampleBytes: number;
}

/** The heap a batch of n needs: the measured value of the smallest measured batch >= n, else extrapolated. */
export function edgeHeapBytes(memory: EdgeMemory, n: number): number {
  const measured = memory.heapBytes.find((m) => m.n >= n);
  if (measured) return measured.bytes;
  const last = memory.heapBytes[memory.heapBytes.length - 1];
  return last.bytes + (n - last.n) * memory.perSampleBytes;
}

/** The largest batch whose heap fits `budget` bytes (0: not even n = 1), up to `limit`. */
export function largestFittingBatch(memory: EdgeMemory, budget: number, limit: number): number {
  let n = 0;
  while (n < limit && edgeHeapBytes(memory, n + 1) <= budget) n++;
  return n;
}

export interface VariantEntry {
  file: string;
  bytes: number;
  sha256: string;
  precision: string; // 'fp32', 'w8a8', 'w4a8', ...
  quantization?: QuantizationSettings;
  metrics?: Record<string, unknown>;
  /** The build report that describes this variant (a later build of other variants writes its own). */
  report?: string;
  /** Inference-only fp32: the 3x3 convs run as Winograd F(tile x tile, 3 x 3); never a quantization source. */
  winograd?: { tile: number };
  edgeGraph?: EdgeGraph;
  /** Quantized variants: PTQD's per-step epsilon correction, applied by the samplers (noise-correction.ts). */
  noiseCorrection?: NoiseCorrection;
  /**
   * The serving schedule the variant was calibrated for (build-artifact --calib-sampler with --calib-steps): its
   * calibration pairs came from this sampler's own fp32 trajectory. `toolchain sample` and the edge use it for a
   * request that names no sampler or steps.
   */
  schedule?: ServingSchedule;
}

export interface ServingSchedule {
  sampler: SamplerName;
  /** A respacing ("ddim10", "250", ...). */
  steps: string;
}

export interface Manifest {
  schema: typeof MANIFEST_SCHEMA;
  name: string;
  createdAt: string;
  model: ModelSettings;
  diffusion: DiffusionSettings;
  variants: Record<string, VariantEntry>;
  calibration?: Record<string, unknown>;
  metrics?: Record<string, unknown>;
  report?: string;
  /** Size and sha256 of every build report the manifest names (older artifacts: absent, reports unverified). */
  reports?: Record<string, { bytes: number; sha256: string }>;
  toolchain?: { version: string };
}

export class ManifestError extends Error {
  override name = 'ManifestError';
}

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function field<T>(obj: Json, path: string, key: string, check: (v: unknown) => v is T, what: string): T {
  const v = obj[key];
  if (!check(v)) throw new ManifestError(`manifest: ${path}${key} must be ${what}, got ${JSON.stringify(v)}`);
  return v;
}

const isString = (v: unknown): v is string => typeof v === 'string';
const isNonEmptyString = (v: unknown): v is string => typeof v === 'string' && v.length > 0;
const isBool = (v: unknown): v is boolean => typeof v === 'boolean';
const isPositiveInt = (v: unknown): v is number => Number.isInteger(v) && (v as number) > 0;
const isNonNegativeInt = (v: unknown): v is number => Number.isInteger(v) && (v as number) >= 0;
const isSha256 = (v: unknown): v is string => typeof v === 'string' && /^[0-9a-f]{64}$/.test(v);
const isSchedule = (v: unknown): v is NoiseScheduleName => v === 'linear' || v === 'cosine';
// A file name inside the artifact: no directories, no traversal.
const isPlainFileName = (v: unknown): v is string =>
  typeof v === 'string' && /^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(v) && !v.includes('..');

/** Validates parsed JSON as a manifest; throws ManifestError naming the first bad field. */
export function parseManifest(value: unknown): Manifest {
  if (!isObject(value)) throw new ManifestError('manifest: not a JSON object');
  if (value.schema !== MANIFEST_SCHEMA) {
    throw new ManifestError(`manifest: schema must be "${MANIFEST_SCHEMA}", got ${JSON.stringify(value.schema)}`);
  }
  field(value, '', 'name', isNonEmptyString, 'a non-empty string');
  field(value, '', 'createdAt', isString, 'an ISO date string');
  const model = field(value, '', 'model', isObject, 'an object');
  field(
    model,
    'model.',
    'architecture',
    (v): v is string => v === 'improved-diffusion-unet',
    '"improved-diffusion-unet"',
  );
  field(model, 'model.', 'imageSize', isPositiveInt, 'a positive integer');
  field(model, 'model.', 'inChannels', isPositiveInt, 'a positive integer');
  field(model, 'model.', 'outChannels', isPositiveInt, 'a positive integer');
  field(model, 'model.', 'classCond', isBool, 'a boolean');
  field(model, 'model.', 'parameters', isNonNegativeInt, 'a non-negative integer');
  field(model, 'model.', 'flags', isObject, 'an object');
  const diffusion = field(value, '', 'diffusion', isObject, 'an object');
  field(diffusion, 'diffusion.', 'diffusionSteps', isPositiveInt, 'a positive integer');
  field(diffusion, 'diffusion.', 'noiseSchedule', isSchedule, '"linear" or "cosine"');
  field(diffusion, 'diffusion.', 'learnSigma', isBool, 'a boolean');
  field(diffusion, 'diffusion.', 'rescaleTimesteps', isBool, 'a boolean');
  field(diffusion, 'diffusion.', 'timestepRespacing', isString, 'a string');
  const variants = field(value, '', 'variants', isObject, 'an object');
  if (!('fp32' in variants) && Object.keys(variants).length === 0) {
    throw new ManifestError('manifest: variants must name at least one variant');
  }
  for (const [key, entry] of Object.entries(variants)) {
    const path = `variants.${key}.`;
    if (!isObject(entry)) throw new ManifestError(`manifest: variants.${key} must be an object`);
    field(entry, path, 'file', isPlainFileName, 'a plain file name inside the artifact');
    field(entry, path, 'bytes', isNonNegativeInt, 'a byte count');
    field(entry, path, 'sha256', isSha256, 'a lowercase hex sha256');
    field(entry, path, 'precision', isNonEmptyString, 'a non-empty string');
    if (entry.report !== undefined) field(entry, path, 'report', isPlainFileName, 'a plain file name');
    if (entry.winograd !== undefined) {
      const winograd = field(entry, path, 'winograd', isObject, 'an object');
      field(winograd, `${path}winograd.`, 'tile', (v): v is number => v === 2 || v === 4, '2 or 4');
    }
    if (entry.edgeGraph !== undefined) {
      const graph = field(entry, path, 'edgeGraph', isObject, 'an object');
      checkEdgeGraph(graph, `${path}edgeGraph.`);
      if (graph.eightBitOnly !== undefined) {
        const at = `${path}edgeGraph.eightBitOnly.`;
        checkEdgeGraph(field(graph, `${path}edgeGraph.`, 'eightBitOnly', isObject, 'an object'), at);
      }
    }
  }
  for (const [key, entry] of Object.entries(variants) as [string, Json][]) {
    if (entry.schedule !== undefined)
      checkSchedule(field(entry, `variants.${key}.`, 'schedule', isObject, 'an object'), key);
  }
  for (const [key, entry] of Object.entries(variants) as [string, Json][]) {
    if (entry.noiseCorrection === undefined) continue;
    const problem = noiseCorrectionProblem(entry.noiseCorrection, model.inChannels as number);
    if (problem) throw new ManifestError(`manifest: variants.${key}.noiseCorrection: ${problem}`);
  }
  if (value.report !== undefined) field(value, '', 'report', isPlainFileName, 'a plain file name');
  if (value.reports !== undefined) {
    const reports = field(value, '', 'reports', isObject, 'an object of report files');
    for (const file of Object.keys(reports)) {
      if (!isPlainFileName(file)) throw new ManifestError(`manifest: reports names "${file}", not a plain file name`);
      const entry = field(reports as Json, 'reports.', file, isObject, '{bytes, sha256}');
      field(entry, `reports.${file}.`, 'bytes', isNonNegativeInt, 'a byte count');
      field(entry, `reports.${file}.`, 'sha256', isSha256, 'a lowercase hex sha256');
    }
  }
  return value as unknown as Manifest;
}

function checkSchedule(schedule: Json, key: string): void {
  const at = `variants.${key}.schedule.`;
  field(
    schedule,
    at,
    'sampler',
    (v): v is SamplerName => SAMPLER_NAMES.includes(v as SamplerName),
    SAMPLER_NAMES.join(' | '),
  );
  const steps = field(schedule, at, 'steps', isNonEmptyString, 'a respacing such as "ddim10"');
  try {
    parseSteps(steps);
  } catch (error) {
    throw new ManifestError(`manifest: ${at}steps: ${(error as Error).message}`);
  }
}

function checkEdgeGraph(graph: Json, at: string): void {
  field(graph, at, 'file', isPlainFileName, 'a plain file name inside the artifact');
  field(graph, at, 'bytes', isNonNegativeInt, 'a byte count');
  field(graph, at, 'sha256', isSha256, 'a lowercase hex sha256');
  field(graph, at, 'runtime', isNonEmptyString, 'a non-empty string');
  field(graph, at, 'level', isNonEmptyString, 'a non-empty string');
  if (graph.format !== undefined)
    field(graph, at, 'format', (v): v is string => v === 'onnx' || v === 'ort', "'onnx' or 'ort'");
  if (graph.memory !== undefined) checkEdgeMemory(field(graph, at, 'memory', isObject, 'an object'), `${at}memory.`);
  if (graph.fourBitAsInt8 !== undefined) {
    const widened = field(graph, at, 'fourBitAsInt8', isObject, 'an object');
    field(widened, `${at}fourBitAsInt8.`, 'tensors', isNonNegativeInt, 'a tensor count');
    field(widened, `${at}fourBitAsInt8.`, 'reason', isNonEmptyString, 'a non-empty string');
  }
}

function checkEdgeMemory(memory: Json, at: string): void {
  field(memory, at, 'runtime', isNonEmptyString, 'a non-empty string');
  field(memory, at, 'perSampleBytes', isNonNegativeInt, 'a byte count');
  const points = field(memory, at, 'heapBytes', (v): v is unknown[] => Array.isArray(v), 'a list of {n, bytes}');
  let previous = 0;
  for (const point of points) {
    const ok = isObject(point) && isNonNegativeInt(point.n) && point.n > previous && isNonNegativeInt(point.bytes);
    if (!ok) throw new ManifestError(`manifest: ${at}heapBytes must list {n, bytes} with n ascending from 1`);
    previous = point.n as number;
  }
  if (points.length === 0) throw new ManifestError(`manifest: ${at}heapBytes must list at least one batch`);
}

/**
 * Every file the manifest names, once each: variant files, their edge graphs, then reports (the variants', then
 * the latest).
 */
export function manifestFiles(manifest: Manifest): string[] {
  const variants = Object.values(manifest.variants);
  const graphs = variants.flatMap((v) => edgeGraphsOf(v).map((g) => g.file));
  const reports = [...variants.map((v) => v.report), manifest.report];
  const named = [...variants.map((v) => v.file), ...graphs, ...reports].filter((f): f is string => f !== undefined);
  return [...new Set(named)];
}
