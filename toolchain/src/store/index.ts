/**
 * Artifact stores: a local folder (flat `<root>/<name>/manifest.json`) or S3 (`s3://bucket/prefix`, versioned
 * with a `latest.json` pointer). Publishing is atomic in both; every read is verified against the manifest.
 * Old S3 versions are kept (never pruned), so a publish can be rolled back by pointing latest.json back.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import type { ArtifactStore } from './artifact-store.ts';
import { LocalStore } from './local.ts';
import { parseLocation, type StoreLocation } from './location.ts';
import { S3Store } from './s3.ts';
import { createS3Client, s3SettingsFromEnv } from './s3-client.ts';
import type { UploadSettings } from './s3-upload.ts';

export type {
  ArtifactListing,
  ArtifactStore,
  ArtifactSummary,
  FileProgress,
  ManifestRecord,
  PublishOptions,
  PublishResult,
  PullResult,
  StoredFile,
  TransferOptions,
  TransferPhase,
} from './artifact-store.ts';
export { describeCause, StoreError } from './errors.ts';
export { LocalStore } from './local.ts';
export { checkArtifactName, formatLocation, parseLocation, type StoreLocation } from './location.ts';
export { S3Store, type S3StoreOptions } from './s3.ts';
export { createS3Client, type S3Settings, s3SettingsFromEnv } from './s3-client.ts';
export { DEFAULT_UPLOAD, MiB, type UploadSettings } from './s3-upload.ts';

export interface OpenStoreOptions {
  /** Environment for S3 settings (default process.env). */
  env?: Record<string, string | undefined>;
  /** An S3 client to use instead of one built from the environment. */
  s3Client?: S3Client;
  upload?: Partial<UploadSettings>;
  cwd?: string;
}

/** Opens the store at a `--out`/`--from` value: a folder path, file:// URL or s3://bucket/prefix. */
export function openStore(location: string | StoreLocation, options: OpenStoreOptions = {}): ArtifactStore {
  const parsed = typeof location === 'string' ? parseLocation(location, options.cwd) : location;
  if (parsed.kind === 'local') return new LocalStore(parsed.path);
  const client = options.s3Client ?? createS3Client(s3SettingsFromEnv(options.env));
  return new S3Store({ client, bucket: parsed.bucket, prefix: parsed.prefix, upload: options.upload });
}
