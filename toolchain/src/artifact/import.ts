/**
 * checkpoint + flags -> an fp32 artifact folder: `model.fp32.onnx` and a manifest with the diffusion settings,
 * sizes and sha256 of every file. The graph is validated against the weights before anything is written.
 */
import { readFile } from 'node:fs/promises';
import { basename, resolve } from 'node:path';
import { MANIFEST_SCHEMA, type Manifest, type Tensor } from '@qdm/shared';
import { countParameters, readCheckpoint } from '../checkpoint/index.ts';
import { type ImprovedDiffusionFlags, parseFlags, type UNetFlags } from '../models/flags.ts';
import { buildUNet, winogradCandidates } from '../models/unet.ts';
import { unetConvMacs, unetLayout } from '../models/unet-layout.ts';
import { encodeModel } from '../onnx/model.ts';
import type { WinogradTile } from '../onnx/winograd.ts';
import {
  chooseWinogradShapes,
  distinctShapes,
  keepWinogradGraph,
  shapeKey,
  WINOGRAD_MARGIN,
  type WinogradTimings,
} from '../onnx/winograd-choice.ts';
import { timeConvForms, timeGraphs } from '../runtime/conv-timing.ts';
import { chooseThreads } from '../runtime/ort.ts';
import { ArtifactError, sha256Bytes, writeArtifactManifest, writeFileAtomic } from './folder.ts';

export const FP32_FILE = 'model.fp32.onnx';
export const WINOGRAD_VARIANT = 'fp32-winograd';
const WINOGRAD_FILE = 'model.fp32-winograd.onnx';
export const TOOLCHAIN_VERSION = '0.1.0';

/** `--flags` takes a JSON file, a text file holding improved-diffusion's flags, or the flags string itself. */
export async function loadFlags(value: string): Promise<ImprovedDiffusionFlags> {
  const trimmed = value.trim();
  if (trimmed.startsWith('--') || /^[A-Z_]+=/.test(trimmed)) return parseFlags(trimmed);
  if (trimmed.startsWith('{')) return parseFlags(JSON.parse(trimmed) as object);
  let text: string;
  try {
    text = await readFile(value, 'utf8');
  } catch {
    throw new ArtifactError(`--flags: ${value} is neither a readable file nor a flags string ("--image_size 32 ...")`);
  }
  const body = text.trim();
  if (body.startsWith('{')) {
    let json: unknown;
    try {
      json = JSON.parse(body);
    } catch (error) {
      throw new ArtifactError(`--flags: ${value} is not valid JSON (${(error as Error).message})`);
    }
    return parseFlags(json as object);
  }
  return parseFlags(body.replace(/\n/g, ' '));
}

export interface ImportOptions {
  checkpoint: string;
  flags: ImprovedDiffusionFlags;
  outDir: string;
  name?: string;
  /**
   * Also write the inference-only `fp32-winograd` variant with this tile, on the convs where it measured faster
   * (see decideWinograd); none is written if no conv, or the whole graph, was faster.
   */
  winograd?: WinogradTile;
  /** Timings recorded by an earlier import (its `winograd.timings`): replayed instead of measuring. */
  winogradTimings?: WinogradTimings;
  /** Intra-op threads the Winograd timings run on; default: what `sample` picks at each batch (chooseThreads). */
  threads?: number;
  log?: (message: string) => void;
}

/** What `--winograd` decided, from which timings (enough to replay it with `--winograd-timings`). */
export interface WinogradDecision {
  tile: WinogradTile;
  written: boolean;
  /** The convs rewritten in `fp32-winograd` (empty when it was not written). */
  convs: string[];
  reason: string;
  timings: WinogradTimings;
}

export interface ImportResult {
  manifest: Manifest;
  outDir: string;
  fp32Bytes: number;
  parameters: number;
  winograd?: WinogradDecision;
}

/** Batches the Winograd decision is timed at: one sample (the edge) and `sample`'s default batch. */
export const WINOGRAD_BATCHES = [1, 16];

interface WinogradBuild {
  unet: UNetFlags;
  tensors: Map<string, Tensor>;
  graphOptions: { producerVersion: string; metadata: Record<string, string> };
  plainBytes: Uint8Array;
}

/**
 * Times each distinct candidate conv shape in both forms (or replays `recorded`), rewrites the shapes where
 * Winograd was faster at every batch, then times the whole graph against the plain one and keeps it only if it
 * is faster too (onnx/winograd-choice.ts).
 */
async function decideWinograd(
  build: WinogradBuild,
  tile: WinogradTile,
  options: ImportOptions,
  log: (message: string) => void,
): Promise<{ decision: WinogradDecision; bytes?: Uint8Array }> {
  const layout = unetLayout(build.unet);
  const candidates = winogradCandidates(layout, tile);
  const macs = unetConvMacs(layout);
  const threadsFor = (batch: number) => options.threads ?? chooseThreads(macs * batch);
  const batches = WINOGRAD_BATCHES;
  let timings: WinogradTimings;
  if (options.winogradTimings) {
    timings = options.winogradTimings;
  } else {
    const shapes = distinctShapes(candidates);
    log(
      `timing ${shapes.length} conv shapes, plain and Winograd F(${tile}x${tile},3x3), at batch ${batches.join(' and ')}`,
    );
    timings = { tile, convs: await timeConvForms(shapes, { tile, batches, threadsFor }) };
  }
  const chosen = chooseWinogradShapes(timings.convs);
  const convs = candidates.filter((c) => chosen.has(shapeKey(c))).map((c) => c.path);
  const notWritten = (reason: string) => ({ decision: { tile, written: false, convs: [], reason, timings } });
  if (convs.length === 0) {
    return notWritten(`no conv shape ran at most ${WINOGRAD_MARGIN}x the plain time as Winograd at every batch`);
  }
  const bytes = encodeModel(
    buildUNet(build.unet, build.tensors, { ...build.graphOptions, winograd: tile, winogradPaths: convs }),
  );
  if (!timings.graph) {
    log(`timing the whole graph with ${convs.length} Winograd convs against the plain one`);
    const input = { channels: layout.inChannels, size: build.unet.imageSize, classCond: build.unet.classCond };
    timings = { ...timings, graph: await timeGraphs(build.plainBytes, bytes, input, { batches, threadsFor }) };
  }
  const whole = (timings.graph ?? [])
    .map((g) => `batch ${g.batch}: ${g.winogradMs.toFixed(1)} vs ${g.plainMs.toFixed(1)} ms`)
    .join(', ');
  if (!keepWinogradGraph(timings.graph ?? [])) {
    return notWritten(`the whole Winograd graph was not at most ${WINOGRAD_MARGIN}x the plain time (${whole})`);
  }
  const reason = `${convs.length} of ${candidates.length} candidate convs faster as Winograd; whole graph ${whole}`;
  return { decision: { tile, written: true, convs, reason, timings }, bytes };
}

export async function importCheckpoint(options: ImportOptions): Promise<ImportResult> {
  const log = options.log ?? (() => {});
  const outDir = resolve(options.outDir);
  log(`reading ${options.checkpoint}`);
  const checkpoint = await readCheckpoint(options.checkpoint);
  const { unet, diffusion, flags } = options.flags;
  const parameters = countParameters(checkpoint.tensors);
  log(`${checkpoint.tensors.size} tensors, ${(parameters / 1e6).toFixed(2)}M parameters; building the ONNX graph`);
  const graphOptions = {
    producerVersion: TOOLCHAIN_VERSION,
    metadata: { 'qdm.checkpoint.sha256': checkpoint.sha256 },
  };
  const bytes = encodeModel(buildUNet(unet, checkpoint.tensors, graphOptions));
  const variants: Manifest['variants'] = {
    fp32: { file: FP32_FILE, bytes: bytes.length, sha256: sha256Bytes(bytes), precision: 'fp32' },
  };
  let winogradBytes: Uint8Array | undefined;
  let winograd: WinogradDecision | undefined;
  if (options.winograd) {
    const build = { unet, tensors: checkpoint.tensors, graphOptions, plainBytes: bytes };
    const decided = await decideWinograd(build, options.winograd, options, log);
    winograd = decided.decision;
    winogradBytes = decided.bytes;
    log(`${WINOGRAD_VARIANT} ${winograd.written ? 'written' : 'not written'}: ${winograd.reason}`);
  }
  if (options.winograd && winogradBytes) {
    variants[WINOGRAD_VARIANT] = {
      file: WINOGRAD_FILE,
      bytes: winogradBytes.length,
      sha256: sha256Bytes(winogradBytes),
      precision: 'fp32',
      winograd: { tile: options.winograd },
    };
  }
  const manifest: Manifest = {
    schema: MANIFEST_SCHEMA,
    name: options.name ?? basename(outDir),
    createdAt: new Date().toISOString(),
    model: {
      architecture: 'improved-diffusion-unet',
      imageSize: unet.imageSize,
      inChannels: 3,
      outChannels: unet.learnSigma ? 6 : 3,
      classCond: unet.classCond,
      parameters,
      flags,
      checkpoint: { file: basename(options.checkpoint), sha256: checkpoint.sha256, bytes: checkpoint.bytes },
    },
    diffusion: {
      diffusionSteps: diffusion.diffusionSteps,
      noiseSchedule: diffusion.noiseSchedule,
      learnSigma: diffusion.learnSigma,
      rescaleTimesteps: diffusion.rescaleTimesteps,
      timestepRespacing: diffusion.timestepRespacing,
    },
    variants,
    toolchain: { version: TOOLCHAIN_VERSION },
  };
  log(`writing ${outDir}`);
  await writeFileAtomic(outDir, FP32_FILE, bytes);
  if (winogradBytes) await writeFileAtomic(outDir, WINOGRAD_FILE, winogradBytes);
  await writeArtifactManifest(outDir, manifest);
  return { manifest, outDir, fp32Bytes: bytes.length, parameters, winograd };
}
