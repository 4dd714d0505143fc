import type { VariantEntry } from '@qdm/shared';
import { IntegrityError } from './source.ts';

export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
}

/** Throws IntegrityError unless `bytes` has the byte count and sha256 that the manifest records for the file. */
export async function verifyBytes(what: string, bytes: Uint8Array, expected: Pick<VariantEntry, 'bytes' | 'sha256'>) {
  if (bytes.length !== expected.bytes) {
    throw new IntegrityError(`${what}: ${bytes.length} bytes, manifest says ${expected.bytes}`);
  }
  verifyDigest(what, bytes.length, await sha256Hex(bytes), expected);
}

/** The same check for bytes hashed as they streamed: their count and hex sha256 against the manifest's. */
export function verifyDigest(
  what: string,
  length: number,
  sha256: string,
  expected: Pick<VariantEntry, 'bytes' | 'sha256'>,
): void {
  if (length !== expected.bytes) throw new IntegrityError(`${what}: ${length} bytes, manifest says ${expected.bytes}`);
  if (sha256 !== expected.sha256) {
    throw new IntegrityError(`${what}: sha256 ${sha256} does not match the manifest's ${expected.sha256}`);
  }
}
