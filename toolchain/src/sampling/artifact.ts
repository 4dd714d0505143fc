/** One call from an artifact folder to images: the library form of `toolchain sample`. */
import type { Manifest } from '@qdm/shared';
import { readArtifactManifest, readVariant } from '../artifact/folder.ts';
import type { Device } from '../runtime/devices.ts';
import { openVariant, type SampleRequest, type SampleResult, sampleWith } from './run.ts';

export interface SampleArtifactOptions extends Partial<Omit<SampleRequest, 'correction'>> {
  /** The manifest's variant: fp32 (default), int8, w4a8, ... */
  variant?: string;
  /** onnxruntime intra-op threads (default: sized from the model and the batch, as `sample` does). */
  threads?: number;
  /** Where the model runs (default cpu). */
  device?: Device;
}

/**
 * Reads `dir`'s manifest and variant (sizes checked), samples with `sample`'s defaults (16 samples, seed 0, ddim50,
 * eta 0, batch 16), applies the variant's noise correction when it has one, and releases the session.
 */
export async function sampleArtifact(
  dir: string,
  options: SampleArtifactOptions = {},
): Promise<SampleResult & { manifest: Manifest }> {
  const { variant = 'fp32', threads, device = 'cpu', ...request } = options;
  const manifest = await readArtifactManifest(dir);
  const bytes = await readVariant(dir, manifest, variant);
  const batch = request.batch ?? 16;
  const session = await openVariant(bytes, manifest, threads, device, `sample ${variant}`, batch);
  try {
    const result = await sampleWith(session.denoiser, manifest, {
      firstSample: 0,
      count: 16,
      seed: 0,
      steps: 'ddim50',
      eta: 0,
      sampler: 'ddim',
      ...request,
      batch,
      correction: manifest.variants[variant].noiseCorrection,
    });
    return { ...result, manifest };
  } finally {
    await session.release();
  }
}
