/** `toolchain ls`: the artifacts under a store root, each with its latest version and a manifest summary. */
import { stat } from 'node:fs/promises';
import { defineCommand } from 'citty';
import { commonArgs, emit } from '../cli/output.ts';
import { StoreError } from '../store/errors.ts';
import { openStore } from '../store/index.ts';
import { parseLocation } from '../store/location.ts';

export interface LsOptions {
  /** Store root: s3://bucket/prefix, a folder path or file:// URL. */
  at: string;
  env?: Record<string, string | undefined>;
  cwd?: string;
}

export interface LsEntry {
  name: string;
  version?: string;
  publishedAt: string;
  createdAt: string;
  manifestSha256: string;
  /** Sum of the variant files' bytes. */
  bytes: number;
  variants: Record<string, { precision: string; bytes: number; file: string }>;
  location: string;
}

export interface LsResult {
  store: string;
  artifacts: LsEntry[];
  problems: { name: string; location: string; reason: string }[];
}

export async function run(options: LsOptions): Promise<LsResult> {
  await checkLocalRoot(options.at, options.cwd);
  const store = openStore(options.at, { env: options.env, cwd: options.cwd });
  const listing = await store.list();
  const artifacts = listing.artifacts.map((a) => ({
    name: a.name,
    version: a.version,
    publishedAt: a.publishedAt,
    createdAt: a.manifest.createdAt,
    manifestSha256: a.manifestSha256,
    bytes: a.bytes,
    variants: Object.fromEntries(
      Object.entries(a.manifest.variants).map(([key, v]) => [
        key,
        { precision: v.precision, bytes: v.bytes, file: v.file },
      ]),
    ),
    location: a.location,
  }));
  return { store: store.location, artifacts, problems: listing.problems };
}

/**
 * A store lists a missing folder as empty (nothing published yet), but `ls` of a mistyped path should say so
 * rather than "no artifacts".
 */
async function checkLocalRoot(at: string, cwd?: string): Promise<void> {
  const location = parseLocation(at, cwd);
  if (location.kind !== 'local') return;
  const found = await stat(location.path).catch(() => undefined);
  if (!found) throw new StoreError(location.path, 'no such folder');
  if (!found.isDirectory())
    throw new StoreError(location.path, 'not a folder (a store is a folder of artifact folders)');
}

function megabytes(bytes: number): string {
  return `${(bytes / 1e6).toFixed(1)} MB`;
}

/** The human form of `ls`: one line per artifact, problems after. */
export function formatLs(result: LsResult): string {
  if (result.artifacts.length === 0 && result.problems.length === 0) return `${result.store}: no artifacts`;
  const lines = result.artifacts.map((a) => {
    const variants = Object.entries(a.variants)
      .map(([key, v]) => `${key} ${megabytes(v.bytes)}`)
      .join(', ');
    return `${a.name}  ${a.version ?? '-'}  ${a.publishedAt}  ${variants}`;
  });
  for (const p of result.problems) lines.push(`! ${p.name}: ${p.reason}`);
  return lines.join('\n');
}

export default defineCommand({
  meta: { name: 'ls', description: 'List the artifacts under a store root (s3://bucket/prefix or a folder)' },
  args: {
    at: { type: 'positional', description: 'store root (default: artifacts/)', required: false },
    ...commonArgs,
  },
  async run({ args }) {
    const result = await run({ at: args.at || 'artifacts' });
    emit(args.json, { ...result }, () => formatLs(result));
  },
});
