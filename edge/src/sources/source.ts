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
