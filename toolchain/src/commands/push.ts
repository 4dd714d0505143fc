/**
 * `toolchain push`: publish a local artifact folder to a store (s3://bucket/prefix or a folder), atomically.
 * A plain function over an options object; the CLI wraps it (flags, progress bar, --json).
 */

import { resolve } from 'node:path';
import { defineCommand } from 'citty';
import { intArg, requireArg } from '../cli/args.ts';
import { commonArgs, emit } from '../cli/output.ts';
import { transferProgress } from '../cli/transfer-progress.ts';
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

export default defineCommand({
  meta: {
    name: 'push',
    description:
      'Publish a local artifact folder to s3://bucket/prefix (or a folder): files first, manifest, then latest.json',
  },
  args: {
    from: { type: 'string', description: 'local artifact folder', valueHint: 'DIR' },
    to: { type: 'string', description: 'store root: s3://bucket/prefix or a folder', valueHint: 'LOCATION' },
    name: { type: 'string', valueHint: 'NAME', description: 'artifact name in the store (default: the manifest name)' },
    force: {
      type: 'boolean',
      description: 'publish a new version even if the latest has the same manifest',
      default: false,
    },
    'part-size': {
      type: 'string',
      valueHint: 'MIB',
      description: 'multipart part size in MiB (S3 needs >= 5)',
      default: '16',
    },
    ...commonArgs,
  },
  async run({ args }) {
    const partSize = intArg('part-size', args['part-size'], { min: 1, max: 5120 }) * 1024 * 1024;
    const result = await run({
      from: requireArg('from', args.from),
      to: requireArg('to', args.to),
      name: args.name,
      force: args.force,
      upload: { partSize, multipartThreshold: partSize },
      onProgress: transferProgress(!args.quiet && !args.json),
    });
    emit(args.json, { ...result }, () =>
      result.unchanged
        ? `${result.name}: unchanged (latest already has this manifest) at ${result.location}`
        : `published ${result.name}${result.version ? ` version ${result.version}` : ''}: ${result.files.length} files, ` +
          `${(result.bytes / 1e6).toFixed(1)} MB -> ${result.location}`,
    );
  },
});
