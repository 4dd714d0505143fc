/**
 * Writes an artifact into a flat folder (`<dir>/manifest.json` beside its files) so that a reader, or a process
 * killed at any point, never finds a manifest naming a missing, partial or different file:
 *  1. every file is streamed to a hidden temp name in the same folder (`.<file>.<pid>.<rand>.partial`), verified
 *     against the manifest while it streams, and fsynced; a mismatch deletes the temp and fails the write;
 *  2. if a file is about to replace one of the same name, the old manifest is removed first (the folder then shows
 *     no artifact for the few renames that follow, never a wrong one);
 *  3. temps are renamed to their final names, then the manifest is written the same way, last.
 * A kill during step 1 (all the byte copying) leaves the previous manifest and files untouched; stale temps of
 * dead processes are removed by the next write into the folder. Files already present with the right sha256 are
 * kept, not copied again.
 */
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { MANIFEST_FILE, type Manifest } from '@qdm/shared';
import type { StoredFile, TransferOptions, TransferPhase } from './artifact-store.ts';
import { hashFile, verifier } from './digest.ts';
import { StoreError, storeError } from './errors.ts';
import { decodeManifest, type ExpectedFile, expectedFiles } from './manifest-file.ts';
import { mapLimit } from './task-pool.ts';

export interface FileSource extends ExpectedFile {
  /** Where the bytes come from, for error messages (a path or s3://bucket/key). */
  where: string;
  open(signal: AbortSignal): Promise<Readable>;
}

export interface FolderWriteOptions extends TransferOptions {
  phase: TransferPhase;
  /** Files streamed at once (default 2). */
  concurrency?: number;
}

export interface FolderWriteResult {
  files: StoredFile[];
  /** Bytes actually written (files already present and verified are not counted). */
  bytes: number;
}

const TEMP_NAME = /^\..+\.(\d+)\.[0-9a-f]{8}\.partial$/;

function tempName(file: string): string {
  return `.${file}.${process.pid}.${randomBytes(4).toString('hex')}.partial`;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function removeStaleTemps(dir: string): Promise<void> {
  for (const entry of await readdir(dir)) {
    const match = TEMP_NAME.exec(entry);
    if (match && !processAlive(Number(match[1]))) await rm(join(dir, entry), { force: true });
  }
}

/** fsync a directory so renames in it survive a power cut. */
async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r').catch(() => undefined);
  try {
    await handle?.sync();
  } catch {
    // NOTE: some platforms (Windows) cannot fsync a directory; the renames are still atomic there.
  } finally {
    await handle?.close();
  }
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/** Writes bytes to `dir/name` via temp file + fsync + rename. */
export async function writeBytesAtomic(dir: string, name: string, bytes: Uint8Array): Promise<void> {
  const temp = join(dir, tempName(name));
  const handle = await open(temp, 'wx');
  try {
    await handle.writeFile(bytes);
    await handle.sync();
  } catch (error) {
    await handle.close();
    await rm(temp, { force: true });
    throw error;
  }
  await handle.close();
  await rename(temp, join(dir, name));
}

async function readOldManifest(dir: string): Promise<Manifest | undefined> {
  try {
    return decodeManifest(new Uint8Array(await readFile(join(dir, MANIFEST_FILE))), dir);
  } catch {
    return undefined;
  }
}

/** True when `dir/file` already holds exactly the expected bytes (only for files with a recorded sha256). */
async function alreadyPresent(dir: string, source: FileSource, signal: AbortSignal): Promise<boolean> {
  if (source.sha256 === undefined || source.bytes === undefined) return false;
  const info = await stat(join(dir, source.file)).catch(() => undefined);
  if (!info?.isFile() || info.size !== source.bytes) return false;
  const digest = await hashFile(join(dir, source.file), { signal });
  return digest.sha256 === source.sha256;
}

async function streamToTemp(
  dir: string,
  source: FileSource,
  options: FolderWriteOptions,
  signal: AbortSignal,
): Promise<{ temp: string; bytes: number }> {
  const temp = join(dir, tempName(source.file));
  const bytesTotal = source.bytes ?? 0;
  let bytes = 0;
  const onBytes = (done: number) => {
    bytes = done;
    options.onProgress?.({ file: source.file, phase: options.phase, bytesDone: done, bytesTotal });
  };
  try {
    onBytes(0);
    const input = await source.open(signal);
    // NOTE: `flush: true` fsyncs before close, so a renamed file is on disk, not only in the page cache.
    await pipeline(
      input,
      verifier(source.where, source, onBytes),
      createWriteStream(temp, { flags: 'wx', flush: true }),
      {
        signal,
      },
    );
  } catch (error) {
    await rm(temp, { force: true });
    throw storeError(source.where, `copying to ${join(dir, source.file)}`, error);
  }
  return { temp, bytes };
}

export async function writeArtifactFolder(
  dir: string,
  raw: Uint8Array,
  manifest: Manifest,
  sources: FileSource[],
  options: FolderWriteOptions,
): Promise<FolderWriteResult> {
  await mkdir(dir, { recursive: true }).catch((error: unknown) => {
    throw storeError(dir, 'creating the folder', error);
  });
  await removeStaleTemps(dir);
  const old = await readOldManifest(dir);
  const staged: { file: string; temp: string }[] = [];
  const files: StoredFile[] = [];
  let written = 0;
  try {
    await mapLimit(
      sources,
      options.concurrency ?? 2,
      async (source, _index, signal) => {
        if (await alreadyPresent(dir, source, signal)) {
          const done = source.bytes ?? 0;
          options.onProgress?.({ file: source.file, phase: options.phase, bytesDone: done, bytesTotal: done });
          files.push({ file: source.file, bytes: done, sha256: source.sha256 });
          return;
        }
        const { temp, bytes } = await streamToTemp(dir, source, options, signal);
        staged.push({ file: source.file, temp });
        files.push({ file: source.file, bytes, sha256: source.sha256 });
        written += bytes;
      },
      options.signal,
    );
    options.signal?.throwIfAborted();
    const replacing = await Promise.all(staged.map((s) => exists(join(dir, s.file))));
    if (replacing.some(Boolean)) {
      await rm(join(dir, MANIFEST_FILE), { force: true });
      await syncDir(dir);
    }
    while (staged.length > 0) {
      const next = staged[0];
      await rename(next.temp, join(dir, next.file));
      staged.shift();
    }
    await syncDir(dir);
    await writeBytesAtomic(dir, MANIFEST_FILE, raw);
    await syncDir(dir);
  } catch (error) {
    await Promise.all(staged.map((s) => rm(s.temp, { force: true })));
    throw storeError(dir, 'writing the artifact', error);
  }
  await removeUnnamed(dir, old, manifest);
  const order = new Map(sources.map((s, i) => [s.file, i]));
  files.sort((a, b) => (order.get(a.file) ?? 0) - (order.get(b.file) ?? 0));
  return { files, bytes: written };
}

/** Files the previous manifest named that the new one does not: garbage once the new manifest is in place. */
async function removeUnnamed(dir: string, old: Manifest | undefined, manifest: Manifest): Promise<void> {
  if (!old) return;
  const keep = new Set(expectedFiles(manifest).map((f) => f.file));
  let oldFiles: string[];
  try {
    oldFiles = expectedFiles(old).map((f) => f.file);
  } catch {
    return;
  }
  await Promise.all(oldFiles.filter((f) => !keep.has(f)).map((f) => rm(join(dir, f), { force: true })));
}

/** The error a reader gets when the folder has no complete artifact. */
export function noArtifact(dir: string, cause?: unknown): StoreError {
  return new StoreError(dir, `no artifact here (no ${MANIFEST_FILE})`, { cause });
}
