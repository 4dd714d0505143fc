/**
 * A local artifact folder: `manifest.json` beside the variant files. Every write goes to a temporary name in the
 * same folder and is renamed into place (atomic on POSIX), and the manifest is always written last, so a reader
 * never sees a manifest that names a missing or half-written file.
 */
import { mkdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { MANIFEST_FILE, type Manifest, ManifestError, parseManifest } from '@qdm/shared';
import { CLIError } from '../errors.ts';
import { sha256Hex } from '../store/digest.ts';
import { writeBytesAtomic } from '../store/folder-writer.ts';

export class ArtifactError extends CLIError {
  override name = 'ArtifactError';
}

export { sha256Hex as sha256Bytes };

/** Writes bytes (or text) to `dir/name` atomically, creating `dir` if needed. */
export async function writeFileAtomic(dir: string, name: string, bytes: Uint8Array | string): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeBytesAtomic(dir, name, typeof bytes === 'string' ? new TextEncoder().encode(bytes) : bytes);
}

export async function readArtifactManifest(dir: string): Promise<Manifest> {
  const path = join(dir, MANIFEST_FILE);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new ArtifactError(
        `${dir}: not an artifact folder (no ${MANIFEST_FILE}); create one with \`toolchain import\``,
      );
    }
    throw error;
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new ArtifactError(`${path}: not valid JSON`);
  }
  try {
    return parseManifest(json);
  } catch (error) {
    if (error instanceof ManifestError) throw new ArtifactError(`${path}: ${error.message}`);
    throw error;
  }
}

export async function writeArtifactManifest(dir: string, manifest: Manifest): Promise<void> {
  parseManifest(manifest); // never write a manifest the edge would refuse
  await writeFileAtomic(dir, MANIFEST_FILE, `${JSON.stringify(manifest, null, 2)}\n`);
}

/** Reads a variant's ONNX bytes and checks them against the manifest (size and sha256). */
export async function readVariant(dir: string, manifest: Manifest, variant: string): Promise<Uint8Array> {
  const entry = manifest.variants[variant];
  if (!entry) {
    const known = Object.keys(manifest.variants).join(', ');
    throw new ArtifactError(`${dir}: no variant "${variant}" (the manifest has: ${known})`);
  }
  const path = join(dir, entry.file);
  const info = await stat(path).catch(() => null);
  if (!info) throw new ArtifactError(`${path}: missing (named by the manifest for variant "${variant}")`);
  if (info.size !== entry.bytes) {
    throw new ArtifactError(`${path}: ${info.size} bytes, the manifest says ${entry.bytes}`);
  }
  const bytes = new Uint8Array(await readFile(path));
  const digest = sha256Hex(bytes);
  if (digest !== entry.sha256) throw new ArtifactError(`${path}: sha256 ${digest} does not match the manifest`);
  return bytes;
}
