/** manifest.json as bytes: decoding with errors that name where it came from, and the files it promises. */
import { edgeGraphsOf, LATEST_POINTER, MANIFEST_FILE, type Manifest, manifestFiles, parseManifest } from '@qdm/shared';
import type { Expected } from './digest.ts';
import { StoreError } from './errors.ts';

export interface ExpectedFile extends Expected {
  file: string;
}

export function decodeManifest(raw: Uint8Array, where: string): Manifest {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(raw));
  } catch (error) {
    throw new StoreError(where, `manifest is not valid UTF-8 JSON (${(error as Error).message})`, { cause: error });
  }
  try {
    return parseManifest(json);
  } catch (error) {
    throw new StoreError(where, (error as Error).message, { cause: error });
  }
}

/**
 * Every file the manifest names with what it must contain, variants and their edge graphs first (upload order).
 * Reports are verified against `manifest.reports`; an older artifact's reports, which it names without a size or
 * hash, are moved as they are.
 */
export function expectedFiles(manifest: Manifest): ExpectedFile[] {
  const byFile = new Map<string, ExpectedFile>();
  for (const [variant, entry] of Object.entries(manifest.variants)) {
    const seen = byFile.get(entry.file);
    if (seen && (seen.sha256 !== entry.sha256 || seen.bytes !== entry.bytes)) {
      throw new StoreError(manifest.name, `variant "${variant}" names ${entry.file} with a different size or sha256`);
    }
    byFile.set(entry.file, { file: entry.file, bytes: entry.bytes, sha256: entry.sha256 });
  }
  for (const entry of Object.values(manifest.variants)) {
    for (const graph of edgeGraphsOf(entry)) {
      byFile.set(graph.file, { file: graph.file, bytes: graph.bytes, sha256: graph.sha256 });
    }
  }
  for (const file of manifestFiles(manifest)) {
    if (!byFile.has(file)) byFile.set(file, { file, ...manifest.reports?.[file] });
  }
  for (const file of byFile.keys()) {
    if (file === MANIFEST_FILE || file === LATEST_POINTER) {
      throw new StoreError(manifest.name, `the manifest names "${file}" as an artifact file (reserved name)`);
    }
  }
  return [...byFile.values()];
}

/** Bytes of the model files (variants and their edge graphs; reports not counted). */
export function variantBytes(manifest: Manifest): number {
  let total = 0;
  for (const file of expectedFiles(manifest)) if (!manifest.reports?.[file.file]) total += file.bytes ?? 0;
  return total;
}
