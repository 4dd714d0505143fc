// `toolchain <command> --help` as a person reads it: plain text (no colour codes in a pipe or file), lines that
// fit a terminal, every option the command declares, each with its default.
import type { ArgsDef } from 'citty';
import { describe, expect, it } from 'vitest';
import { commands } from '../src/cli/main.ts';
import { runCli } from './cli.ts';

function kebab(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

describe('toolchain <command> --help', () => {
  for (const [name, load] of Object.entries(commands)) {
    it(`${name}: every option with its default, plain and at most 100 columns`, async () => {
      const help = await runCli([name, '--help']);
      expect(help.code, help.stderr).toBe(0);
      expect(help.stdout).not.toMatch(/\u001b\[/);
      const long = help.stdout.split('\n').filter((line) => line.length > 100);
      expect(long).toEqual([]);
      expect(help.stdout).toMatch(new RegExp(`^toolchain ${name}: \\S`));
      const command = await load();
      const args = ((typeof command.args === 'function' ? await command.args() : await command.args) ?? {}) as ArgsDef;
      for (const [flag, def] of Object.entries(args)) {
        if (def.type === 'positional') {
          expect(help.stdout).toContain(flag.toUpperCase());
          continue;
        }
        expect(help.stdout).toMatch(new RegExp(`^  --${kebab(flag)}(?![\\w-])`, 'm'));
        const value = (def as { default?: unknown }).default;
        if (def.type !== 'boolean' && value !== undefined && value !== '') {
          // The default closes the option's (possibly wrapped) description.
          const block = help.stdout.split(new RegExp(`^  --${kebab(flag)}(?![\\w-])`, 'm'))[1].split(/\n {2}-/)[0];
          expect(block.replace(/\s+/g, ' ')).toContain(`(default: ${String(value)})`);
        }
      }
    });
  }
});
