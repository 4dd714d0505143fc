/** Paths and builders shared by the checkpoint tests (not used by the library). */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { zipSync } from 'fflate';
import { repoRoot } from '../../test/paths.ts';

/** Files written by toolchain/test/fixtures/checkpoint/generate.py. */
export const checkpointFixtures = resolve(repoRoot, 'toolchain/test/fixtures/checkpoint');

export function fixturePath(name: string): string {
  return resolve(checkpointFixtures, name);
}

export function fixtureBytes(name: string): Uint8Array {
  return new Uint8Array(readFileSync(fixturePath(name)));
}

export function fixtureJson<T>(name: string): T {
  return JSON.parse(readFileSync(fixturePath(name), 'utf8')) as T;
}

/** A stored (uncompressed) zip like torch.save writes, without torch's 64-byte alignment. */
export function storedZip(files: Record<string, Uint8Array>): Uint8Array {
  return zipSync(Object.fromEntries(Object.entries(files).map(([k, v]) => [k, [v, { level: 0 }]])));
}

/** Pickle bytes from a mix of opcode bytes and text (text is written as latin-1). */
export function pickleBytes(...parts: (number | string)[]): Uint8Array {
  const out: number[] = [];
  for (const part of parts) {
    if (typeof part === 'number') out.push(part);
    else for (const ch of part) out.push(ch.charCodeAt(0));
  }
  return new Uint8Array(out);
}
