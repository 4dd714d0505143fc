/** `toolchain pull`: copy the latest version of an artifact from a store into a local folder, verified. */

import { resolve } from 'node:path';
import { defineCommand } from 'citty';
import { requireArg } from '../cli/args.ts';
import { commonArgs, emit } from '../cli/output.ts';
import { transferProgress } from '../cli/transfer-progress.ts';
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

export default defineCommand({
  meta: {
    name: 'pull',
    description: 'Download the latest version of an artifact, verifying every file against its manifest',
  },
  args: {
    from: { type: 'string', description: 'store root: s3://bucket/prefix or a folder', valueHint: 'LOCATION' },
    name: { type: 'string', valueHint: 'NAME', description: 'artifact name' },
    to: { type: 'string', description: 'destination folder (default: ./<name>)', valueHint: 'DIR' },
    ...commonArgs,
  },
  async run({ args }) {
    const result = await run({
      from: requireArg('from', args.from),
      name: requireArg('name', args.name),
      to: args.to,
      onProgress: transferProgress(!args.quiet && !args.json),
    });
    emit(
      args.json,
      { ...result },
      () =>
        `pulled ${result.name}${result.version ? ` version ${result.version}` : ''}: ${result.files.length} files, ` +
        `${(result.bytes / 1e6).toFixed(1)} MB -> ${result.dir}`,
    );
  },
});
