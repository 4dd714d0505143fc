/** The source side of a publish: an artifact folder on disk, checked against its own manifest before it moves. */
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { MANIFEST_FILE, type Manifest } from '@qdm/shared';
import type { StoredFile, TransferOptions } from './artifact-store.ts';
import { hashFile, sha256Hex } from './digest.ts';
import { StoreError, storeError } from './errors.ts';
import { decodeManifest, type ExpectedFile, expectedFiles } from './manifest-file.ts';

export interface LocalArtifact {
  dir: string;
  manifest: Manifest;
  raw: Uint8Array;
  manifestSha256: string;
  files: ExpectedFile[];
}

export async function readLocalArtifact(dir: string): Promise<LocalArtifact> {
  const path = join(dir, MANIFEST_FILE);
  let raw: Uint8Array;
  try {
    raw = new Uint8Array(await readFile(path));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new StoreError(dir, `not an artifact folder (no ${MANIFEST_FILE})`, { cause: error });
    }
    throw storeError(path, 'reading the manifest', error);
  }
  const manifest = decodeManifest(raw, path);
  return { dir, manifest, raw, manifestSha256: sha256Hex(raw), files: expectedFiles(manifest) };
}

/** Size of one file of the folder; StoreError naming the file if missing or not the recorded size. */
export async function localFileSize(dir: string, expected: ExpectedFile): Promise<number> {
  const path = join(dir, expected.file);
  const info = await stat(path).catch((error: unknown) => {
    throw new StoreError(path, 'missing (named by the manifest)', { cause: error });
  });
  if (expected.bytes !== undefined && info.size !== expected.bytes) {
    throw new StoreError(path, `${info.size} bytes, the manifest records ${expected.bytes}; refusing to publish`);
  }
  return info.size;
}

/**
 * Hashes every file the manifest names and refuses (StoreError) the first whose bytes differ from the manifest,
 * before anything is uploaded. Progress phase: 'verify'.
 */
export async function verifyLocalArtifact(
  artifact: LocalArtifact,
  options: TransferOptions = {},
): Promise<StoredFile[]> {
  const verified: StoredFile[] = [];
  for (const expected of artifact.files) {
    const bytesTotal = await localFileSize(artifact.dir, expected);
    const path = join(artifact.dir, expected.file);
    const report = (bytesDone: number) =>
      options.onProgress?.({ file: expected.file, phase: 'verify', bytesDone, bytesTotal });
    report(0);
    const digest = await hashFile(path, { onBytes: report, signal: options.signal }).catch((error: unknown) => {
      throw storeError(path, 'reading', error);
    });
    if (expected.sha256 !== undefined && digest.sha256 !== expected.sha256) {
      throw new StoreError(
        path,
        `sha256 ${digest.sha256} does not match the manifest's ${expected.sha256}; refusing to publish`,
      );
    }
    verified.push({ file: expected.file, bytes: digest.bytes, sha256: expected.sha256 });
  }
  return verified;
}
