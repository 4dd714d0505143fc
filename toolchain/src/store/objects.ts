/**
 * Single files at a local path or an s3:// URI, for what is not an artifact: shard .npz files of a scale-out
 * sampling job, merged samples, reference statistics. Local writes are atomic; S3 puts are single objects.
 */
import { mkdir, readdir, readFile, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { StoreError } from './errors.ts';
import { writeBytesAtomic } from './folder-writer.ts';
import { openStore } from './index.ts';
import { formatLocation, parseLocation } from './location.ts';
import { createS3Client, s3SettingsFromEnv } from './s3-client.ts';
import { S3Objects } from './s3-objects.ts';

export function isS3Uri(value: string): boolean {
  return /^s3:\/\//i.test(value.trim());
}

/** The bucket and key of a single-file s3:// URI; call it before long work so a bad URI fails first. */
export function objectLocation(uri: string): { bucket: string; key: string } {
  const location = parseLocation(uri);
  if (location.kind !== 's3' || !location.prefix) throw new StoreError(uri, 'expected s3://bucket/key');
  return { bucket: location.bucket, key: location.prefix };
}

function objectsFor(uri: string): { objects: S3Objects; key: string } {
  const { bucket, key } = objectLocation(uri);
  return { objects: new S3Objects(createS3Client(s3SettingsFromEnv()), bucket), key };
}

export async function readBytes(pathOrUri: string): Promise<Uint8Array> {
  if (!isS3Uri(pathOrUri)) return new Uint8Array(await readFile(pathOrUri));
  const { objects, key } = objectsFor(pathOrUri);
  try {
    return await objects.getBytes(key);
  } finally {
    objects.client.destroy();
  }
}

export async function writeBytes(pathOrUri: string, bytes: Uint8Array): Promise<void> {
  if (!isS3Uri(pathOrUri)) {
    await mkdir(dirname(pathOrUri), { recursive: true });
    await writeBytesAtomic(dirname(pathOrUri), basename(pathOrUri), bytes);
    return;
  }
  const { objects, key } = objectsFor(pathOrUri);
  try {
    await objects.put(key, bytes);
  } finally {
    objects.client.destroy();
  }
}

/**
 * `--artifact s3://bucket/prefix/name`: pulls the latest version of `name` from the store at s3://bucket/prefix
 * into a local cache folder (verified against the manifest) and returns that folder. Local paths pass through.
 */
export async function localArtifactDir(pathOrUri: string): Promise<string> {
  if (!isS3Uri(pathOrUri)) {
    await refuseStoreRoot(pathOrUri);
    return pathOrUri;
  }
  const location = parseLocation(pathOrUri);
  if (location.kind !== 's3' || !location.prefix) throw new StoreError(pathOrUri, 'expected s3://bucket/prefix/name');
  const segments = location.prefix.split('/');
  const name = segments.pop()!;
  const root = formatLocation({ kind: 's3', bucket: location.bucket, prefix: segments.join('/') });
  const dir = join(tmpdir(), 'qdm-artifacts', location.bucket, ...segments, name);
  await openStore(root).pull(name, dir);
  return dir;
}

/**
 * `--artifact artifacts` (the store) instead of `artifacts/mnist32` (an artifact in it) is an easy slip: name the
 * artifacts found there. Anything else that is not an artifact is left to the manifest reader's message.
 */
async function refuseStoreRoot(dir: string): Promise<void> {
  if (await stat(join(dir, 'manifest.json')).catch(() => undefined)) return;
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  const artifacts: string[] = [];
  for (const entry of entries) {
    if (entry.isDirectory() && (await stat(join(dir, entry.name, 'manifest.json')).catch(() => undefined))) {
      artifacts.push(entry.name);
    }
  }
  if (artifacts.length === 0) return;
  artifacts.sort();
  throw new StoreError(
    dir,
    `a folder of artifacts (${artifacts.join(', ')}), not an artifact: give ${join(dir, artifacts[0])}`,
  );
}
