/**
 * Where an artifact's files live in an object store (S3, R2). Publishing is atomic by layout: every version is
 * written under its own prefix, manifest last, and only then does `latest.json` move to it. Readers resolve
 * `latest.json` first, so they never see a half-written version.
 *
 *   <root>/<artifact>/latest.json                      {"version": "...", "manifest": {...sha256, bytes}}
 *   <root>/<artifact>/versions/<version>/manifest.json
 *   <root>/<artifact>/versions/<version>/model.fp32.onnx ...
 *
 * A local folder artifact is flat instead: `<dir>/manifest.json` beside its files (renames make it atomic).
 */

export const LATEST_POINTER = 'latest.json';

export interface LatestPointer {
  version: string;
  manifestSha256: string;
  publishedAt: string;
}

function trimSlashes(prefix: string): string {
  return prefix.replace(/^\/+|\/+$/g, '');
}

function join(...parts: string[]): string {
  return parts
    .map(trimSlashes)
    .filter((p) => p.length > 0)
    .join('/');
}

export function latestKey(artifactPrefix: string): string {
  return join(artifactPrefix, LATEST_POINTER);
}

export function versionPrefix(artifactPrefix: string, version: string): string {
  return join(artifactPrefix, 'versions', version);
}

export function versionFileKey(artifactPrefix: string, version: string, file: string): string {
  return join(versionPrefix(artifactPrefix, version), file);
}

/** A sortable, unique-enough version id: UTC time to the second plus a random suffix. */
export function newVersionId(now: Date, randomSuffix: string): string {
  const stamp = now
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
  return `${stamp}-${randomSuffix}`;
}

export function parseLatestPointer(value: unknown): LatestPointer {
  const v = value as Partial<LatestPointer> | null;
  if (!v || typeof v.version !== 'string' || !/^[A-Za-z0-9._-]+$/.test(v.version)) {
    throw new Error(`${LATEST_POINTER}: "version" must be a version id, got ${JSON.stringify(v?.version)}`);
  }
  if (typeof v.manifestSha256 !== 'string' || !/^[0-9a-f]{64}$/.test(v.manifestSha256)) {
    throw new Error(`${LATEST_POINTER}: "manifestSha256" must be a hex sha256`);
  }
  return { version: v.version, manifestSha256: v.manifestSha256, publishedAt: String(v.publishedAt ?? '') };
}
