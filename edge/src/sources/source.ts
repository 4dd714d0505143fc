import type { Manifest } from '@qdm/shared';

/**
 * Where artifacts come from: a local folder (Node), S3 (Node) or an R2 binding (Workers). A source only reads;
 * integrity is checked by the caller against the manifest (see verify.ts), the same way for every source.
 */
export interface ArtifactSource {
  /** Human-readable location for messages: "folder /srv/artifacts", "s3://bucket/prefix", "r2 ARTIFACTS/prefix". */
  readonly location: string;
  /** Names of the artifacts that have a published manifest. */
  names(): Promise<string[]>;
  /** The artifact's current manifest, or undefined when there is no such artifact. */
  open(name: string): Promise<ArtifactSnapshot | undefined>;
  /** The bytes of one file of that snapshot (unverified). */
  readFile(snapshot: ArtifactSnapshot, file: string): Promise<Uint8Array>;
  /** The same bytes as they arrive, for readers that place them elsewhere (a runtime's heap) without a JS copy. */
  readChunks?(snapshot: ArtifactSnapshot, file: string): AsyncIterable<Uint8Array>;
}

/** A Web ReadableStream as an async iterable (workerd and Node both have streams; iteration support varies). */
export async function* streamChunks(stream: ReadableStream<Uint8Array>): AsyncIterable<Uint8Array> {
  const reader = stream.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      yield value;
    }
  } finally {
    reader.releaseLock();
  }
}

export interface ArtifactSnapshot {
  name: string;
  /** Object stores publish immutable versions; a folder has none. */
  version?: string;
  manifest: Manifest;
}

/** A store could not be read, or holds something that is not a valid artifact. Names the source. */
export class SourceError extends Error {
  override name = 'SourceError';
}

/** Bytes that do not match what the manifest (or latest.json) promises. */
export class IntegrityError extends Error {
  override name = 'IntegrityError';
}

export const ARTIFACT_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
