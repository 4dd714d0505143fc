/**
 * Small fake artifacts for store tests: a valid manifest (checked with parseManifest) naming variant files of
 * random bytes, plus a report per quantized variant and the latest report. No real ONNX: the stores only move and verify bytes.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MANIFEST_SCHEMA, type Manifest, parseManifest } from '@qdm/shared';

export interface FakeArtifact {
  dir: string;
  manifest: Manifest;
  manifestBytes: Buffer;
  /** Every file's bytes by file name, manifest.json included. */
  files: Map<string, Buffer>;
}

export interface FakeArtifactOptions {
  name?: string;
  /** Variant key -> byte size. */
  variants?: Record<string, number>;
  report?: boolean;
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

export async function makeFakeArtifact(dir: string, options: FakeArtifactOptions = {}): Promise<FakeArtifact> {
  const variants = options.variants ?? { fp32: 40_000, int8: 12_345 };
  await mkdir(dir, { recursive: true });
  const files = new Map<string, Buffer>();
  const entries: Manifest['variants'] = {};
  const report = options.report ?? true;
  const reportBytes = () => Buffer.from(`<!doctype html><p>report ${randomBytes(8).toString('hex')}</p>`);
  for (const [key, size] of Object.entries(variants)) {
    const file = `model.${key}.onnx`;
    const bytes = randomBytes(size);
    files.set(file, bytes);
    entries[key] = { file, bytes: size, sha256: sha256(bytes), precision: key === 'int8' ? 'w8a8' : key };
    // Quantized variants name the report of the build that made them, as build-artifact writes it.
    if (report && key !== 'fp32') {
      entries[key].report = `report.${key}.html`;
      files.set(`report.${key}.html`, reportBytes());
    }
  }
  if (report) files.set('report.html', reportBytes());
  const manifest = parseManifest({
    schema: MANIFEST_SCHEMA,
    name: options.name ?? 'fake',
    createdAt: new Date().toISOString(),
    model: {
      architecture: 'improved-diffusion-unet',
      imageSize: 32,
      inChannels: 3,
      outChannels: 3,
      classCond: false,
      parameters: 1,
      flags: {},
    },
    diffusion: {
      diffusionSteps: 1000,
      noiseSchedule: 'linear',
      learnSigma: false,
      rescaleTimesteps: false,
      timestepRespacing: '',
    },
    variants: entries,
    ...(report ? { report: 'report.html' } : {}),
    // Every report with its size and sha256, as build-artifact records them.
    ...(report
      ? {
          reports: Object.fromEntries(
            [...files]
              .filter(([f]) => f.startsWith('report'))
              .map(([f, b]) => [f, { bytes: b.length, sha256: sha256(b) }]),
          ),
        }
      : {}),
  });
  const manifestBytes = Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`);
  files.set('manifest.json', manifestBytes);
  for (const [file, bytes] of files) await writeFile(join(dir, file), bytes);
  return { dir, manifest, manifestBytes, files };
}
