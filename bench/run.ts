/**
 * `npm run bench -- NAME [ARGS...]` runs bench/NAME.ts with ARGS; without a name it lists the benchmarks with the
 * first line of each one's header comment. Every benchmark prints one JSON object on stdout.
 * `npm run bench -- report [--check]` writes docs/results.md (and README.md's results table) from bench/results/.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { summaryOf } from './lib.ts';

const here = import.meta.dirname;
const HELPERS = new Set([
  'run',
  'report',
  'lib',
  'machine',
  'edge-lib',
  'edge-load-server',
  'workerd-probe',
  'cifar10-artifact',
]);

function benchmarks(): { name: string; summary: string }[] {
  return readdirSync(here)
    .filter((f) => f.endsWith('.ts') && !HELPERS.has(f.slice(0, -3)))
    .map((f) => ({ name: f.slice(0, -3), summary: summaryOf(readFileSync(join(here, f), 'utf8')) }))
    .sort((a, b) => a.name.localeCompare(b.name));
}

const [name, ...rest] = process.argv.slice(2);
if (!name || name === '--help' || name === '-h') {
  console.log('usage: npm run bench -- NAME [ARGS...]   (usage of each: the header of bench/NAME.ts)\n');
  for (const b of benchmarks()) console.log(`  ${b.name.padEnd(24)} ${b.summary}`);
  console.log(`\n  ${'report'.padEnd(24)} docs/results.md and README.md's results table from bench/results/*.json`);
  process.exit(name ? 0 : 2);
}
const file = join(here, `${name.replace(/\.ts$/, '')}.ts`);
if (!existsSync(file) || (HELPERS.has(name) && name !== 'report')) {
  console.error(`npm run bench: no benchmark "${name}" (npm run bench lists them)`);
  process.exit(2);
}
const result = spawnSync(process.execPath, [file, ...rest], { stdio: 'inherit' });
process.exit(result.status ?? 1);
