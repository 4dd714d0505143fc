/**
 * Uploads one local file to one key: a single PutObject up to the multipart threshold, above it a multipart
 * upload (CreateMultipartUpload, UploadPart with bounded concurrency, CompleteMultipartUpload; aborted on
 * failure). Parts are read into buffers one at a time per slot, never the whole file, so memory stays at about
 * concurrency x part size, and a buffered part is what lets the SDK's retries resend it after a 5xx or a reset.
 */

import { type FileHandle, open } from 'node:fs/promises';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { StoreError, storeError } from './errors.ts';
import type { S3Objects } from './s3-objects.ts';
import { mapLimit } from './task-pool.ts';

export const MiB = 1024 * 1024;

export interface UploadSettings {
  /** Multipart part size in bytes (default 16 MiB; S3 needs >= 5 MiB for all parts but the last). */
  partSize: number;
  /** Files larger than this use multipart (default 16 MiB). */
  multipartThreshold: number;
  /** Parts in flight at once (default 4). */
  concurrency: number;
}

export const DEFAULT_UPLOAD: UploadSettings = { partSize: 16 * MiB, multipartThreshold: 16 * MiB, concurrency: 4 };

// NOTE: S3 allows at most 10,000 parts; bigger files get bigger parts.
const MAX_PARTS = 10_000;

export interface UploadRequest {
  path: string;
  key: string;
  size: number;
  contentType: string;
  cacheControl: string;
  onBytes?: (done: number) => void;
  signal?: AbortSignal;
}

async function readRange(handle: FileHandle, offset: number, length: number, path: string): Promise<Buffer> {
  const buffer = Buffer.allocUnsafe(length);
  let filled = 0;
  while (filled < length) {
    const { bytesRead } = await handle.read(buffer, filled, length - filled, offset + filled);
    if (bytesRead === 0) throw new StoreError(path, `ended at ${offset + filled} bytes while uploading (changed?)`);
    filled += bytesRead;
  }
  return buffer;
}

export function partSizeFor(size: number, settings: UploadSettings): number {
  return Math.max(settings.partSize, Math.ceil(size / MAX_PARTS));
}

export async function uploadFile(objects: S3Objects, request: UploadRequest, settings: UploadSettings): Promise<void> {
  const handle = await open(request.path, 'r').catch((error: unknown) => {
    throw storeError(request.path, 'opening', error);
  });
  try {
    if (request.size <= settings.multipartThreshold) {
      const body = await readRange(handle, 0, request.size, request.path);
      await objects.put(request.key, body, {
        contentType: request.contentType,
        cacheControl: request.cacheControl,
        signal: request.signal,
      });
      request.onBytes?.(request.size);
    } else {
      await uploadMultipart(objects, handle, request, settings);
    }
  } finally {
    await handle.close();
  }
}

async function uploadMultipart(
  objects: S3Objects,
  handle: FileHandle,
  request: UploadRequest,
  settings: UploadSettings,
): Promise<void> {
  const { client, bucket } = objects;
  const where = objects.url(request.key);
  const created = await client
    .send(
      new CreateMultipartUploadCommand({
        Bucket: bucket,
        Key: request.key,
        ContentType: request.contentType,
        CacheControl: request.cacheControl,
      }),
      { abortSignal: request.signal },
    )
    .catch((error: unknown) => {
      throw storeError(where, 'starting a multipart upload', error);
    });
  const uploadId = created.UploadId;
  if (!uploadId) throw new StoreError(where, 'the server returned no multipart UploadId');
  const partSize = partSizeFor(request.size, settings);
  const count = Math.ceil(request.size / partSize);
  let done = 0;
  try {
    const parts = await mapLimit(
      Array.from({ length: count }, (_, i) => i),
      settings.concurrency,
      async (index, _i, signal) => {
        const offset = index * partSize;
        const body = await readRange(handle, offset, Math.min(partSize, request.size - offset), request.path);
        const out = await client.send(
          new UploadPartCommand({
            Bucket: bucket,
            Key: request.key,
            UploadId: uploadId,
            PartNumber: index + 1,
            Body: body,
            ContentLength: body.length,
          }),
          { abortSignal: signal },
        );
        if (!out.ETag) throw new StoreError(where, `part ${index + 1}: the server returned no ETag`);
        done += body.length;
        request.onBytes?.(done);
        return { PartNumber: index + 1, ETag: out.ETag };
      },
      request.signal,
    );
    await client.send(
      new CompleteMultipartUploadCommand({
        Bucket: bucket,
        Key: request.key,
        UploadId: uploadId,
        MultipartUpload: { Parts: parts },
      }),
      { abortSignal: request.signal },
    );
  } catch (error) {
    await abortUpload(objects, request.key, uploadId);
    throw storeError(where, 'multipart upload', error);
  }
}

/**
 * Best effort: some S3-compatible servers (s3rver) do not implement AbortMultipartUpload, and a killed process
 * cannot call it at all. Orphaned parts are invisible to readers; a bucket lifecycle rule
 * (AbortIncompleteMultipartUpload) reclaims their storage on S3 and R2.
 */
async function abortUpload(objects: S3Objects, key: string, uploadId: string): Promise<void> {
  try {
    await objects.client.send(
      new AbortMultipartUploadCommand({ Bucket: objects.bucket, Key: key, UploadId: uploadId }),
      { abortSignal: AbortSignal.timeout(10_000) },
    );
  } catch {
    // ignored, see above
  }
}
