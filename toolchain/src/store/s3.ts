/**
 * The S3 store (also R2 and other S3-compatible servers): the versioned layout of shared/src/store-layout.ts
 * under `s3://bucket/prefix`. Reads resolve `<name>/latest.json`, check the manifest against the sha256 it pins,
 * then check every file against the manifest.
 */

import type { Readable } from 'node:stream';
import type { S3Client } from '@aws-sdk/client-s3';
import { type LatestPointer, latestKey, MANIFEST_FILE, parseLatestPointer, versionFileKey } from '@qdm/shared';
import type {
  ArtifactListing,
  ArtifactStore,
  ManifestRecord,
  PublishOptions,
  PublishResult,
  PullResult,
  TransferOptions,
} from './artifact-store.ts';
import { sha256Hex, verifiedStream } from './digest.ts';
import { isNotFound, StoreError } from './errors.ts';
import { type FileSource, writeArtifactFolder } from './folder-writer.ts';
import { checkArtifactName } from './location.ts';
import { decodeManifest, expectedFiles, variantBytes } from './manifest-file.ts';
import { publishVersion } from './publish.ts';
import { S3Objects } from './s3-objects.ts';
import { DEFAULT_UPLOAD, type UploadSettings } from './s3-upload.ts';
import { mapLimit } from './task-pool.ts';

export interface S3StoreOptions {
  client: S3Client;
  bucket: string;
  /** Root prefix without leading/trailing slashes ("" = bucket root). */
  prefix: string;
  upload?: Partial<UploadSettings>;
}

export class S3Store implements ArtifactStore {
  readonly location: string;
  readonly objects: S3Objects;
  readonly prefix: string;
  readonly upload: UploadSettings;

  constructor(options: S3StoreOptions) {
    this.objects = new S3Objects(options.client, options.bucket);
    this.prefix = options.prefix.replace(/^\/+|\/+$/g, '');
    this.location = `s3://${options.bucket}${this.prefix ? `/${this.prefix}` : ''}`;
    this.upload = { ...DEFAULT_UPLOAD, ...options.upload };
    checkUploadSettings(this.upload, this.location);
  }

  artifactPrefix(name: string): string {
    checkArtifactName(name, this.location);
    return this.prefix ? `${this.prefix}/${name}` : name;
  }

  /**
   * The latest pointer, or undefined if `name` has no complete version. A pointer that does not parse is a
   * StoreError, or undefined with `tolerateCorrupt` (publishing a new version repairs it).
   */
  async readLatest(
    name: string,
    options: { signal?: AbortSignal; tolerateCorrupt?: boolean } = {},
  ): Promise<LatestPointer | undefined> {
    const key = latestKey(this.artifactPrefix(name));
    let raw: Uint8Array;
    try {
      raw = await this.objects.getBytes(key, options.signal);
    } catch (error) {
      if (isNotFound((error as Error).cause)) return undefined;
      throw error;
    }
    try {
      return parseLatestPointer(JSON.parse(new TextDecoder().decode(raw)));
    } catch (error) {
      if (options.tolerateCorrupt) return undefined;
      throw new StoreError(this.objects.url(key), (error as Error).message, { cause: error });
    }
  }

  async readManifest(name: string, signal?: AbortSignal): Promise<ManifestRecord> {
    const latest = await this.readLatest(name, { signal });
    if (!latest) {
      throw new StoreError(`${this.location}/${name}`, 'no published artifact here (no latest.json)');
    }
    const key = versionFileKey(this.artifactPrefix(name), latest.version, MANIFEST_FILE);
    const where = this.objects.url(key);
    const raw = await this.objects.getBytes(key, signal);
    const manifestSha256 = sha256Hex(raw);
    if (manifestSha256 !== latest.manifestSha256) {
      throw new StoreError(where, `sha256 ${manifestSha256} does not match latest.json's ${latest.manifestSha256}`);
    }
    return {
      name,
      manifest: decodeManifest(raw, where),
      raw,
      manifestSha256,
      version: latest.version,
      publishedAt: latest.publishedAt,
      location: where,
    };
  }

  async list(): Promise<ArtifactListing> {
    const names = (await this.objects.childPrefixes(this.prefix ? `${this.prefix}/` : '')).filter((n) =>
      /^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(n),
    );
    const listing: ArtifactListing = { artifacts: [], problems: [] };
    await mapLimit(names, 8, async (name) => {
      try {
        if (!(await this.readLatest(name))) return; // never completely published: invisible
        const record = await this.readManifest(name);
        listing.artifacts.push({ ...record, bytes: variantBytes(record.manifest) });
      } catch (error) {
        const where = error instanceof StoreError ? error.where : `${this.location}/${name}`;
        listing.problems.push({ name, location: where, reason: (error as Error).message });
      }
    });
    listing.artifacts.sort((a, b) => a.name.localeCompare(b.name));
    listing.problems.sort((a, b) => a.name.localeCompare(b.name));
    return listing;
  }

  async readFile(name: string, file: string): Promise<Readable> {
    const record = await this.readManifest(name);
    const key = versionFileKey(this.artifactPrefix(name), record.version!, file);
    const where = this.objects.url(key);
    if (file === MANIFEST_FILE) {
      return verifiedStream(await this.objects.getStream(key), where, {
        bytes: record.raw.length,
        sha256: record.manifestSha256,
      });
    }
    const expected = expectedFiles(record.manifest).find((f) => f.file === file);
    if (!expected) throw new StoreError(where, `not a file of artifact "${name}" (its manifest does not name it)`);
    return verifiedStream(await this.objects.getStream(key), where, expected);
  }

  async publish(name: string, dir: string, options: PublishOptions = {}): Promise<PublishResult> {
    const prefix = this.artifactPrefix(name);
    const latest = await this.readLatest(name, { signal: options.signal, tolerateCorrupt: true });
    return publishVersion({ objects: this.objects, name, prefix, latest }, dir, this.upload, options);
  }

  async pull(name: string, dir: string, options: TransferOptions = {}): Promise<PullResult> {
    const record = await this.readManifest(name, options.signal);
    const prefix = this.artifactPrefix(name);
    const sources: FileSource[] = expectedFiles(record.manifest).map((f) => {
      const key = versionFileKey(prefix, record.version!, f.file);
      return { ...f, where: this.objects.url(key), open: (signal) => this.objects.getStream(key, signal) };
    });
    const result = await writeArtifactFolder(dir, record.raw, record.manifest, sources, {
      ...options,
      phase: 'download',
      concurrency: this.upload.concurrency,
    });
    return {
      name,
      version: record.version,
      dir,
      manifestSha256: record.manifestSha256,
      files: result.files,
      bytes: result.bytes,
    };
  }
}

function checkUploadSettings(settings: UploadSettings, where: string): void {
  for (const key of ['partSize', 'multipartThreshold', 'concurrency'] as const) {
    if (!Number.isInteger(settings[key]) || settings[key] < 1) {
      throw new StoreError(where, `upload ${key} must be a positive integer, got ${settings[key]}`);
    }
  }
}
