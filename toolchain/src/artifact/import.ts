/**
 * checkpoint + flags -> an fp32 artifact folder: `model.fp32.onnx` and a manifest with the diffusion settings,
 * sizes and sha256 of every file. The graph is validated against the weights before anything is written.
 */
import { readFile } from 'node:fs/promises';
import { basename, resolve } from 'node:path';
import { MANIFEST_SCHEMA, type Manifest } from '@qdm/shared';
import { countParameters, readCheckpoint } from '../checkpoint/index.ts';
import { type ImprovedDiffusionFlags, parseFlags } from '../models/flags.ts';
import { buildUNet } from '../models/unet.ts';
import { encodeModel } from '../onnx/model.ts';
import type { WinogradTile } from '../onnx/winograd.ts';
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
  /** Also write the inference-only `fp32-winograd` variant with this tile (faster fp32 on CPU). */
  winograd?: WinogradTile;
  log?: (message: string) => void;
}

export interface ImportResult {
  manifest: Manifest;
  outDir: string;
  fp32Bytes: number;
  parameters: number;
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
  if (options.winograd) {
    log(`building the Winograd F(${options.winograd}x${options.winograd},3x3) graph`);
    winogradBytes = encodeModel(buildUNet(unet, checkpoint.tensors, { ...graphOptions, winograd: options.winograd }));
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
  return { manifest, outDir, fp32Bytes: bytes.length, parameters };
}
