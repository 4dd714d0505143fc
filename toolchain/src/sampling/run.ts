/**
 * Sampling from an artifact variant with onnxruntime-node: seeded x_T per sample index (so a shard of a run, or
 * one sample alone, gives exactly the images of the full run), DDIM, ancestral DDPM or DPM-Solver++(2M) from
 * @qdm/shared.
 */
import {
  createDiffusion,
  type Denoiser,
  type Manifest,
  type NoiseCorrection,
  parseSteps,
  type SamplerName,
  type SpacedDiffusion,
  sampleBy,
  toUint8NHWC,
} from '@qdm/shared';
import { parseFlags } from '../models/flags.ts';
import { unetConvMacs, unetLayout } from '../models/unet-layout.ts';
import type { Device } from '../runtime/devices.ts';
import { createSession, type Session, sessionDenoiser } from '../runtime/ort.ts';

export type { SamplerName };

export interface SampleRequest {
  /** Global index of the first sample (shards start past 0) and how many to make. */
  firstSample: number;
  count: number;
  seed: number;
  steps: string | number;
  eta: number;
  batch: number;
  sampler: SamplerName;
  clipDenoised?: boolean;
  /** Replaces the seeded x_T: [count, C, H, W]. */
  initNoise?: Float32Array;
  /** The variant's PTQD coefficients (manifest `noiseCorrection`); absent: the model output as is. */
  correction?: NoiseCorrection;
  onProgress?: (done: number, total: number) => void;
  signal?: AbortSignal;
}

export interface SampleResult {
  /** float32 NCHW in [-1, 1]. */
  raw: Float32Array;
  /** uint8 NHWC, the evaluator layout. */
  images: Uint8Array;
  shape: [number, number, number];
  diffusion: SpacedDiffusion;
}

export function diffusionFor(manifest: Manifest, steps: string | number): SpacedDiffusion {
  const { diffusionSteps, noiseSchedule, learnSigma, rescaleTimesteps } = manifest.diffusion;
  return createDiffusion(
    { diffusionSteps, noiseSchedule, learnSigma, rescaleTimesteps },
    parseSteps(steps, diffusionSteps),
  );
}

/** Runs the sampler over `count` samples in batches against any Denoiser (ORT session, quantized model...). */
export async function sampleWith(
  denoiser: Denoiser,
  manifest: Manifest,
  request: SampleRequest,
): Promise<SampleResult> {
  const diffusion = diffusionFor(manifest, request.steps);
  const shape: [number, number, number] = [
    manifest.model.inChannels,
    manifest.model.imageSize,
    manifest.model.imageSize,
  ];
  const size = shape[0] * shape[1] * shape[2];
  if (request.initNoise && request.initNoise.length !== request.count * size) {
    throw new Error(
      `--init-noise holds ${request.initNoise.length / size} samples of ${shape.join('x')}, expected ${request.count}`,
    );
  }
  const raw = new Float32Array(request.count * size);
  const totalSteps = Math.ceil(request.count / request.batch) * diffusion.numSteps;
  let stepsDone = 0;
  for (let offset = 0; offset < request.count; offset += request.batch) {
    const batch = Math.min(request.batch, request.count - offset);
    const x0 = await sampleBy(request.sampler, denoiser, {
      diffusion,
      shape,
      batch,
      seed: request.seed,
      firstSample: request.firstSample + offset,
      eta: request.eta,
      clipDenoised: request.clipDenoised ?? true,
      initNoise: request.initNoise?.subarray(offset * size, (offset + batch) * size),
      correction: request.correction,
      signal: request.signal,
      onStep: () => request.onProgress?.(++stepsDone, totalSteps),
    });
    raw.set(x0, offset * size);
  }
  const images = toUint8NHWC(raw, request.count, shape[0], shape[1], shape[2]);
  return { raw, images, shape, diffusion };
}

export interface VariantSession {
  session: Session;
  denoiser: Denoiser;
  release(): Promise<void>;
}

export async function openVariant(
  modelBytes: Uint8Array,
  manifest: Manifest,
  threads?: number,
  device: Device = 'cpu',
  label?: string,
  batch?: number,
): Promise<VariantSession> {
  // The batch it will run at sizes the intra-op threads when `threads` is not given (chooseThreads).
  const macs = batch === undefined ? undefined : variantMacs(manifest);
  const work = macs === undefined ? undefined : { macsPerRun: macs * (batch ?? 1) };
  const session = await createSession(modelBytes, { threads, work, optimization: 'all', device, label });
  const shape: [number, number, number] = [
    manifest.model.inChannels,
    manifest.model.imageSize,
    manifest.model.imageSize,
  ];
  return {
    session,
    denoiser: sessionDenoiser(session, { shape, learnSigma: manifest.diffusion.learnSigma }),
    release: () => session.release(),
  };
}

/** Multiply-accumulates per sample of the manifest's U-Net (its 3x3 convs); undefined if the flags do not parse. */
function variantMacs(manifest: Manifest): number | undefined {
  try {
    return unetConvMacs(unetLayout(parseFlags(manifest.model.flags).unet));
  } catch {
    return undefined;
  }
}

/** `--shard i/n` -> the sample index range of shard i: [floor(i*N/n), floor((i+1)*N/n)). */
export function shardRange(
  shard: { index: number; of: number },
  total: number,
): { first: number; count: number; index: number; of: number } {
  const { index, of } = shard;
  const first = Math.floor((index * total) / of);
  const end = Math.floor(((index + 1) * total) / of);
  return { first, count: end - first, index, of };
}
