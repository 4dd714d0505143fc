/** `toolchain pull`: copy the latest version of an artifact from a store into a local folder, verified. */
import { resolve } from 'node:path';
import { type FileProgress, openStore, type PullResult } from '../store/index.ts';

export interface PullOptions {
  /** Store root: s3://bucket/prefix, a folder path or file:// URL. */
  from: string;
  name: string;
  /** Destination artifact folder (default: ./<name>); files already there with the right sha256 are kept. */
  to?: string;
  env?: Record<string, string | undefined>;
  cwd?: string;
  onProgress?: (progress: FileProgress) => void;
  signal?: AbortSignal;
}

export interface PullCommandResult extends PullResult {
  store: string;
}

export async function run(options: PullOptions): Promise<PullCommandResult> {
  const store = openStore(options.from, { env: options.env, cwd: options.cwd });
  const dir = resolve(options.cwd ?? process.cwd(), options.to ?? options.name);
  const result = await store.pull(options.name, dir, { onProgress: options.onProgress, signal: options.signal });
  return { store: store.location, ...result };
}
