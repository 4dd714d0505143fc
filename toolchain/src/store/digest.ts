/** sha256 over files and streams; every byte a store moves is checked against the manifest. */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { pipeline, type Readable, Transform } from 'node:stream';
import { StoreError } from './errors.ts';

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

export interface FileDigest {
  sha256: string;
  bytes: number;
}

/** Streams a file through sha256; `onBytes` sees the running byte count. */
export async function hashFile(
  path: string,
  options: { onBytes?: (done: number) => void; signal?: AbortSignal } = {},
): Promise<FileDigest> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of createReadStream(path, { signal: options.signal })) {
    hash.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
    options.onBytes?.(bytes);
  }
  return { sha256: hash.digest('hex'), bytes };
}

export interface Expected {
  /** Byte count the manifest records; unknown for files it names without a size (the report). */
  bytes?: number;
  sha256?: string;
}

/**
 * A pass-through that hashes what flows by and fails the stream if the bytes differ from `expected`, so a
 * consumer that reads to the end has either the exact manifest bytes or an error. `onBytes` gets the running count.
 */
export function verifier(where: string, expected: Expected, onBytes?: (done: number) => void): Transform {
  const hash = createHash('sha256');
  let bytes = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      bytes += chunk.length;
      if (expected.bytes !== undefined && bytes > expected.bytes) {
        callback(new StoreError(where, `more than the ${expected.bytes} bytes the manifest records`));
        return;
      }
      hash.update(chunk);
      onBytes?.(bytes);
      callback(null, chunk);
    },
    flush(callback) {
      if (expected.bytes !== undefined && bytes !== expected.bytes) {
        callback(new StoreError(where, `${bytes} bytes, the manifest records ${expected.bytes} (truncated?)`));
        return;
      }
      const sha256 = hash.digest('hex');
      if (expected.sha256 !== undefined && sha256 !== expected.sha256) {
        callback(new StoreError(where, `sha256 ${sha256} does not match the manifest's ${expected.sha256}`));
        return;
      }
      callback();
    },
  });
}

/** `source` as a stream that errors unless its bytes match `expected` (source errors are forwarded too). */
export function verifiedStream(source: Readable, where: string, expected: Expected): Readable {
  return pipeline(source, verifier(where, expected), () => {
    // NOTE: errors reach the consumer through the returned stream; pipeline only needs a callback to not throw.
  });
}
