/**
 * Publishing one artifact version to S3, atomic by layout (shared/src/store-layout.ts):
 *  1. the local folder is checked first: every file the manifest names must have its recorded size and sha256,
 *     or nothing is uploaded;
 *  2. every file goes to `<artifact>/versions/<version>/<file>` and its size is confirmed with HEAD;
 *  3. then `versions/<version>/manifest.json` (the exact local bytes);
 *  4. then `<artifact>/latest.json` moves to the new version, pinning the manifest's sha256.
 * Readers resolve latest.json first, so until step 4 they see the previous version, complete. A publish that
 * dies earlier leaves an unreferenced `versions/<version>/` prefix (and possibly incomplete multipart uploads):
 * garbage that is never read. Old versions are kept (rollback = pointing latest.json back); nothing prunes them.
 */
import { randomBytes } from 'node:crypto';
import { extname, join } from 'node:path';
import {
  LATEST_POINTER,
  type LatestPointer,
  latestKey,
  MANIFEST_FILE,
  newVersionId,
  versionFileKey,
  versionPrefix,
} from '@qdm/shared';
import type { PublishOptions, PublishResult } from './artifact-store.ts';
import { StoreError, storeError } from './errors.ts';
import { readLocalArtifact, verifyLocalArtifact } from './local-artifact.ts';
import type { S3Objects } from './s3-objects.ts';
import { type UploadSettings, uploadFile } from './s3-upload.ts';

const IMMUTABLE = 'public, max-age=31536000, immutable';
const MUTABLE = 'no-cache';

function contentType(file: string): string {
  const types: Record<string, string> = {
    '.json': 'application/json',
    '.html': 'text/html; charset=utf-8',
    '.onnx': 'application/octet-stream',
  };
  return types[extname(file).toLowerCase()] ?? 'application/octet-stream';
}

export interface S3Artifact {
  objects: S3Objects;
  name: string;
  /** `<root prefix>/<name>` */
  prefix: string;
  /** The current pointer, or undefined if the artifact was never completely published. */
  latest: LatestPointer | undefined;
}

export async function publishVersion(
  target: S3Artifact,
  dir: string,
  upload: UploadSettings,
  options: PublishOptions = {},
): Promise<PublishResult> {
  const { objects, prefix, name } = target;
  const artifact = await readLocalArtifact(dir);
  if (!options.force && target.latest?.manifestSha256 === artifact.manifestSha256) {
    return {
      name,
      version: target.latest.version,
      location: objects.url(versionFileKey(prefix, target.latest.version, MANIFEST_FILE)),
      manifestSha256: artifact.manifestSha256,
      files: artifact.files.map((f) => ({ file: f.file, bytes: f.bytes ?? 0, sha256: f.sha256 })),
      bytes: 0,
      unchanged: true,
    };
  }
  const files = await verifyLocalArtifact(artifact, options);
  const version = newVersionId(new Date(), randomBytes(4).toString('hex'));
  const where = objects.url(versionPrefix(prefix, version));
  let uploaded = 0;
  try {
    for (const file of files) {
      const key = versionFileKey(prefix, version, file.file);
      const report = (bytesDone: number) =>
        options.onProgress?.({ file: file.file, phase: 'upload', bytesDone, bytesTotal: file.bytes });
      report(0);
      const request = { path: join(dir, file.file), key, size: file.bytes, signal: options.signal, onBytes: report };
      await uploadFile(objects, { ...request, contentType: contentType(file.file), cacheControl: IMMUTABLE }, upload);
      const stored = await objects.size(key, options.signal);
      if (stored !== file.bytes) {
        throw new StoreError(objects.url(key), `stored ${stored} bytes after uploading ${file.bytes}`);
      }
      uploaded += file.bytes;
    }
    options.signal?.throwIfAborted();
    await objects.put(versionFileKey(prefix, version, MANIFEST_FILE), artifact.raw, {
      contentType: contentType(MANIFEST_FILE),
      cacheControl: IMMUTABLE,
      signal: options.signal,
    });
    options.signal?.throwIfAborted();
    const pointer: LatestPointer = {
      version,
      manifestSha256: artifact.manifestSha256,
      publishedAt: new Date().toISOString(),
    };
    await objects.put(latestKey(prefix), new TextEncoder().encode(`${JSON.stringify(pointer)}\n`), {
      contentType: contentType(LATEST_POINTER),
      cacheControl: MUTABLE,
      signal: options.signal,
    });
  } catch (error) {
    const failed = storeError(where, 'publishing', error);
    throw new StoreError(failed.where, `${failed.detail}; ${previousNote(target)}`, { cause: error });
  }
  return {
    name,
    version,
    location: objects.url(versionFileKey(prefix, version, MANIFEST_FILE)),
    manifestSha256: artifact.manifestSha256,
    files,
    bytes: uploaded,
    unchanged: false,
  };
}

function previousNote(target: S3Artifact): string {
  return target.latest
    ? `latest still points to the previous version ${target.latest.version}`
    : 'the artifact has no published version yet';
}
