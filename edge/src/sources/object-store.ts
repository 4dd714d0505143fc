import {
  LATEST_POINTER,
  latestKey,
  MANIFEST_FILE,
  ManifestError,
  parseLatestPointer,
  parseManifest,
  versionFileKey,
} from '@qdm/shared';
import {
  ARTIFACT_NAME,
  type ArtifactSnapshot,
  type ArtifactSource,
  IntegrityError,
  SourceError,
  streamChunks,
} from './source.ts';
import { verifyBytes } from './verify.ts';

/** The little an artifact reader needs from S3 or R2. */
export interface ObjectStore {
  readonly location: string;
  /** The object's bytes, or undefined when there is no such key. */
  get(key: string): Promise<Uint8Array | undefined>;
  /** The names of the "folders" directly under `prefix` (which ends in "/" or is empty). */
  childPrefixes(prefix: string): Promise<string[]>;
  /** The object's bytes as a stream, or undefined when there is no such key. */
  getStream?(key: string): Promise<ReadableStream<Uint8Array> | undefined>;
}

function joinKey(...parts: string[]): string {
  return parts
    .map((p) => p.replace(/^\/+|\/+$/g, ''))
    .filter((p) => p !== '')
    .join('/');
}

function parseJson(bytes: Uint8Array, what: string): unknown {
  try {
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    throw new SourceError(`${what} is not valid JSON`);
  }
}

/**
 * Artifacts in the versioned object-store layout (shared/src/store-layout.ts): resolve `<prefix>/<name>/latest.json`,
 * check the manifest it points to against its sha256, then read files of that version only. So a publish in
 * progress is never seen half-written.
 */
export function versionedSource(store: ObjectStore, rootPrefix: string): ArtifactSource {
  const root = joinKey(rootPrefix);

  async function required(key: string): Promise<Uint8Array> {
    const bytes = await store.get(key);
    if (!bytes) throw new SourceError(`${store.location}: missing ${key}`);
    return bytes;
  }

  return {
    location: root === '' ? store.location : `${store.location}/${root}`,
    async names() {
      const children = await store.childPrefixes(root === '' ? '' : `${root}/`);
      const names: string[] = [];
      for (const name of children.filter((n) => ARTIFACT_NAME.test(n))) {
        if ((await store.get(latestKey(joinKey(root, name)))) !== undefined) names.push(name);
      }
      return names.sort();
    },
    async open(name): Promise<ArtifactSnapshot | undefined> {
      if (!ARTIFACT_NAME.test(name)) return undefined;
      const artifactPrefix = joinKey(root, name);
      const pointerBytes = await store.get(latestKey(artifactPrefix));
      if (!pointerBytes) return undefined;
      const where = `${store.location}: ${name}`;
      let pointer: ReturnType<typeof parseLatestPointer>;
      try {
        pointer = parseLatestPointer(parseJson(pointerBytes, `${where}/${LATEST_POINTER}`));
      } catch (error) {
        throw new SourceError(`${where}: ${(error as Error).message}`);
      }
      const manifestKey = versionFileKey(artifactPrefix, pointer.version, MANIFEST_FILE);
      const manifestBytes = await required(manifestKey);
      await verifyBytes(manifestKey, manifestBytes, { bytes: manifestBytes.length, sha256: pointer.manifestSha256 });
      try {
        return { name, version: pointer.version, manifest: parseManifest(parseJson(manifestBytes, manifestKey)) };
      } catch (error) {
        if (error instanceof ManifestError) throw new SourceError(`${where}: ${error.message}`);
        throw error;
      }
    },
    async readFile(snapshot, file) {
      if (snapshot.version === undefined) throw new IntegrityError(`${snapshot.name}: snapshot has no version`);
      return required(versionFileKey(joinKey(root, snapshot.name), snapshot.version, file));
    },
    ...(store.getStream && {
      async *readChunks(snapshot: ArtifactSnapshot, file: string) {
        if (snapshot.version === undefined) throw new IntegrityError(`${snapshot.name}: snapshot has no version`);
        const key = versionFileKey(joinKey(root, snapshot.name), snapshot.version, file);
        const stream = await store.getStream?.(key);
        if (!stream) throw new SourceError(`${store.location}: ${key} is missing`);
        yield* streamChunks(stream);
      },
    }),
  };
}
