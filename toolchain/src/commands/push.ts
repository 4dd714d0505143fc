/**
 * `toolchain push`: publish a local artifact folder to a store (s3://bucket/prefix or a folder), atomically.
 * A plain function over an options object; the CLI wraps it (flags, progress bar, --json).
 */
import { resolve } from 'node:path';
import { type FileProgress, openStore, type PublishResult, type UploadSettings } from '../store/index.ts';
import { readLocalArtifact } from '../store/local-artifact.ts';

export interface PushOptions {
  /** The artifact folder (manifest.json + the files it names). */
  from: string;
  /** Store root: s3://bucket/prefix, a folder path or file:// URL. */
  to: string;
  /** Artifact name in the store (default: the manifest's `name`). */
  name?: string;
  /** Publish a new version even if the latest one has the same manifest. */
  force?: boolean;
  upload?: Partial<UploadSettings>;
  env?: Record<string, string | undefined>;
  cwd?: string;
  onProgress?: (progress: FileProgress) => void;
  signal?: AbortSignal;
}

export interface PushResult extends PublishResult {
  store: string;
}

export async function run(options: PushOptions): Promise<PushResult> {
  const store = openStore(options.to, { env: options.env, upload: options.upload, cwd: options.cwd });
  const from = resolve(options.cwd ?? process.cwd(), options.from);
  const name = options.name ?? (await readLocalArtifact(from)).manifest.name;
  const result = await store.publish(name, from, {
    force: options.force,
    onProgress: options.onProgress,
    signal: options.signal,
  });
  return { store: store.location, ...result };
}
