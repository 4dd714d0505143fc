/** Loads the numpy/torch reference fixtures of toolchain/test/fixtures/quantize (see make_reference.py). */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../paths.ts';

export const quantizeFixtures = join(repoRoot, 'toolchain/test/fixtures/quantize');

// biome-ignore lint/suspicious/noExplicitAny: fixture JSON is checked by the tests that read it
export function loadReference(name: string): any {
  return JSON.parse(readFileSync(join(quantizeFixtures, name), 'utf8'));
}
