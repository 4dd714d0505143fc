import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Files written by ../fixtures/codecs/generate.py (numpy, torch, PIL). */
export const codecFixtures = resolve(dirname(fileURLToPath(import.meta.url)), '../fixtures/codecs');

export function fixtureBytes(...parts: string[]): Uint8Array {
  return new Uint8Array(readFileSync(resolve(codecFixtures, ...parts)));
}
