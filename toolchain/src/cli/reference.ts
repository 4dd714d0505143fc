/**
 * docs/cli.md: every command's `--help`, exactly as the terminal shows it at 100 columns, so the reference cannot
 * drift from the declared options. `npm run docs` writes it (`node toolchain/src/cli/reference.ts`); `--check` exits 1
 * when the file is stale, and toolchain/test/docs.test.ts fails on the same comparison.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ArgsDef } from 'citty';
import { renderHelp } from './help.ts';
import { commands } from './main.ts';

export const CLI_REFERENCE = resolve(import.meta.dirname, '../../../docs/cli.md');

export async function cliReference(): Promise<string> {
  const sections: string[] = [];
  const index: string[] = [];
  for (const [name, load] of Object.entries(commands)) {
    const command = await load();
    const meta = (typeof command.meta === 'function' ? await command.meta() : await command.meta) ?? {};
    const args = ((typeof command.args === 'function' ? await command.args() : await command.args) ?? {}) as ArgsDef;
    index.push(`| [\`toolchain ${name}\`](#toolchain-${name}) | ${meta.description ?? ''} |`);
    sections.push(`## toolchain ${name}`, '', '```text', renderHelp(name, meta, args, 100), '```', '');
  }
  return [
    '# toolchain command reference',
    '',
    "Generated from each command's `--help` by `npm run docs`: do not edit by hand. Every command also takes",
    '`--json` (one JSON object on stdout, progress on stderr) and `--quiet`, and exits 2 on a usage error and 1 on',
    'a failure, with a one-line message.',
    '',
    '| command | what it does |',
    '|---|---|',
    ...index,
    '',
    ...sections,
  ].join('\n');
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const text = await cliReference();
  let current = '';
  try {
    current = readFileSync(CLI_REFERENCE, 'utf8');
  } catch {}
  if (current === text) process.exit(0);
  if (process.argv.includes('--check')) {
    console.error("docs/cli.md is stale against the commands' --help: run npm run docs");
    process.exit(1);
  }
  writeFileSync(CLI_REFERENCE, text);
  console.error('wrote docs/cli.md');
}
