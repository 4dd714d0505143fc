// The README names every command (its Commands table), and docs/cli.md, the CLI's manual, lists every option each
// command declares (docs.test.ts keeps it equal to the --help texts), so neither can drift from the CLI silently.
// The README stays a front page: short enough to read, with the quick start's two commands.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { ArgsDef } from 'citty';
import { describe, expect, it } from 'vitest';
import { commands } from '../src/cli/main.ts';
import { repoRoot } from './paths.ts';

const readme = readFileSync(resolve(repoRoot, 'README.md'), 'utf8');
const reference = readFileSync(resolve(repoRoot, 'docs/cli.md'), 'utf8');

describe('README and docs/cli.md', () => {
  it('the README is at most 200 lines and starts with the quick start commands CI runs', () => {
    expect(readme.split('\n').length).toBeLessThanOrEqual(201);
    expect(readme).toContain('npm install && npm run demo');
    expect(readme).toContain('npm test');
    expect(readFileSync(resolve(repoRoot, '.ci/run'), 'utf8')).toMatch(/^npm test$/m);
  });

  it('every relative link in the README points at a file in the repository', () => {
    const links = [...readme.matchAll(/\]\(((?!https?:)[^)#\s]+)(#[^)]*)?\)/g)].map((m) => m[1]);
    expect(links.length).toBeGreaterThan(0);
    const missing = links.filter((link) => {
      try {
        readFileSync(resolve(repoRoot, link));
        return false;
      } catch {
        return true;
      }
    });
    expect(missing).toEqual([]);
  });

  for (const [name, load] of Object.entries(commands)) {
    it(`names toolchain ${name}; docs/cli.md documents it and its options`, async () => {
      expect(readme).toContain(`toolchain ${name}\``);
      expect(reference).toContain(`## toolchain ${name}\n`);
      const command = await load();
      const args = ((typeof command.args === 'function' ? await command.args() : await command.args) ?? {}) as ArgsDef;
      const section = reference.split(`## toolchain ${name}\n`)[1].split('\n## ')[0];
      const missing = Object.entries(args)
        .filter(([, def]) => def.type !== 'positional')
        .map(([flag]) => `--${flag.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`)
        .filter((flag) => !new RegExp(`${flag}(?![\\w-])`).test(section));
      expect(missing, `toolchain ${name}: options missing from docs/cli.md`).toEqual([]);
    });
  }
});
