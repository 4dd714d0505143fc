/**
 * The folder store: `<root>/<name>/manifest.json` beside the files it names (the flat layout the edge's folder
 * source reads). One version per folder; publishing replaces it atomically (see folder-writer.ts).
 */
import { createReadStream } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { MANIFEST_FILE } from '@qdm/shared';
import type {
  ArtifactListing,
  ArtifactStore,
  ManifestRecord,
  PublishOptions,
  PublishResult,
  PullResult,
  TransferOptions,
} from './artifact-store.ts';
import { hashFile, sha256Hex, verifiedStream } from './digest.ts';
import { isNotFound, StoreError, storeError } from './errors.ts';
import { type FileSource, noArtifact, writeArtifactFolder } from './folder-writer.ts';
import { localFileSize, readLocalArtifact } from './local-artifact.ts';
import { checkArtifactName } from './location.ts';
import { decodeManifest, type ExpectedFile, expectedFiles, variantBytes } from './manifest-file.ts';
import { mapLimit } from './task-pool.ts';

export class LocalStore implements ArtifactStore {
  readonly location: string;
  readonly root: string;

  constructor(root: string) {
    this.root = resolve(root);
    this.location = this.root;
  }

  artifactDir(name: string): string {
    return join(this.root, checkArtifactName(name, this.root));
  }

  async list(): Promise<ArtifactListing> {
    const entries = await readdir(this.root, { withFileTypes: true }).catch((error: unknown) => {
      if (isNotFound(error)) return [];
      throw storeError(this.root, 'listing', error);
    });
    const names = entries
      .filter((e) => e.isDirectory() && /^[A-Za-z0-9]/.test(e.name))
      .map((e) => e.name)
      .sort();
    const listing: ArtifactListing = { artifacts: [], problems: [] };
    await mapLimit(names, 8, async (name) => {
      const dir = join(this.root, name);
      try {
        const record = await this.readManifest(name);
        listing.artifacts.push({ ...record, bytes: variantBytes(record.manifest) });
      } catch (error) {
        // A folder without a manifest is not an artifact (or one being replaced): not a problem worth reporting.
        if (!isNotFound((error as Error).cause ?? error)) {
          listing.problems.push({ name, location: dir, reason: (error as Error).message });
        }
      }
    });
    listing.artifacts.sort((a, b) => a.name.localeCompare(b.name));
    return listing;
  }

  async readManifest(name: string): Promise<ManifestRecord> {
    const dir = this.artifactDir(name);
    const path = join(dir, MANIFEST_FILE);
    let raw: Uint8Array;
    let mtime: Date;
    try {
      raw = new Uint8Array(await readFile(path));
      mtime = (await stat(path)).mtime;
    } catch (error) {
      if (isNotFound(error)) throw noArtifact(dir, error);
      throw storeError(path, 'reading the manifest', error);
    }
    return {
      name,
      manifest: decodeManifest(raw, path),
      raw,
      manifestSha256: sha256Hex(raw),
      publishedAt: mtime.toISOString(),
      location: path,
    };
  }

  async readFile(name: string, file: string): Promise<Readable> {
    const record = await this.readManifest(name);
    const path = join(this.artifactDir(name), file);
    if (file === MANIFEST_FILE) return verifiedStream(createReadStream(path), path, { bytes: record.raw.length });
    const expected = expectedFiles(record.manifest).find((f) => f.file === file);
    if (!expected) throw new StoreError(path, `not a file of artifact "${name}" (its manifest does not name it)`);
    await stat(path).catch((error: unknown) => {
      throw new StoreError(path, 'missing, though the manifest names it', { cause: error });
    });
    return verifiedStream(createReadStream(path), path, expected);
  }

  async publish(name: string, dir: string, options: PublishOptions = {}): Promise<PublishResult> {
    const target = this.artifactDir(name);
    const artifact = await readLocalArtifact(dir);
    for (const file of artifact.files) await localFileSize(artifact.dir, file); // refuse early, before copying
    const previous = await this.readManifest(name).catch(() => undefined);
    const sources = await Promise.all(artifact.files.map((f) => withLocalDigest(artifact.dir, f)));
    const result = await writeArtifactFolder(target, artifact.raw, artifact.manifest, sources, {
      ...options,
      phase: 'copy',
    });
    return {
      name,
      location: join(target, MANIFEST_FILE),
      manifestSha256: artifact.manifestSha256,
      files: result.files,
      bytes: result.bytes,
      unchanged: result.bytes === 0 && previous?.manifestSha256 === artifact.manifestSha256,
    };
  }

  async pull(name: string, dir: string, options: TransferOptions = {}): Promise<PullResult> {
    const record = await this.readManifest(name);
    const from = this.artifactDir(name);
    const sources = expectedFiles(record.manifest).map((f) => folderSource(from, f));
    const result = await writeArtifactFolder(resolve(dir), record.raw, record.manifest, sources, {
      ...options,
      phase: 'copy',
    });
    return { name, dir: resolve(dir), manifestSha256: record.manifestSha256, files: result.files, bytes: result.bytes };
  }
}

/**
 * The report has no hash in the manifest; a local one is hashed first so the copy is verified and an identical
 * file already in place is not copied again.
 */
async function withLocalDigest(dir: string, file: ExpectedFile): Promise<FileSource> {
  if (file.sha256 !== undefined) return folderSource(dir, file);
  const digest = await hashFile(join(dir, file.file));
  return folderSource(dir, { ...file, ...digest });
}

function folderSource(dir: string, file: ExpectedFile): FileSource {
  const where = join(dir, file.file);
  return { ...file, where, open: async (signal) => createReadStream(where, { signal }) };
}
