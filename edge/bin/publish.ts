import { latestKey, MANIFEST_FILE, type Manifest, versionFileKey } from '@qdm/shared';
import { sha256Hex, verifyBytes } from '../src/sources/verify.ts';

export type PutObject = (key: string, bytes: Uint8Array) => Promise<void>;

/**
 * Publish one artifact into an object store in the versioned layout (shared/src/store-layout.ts), the order that
 * makes it atomic for readers: the variant files, then the manifest, then `latest.json`. Every file is checked
 * against the manifest first, so a bad artifact is never published.
 */
export async function publishArtifact(
  put: PutObject,
  prefix: string,
  manifestBytes: Uint8Array,
  manifest: Manifest,
  files: Record<string, Uint8Array>,
  version: string,
): Promise<{ version: string; keys: string[] }> {
  const artifactPrefix = prefix ? `${prefix.replace(/\/+$/, '')}/${manifest.name}` : manifest.name;
  const verified = Object.values(manifest.variants).flatMap((entry) =>
    entry.edgeGraph ? [entry, entry.edgeGraph] : [entry],
  );
  for (const entry of verified) {
    const bytes = files[entry.file];
    if (!bytes) throw new Error(`${manifest.name}: missing ${entry.file}`);
    await verifyBytes(`${manifest.name}/${entry.file}`, bytes, entry);
  }
  const keys: string[] = [];
  for (const [file, bytes] of Object.entries(files)) {
    const key = versionFileKey(artifactPrefix, version, file);
    await put(key, bytes);
    keys.push(key);
  }
  const manifestKey = versionFileKey(artifactPrefix, version, MANIFEST_FILE);
  await put(manifestKey, manifestBytes);
  const pointer = { version, manifestSha256: await sha256Hex(manifestBytes), publishedAt: new Date().toISOString() };
  const pointerKey = latestKey(artifactPrefix);
  await put(pointerKey, new TextEncoder().encode(`${JSON.stringify(pointer)}\n`));
  keys.push(manifestKey, pointerKey);
  return { version, keys };
}
