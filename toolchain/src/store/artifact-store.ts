/**
 * The ArtifactStore interface: a root (local folder or S3 prefix) holding named artifacts. Both backends publish
 * atomically (files first, manifest last; S3 then moves `latest.json`), and every read is checked against the
 * manifest's sha256, so a reader sees the previous complete artifact or the new complete one, never a mix.
 */
import type { Readable } from 'node:stream';
import type { Manifest } from '@qdm/shared';

export type TransferPhase = 'verify' | 'upload' | 'download' | 'copy';

/** Bytes done/total for one file of an artifact; the CLI turns these into a progress bar. */
export interface FileProgress {
  file: string;
  phase: TransferPhase;
  bytesDone: number;
  /** Total bytes of this file (0 when the manifest records no size and the source gave none). */
  bytesTotal: number;
}

export interface TransferOptions {
  onProgress?: (progress: FileProgress) => void;
  /** Aborting stops the transfer; what was already published stays as it was. */
  signal?: AbortSignal;
}

export interface PublishOptions extends TransferOptions {
  /** Publish a new version even when the latest one has this exact manifest (default: skip, nothing uploaded). */
  force?: boolean;
}

export interface StoredFile {
  file: string;
  bytes: number;
  /** The manifest's sha256; for the report (which the manifest names without a hash) only when computed locally. */
  sha256?: string;
}

/** The manifest the store currently serves for an artifact, with the bytes it was read from. */
export interface ManifestRecord {
  name: string;
  manifest: Manifest;
  /** The exact manifest.json bytes (its sha256 is what `latest.json` pins). */
  raw: Uint8Array;
  manifestSha256: string;
  /** S3 version id; undefined for a folder store (one version per folder). */
  version?: string;
  /** When this version became the latest (S3: from latest.json; folder: manifest mtime), ISO 8601. */
  publishedAt: string;
  /** Human-readable place of the manifest (s3://bucket/key or a path). */
  location: string;
}

export interface ArtifactSummary extends ManifestRecord {
  /** Sum of the variant files' bytes. */
  bytes: number;
}

export interface ArtifactListing {
  artifacts: ArtifactSummary[];
  /** Artifacts whose pointer or manifest could not be read or did not verify (never silently hidden). */
  problems: { name: string; location: string; reason: string }[];
}

export interface PublishResult {
  name: string;
  version?: string;
  location: string;
  manifestSha256: string;
  files: StoredFile[];
  /** Bytes written or uploaded (0 when unchanged). */
  bytes: number;
  /** True when the latest version already had this manifest and nothing was written. */
  unchanged: boolean;
}

export interface PullResult {
  name: string;
  version?: string;
  dir: string;
  manifestSha256: string;
  files: StoredFile[];
  /** Bytes downloaded or copied (files already present with the right sha256 are kept, not re-fetched). */
  bytes: number;
}

export interface ArtifactStore {
  /** Human-readable root: a folder path or s3://bucket/prefix. */
  readonly location: string;
  /** Every complete artifact under the root, with its latest version. Incomplete first publishes are invisible. */
  list(): Promise<ArtifactListing>;
  /** The latest complete manifest of `name`; StoreError if there is none. */
  readManifest(name: string): Promise<ManifestRecord>;
  /** Streams one file of the latest version; the stream errors unless the bytes match the manifest. */
  readFile(name: string, file: string): Promise<Readable>;
  /** Publishes the artifact folder `dir` (manifest.json + the files it names) as `name`. */
  publish(name: string, dir: string, options?: PublishOptions): Promise<PublishResult>;
  /** Copies the latest version of `name` into the folder `dir` (flat layout), verified, manifest last. */
  pull(name: string, dir: string, options?: TransferOptions): Promise<PullResult>;
}
