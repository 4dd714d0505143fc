// The README is the CLI's manual: every command and every option it declares must appear there, so the two
// cannot drift apart silently.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { ArgsDef } from 'citty';
import { describe, expect, it } from 'vitest';
import { commands } from '../src/cli/main.ts';
import { repoRoot } from './paths.ts';

const readme = readFileSync(resolve(repoRoot, 'README.md'), 'utf8');
const everywhere = new Set(['json', 'quiet']); // documented once for all commands

describe('README CLI reference', () => {
  for (const [name, load] of Object.entries(commands)) {
    it(`documents toolchain ${name} and its options`, async () => {
      expect(readme).toContain(`toolchain ${name}`);
      const command = await load();
      const args = ((typeof command.args === 'function' ? await command.args() : await command.args) ?? {}) as ArgsDef;
      const missing = Object.entries(args)
        .filter(([flag, def]) => def.type !== 'positional' && !everywhere.has(flag))
        .map(([flag]) => `--${flag}`)
        .filter((flag) => !new RegExp(`${flag}(?![\\w-])`).test(readme));
      expect(missing, `toolchain ${name}: options missing from README.md`).toEqual([]);
    });
  }
});
