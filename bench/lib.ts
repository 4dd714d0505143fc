/** Small helpers the benches share, and the one writer of bench/results/ (what every JSON records). */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { Tensor } from '@qdm/shared';
import { type MachineInfo, machineInfo } from './machine.ts';

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** Deterministic small random weights for timing (values do not matter, shapes do). */
export function randomWeights(name: string, shape: number[]): Tensor<Float32Array> {
  let n = 1;
  for (const d of shape) n *= d;
  let state = 2166136261;
  for (const ch of name) state = Math.imul(state ^ ch.charCodeAt(0), 16777619);
  const data = new Float32Array(n);
  const fanIn = shape.length > 1 ? n / shape[0] : 1;
  const scale = 1 / Math.sqrt(fanIn);
  for (let i = 0; i < n; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    data[i] = ((state / 4294967296) * 2 - 1) * scale;
  }
  // GroupNorm gains near 1 keep activations in a realistic range.
  if (/norm.*\.weight$|in_layers\.0\.weight$|out_layers\.0\.weight$|^out\.0\.weight$/.test(name)) data.fill(1);
  return { dtype: 'float32', shape, data };
}

/** The first prose line of a bench's header comment (`/** ...` or `// ...`): what `npm run bench` lists. */
export function summaryOf(source: string): string {
  for (const line of source.split('\n')) {
    const text = line.replace(/^\s*(\/\*\*|\*\/|\*|\/\/)\s?/, '').trim();
    if (text && !text.startsWith('import')) return text;
  }
  return '';
}

/** Where the committed runs live: one JSON per bench's default run (bench/README.md). */
export const RESULTS_DIR = resolve(import.meta.dirname, 'results');

/**
 * The commit a run measured: HEAD, with "-dirty" when tracked files other than bench/results/ differ from it (the
 * numbers then belong to uncommitted code). "unknown" outside a git checkout.
 */
export function currentCommit(): string {
  if (process.env.QDM_COMMIT) return process.env.QDM_COMMIT; // the device pack records the commit it was built from
  const git = (...args: string[]) =>
    execFileSync('git', args, { cwd: import.meta.dirname, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  try {
    const head = git('rev-parse', 'HEAD').trim();
    const dirty = git('status', '--porcelain', '--untracked-files=no', '--', '..', ':(exclude)results').trim();
    return dirty ? `${head}-dirty` : head;
  } catch {
    return 'unknown';
  }
}

/** The command line of this run, as it can be retyped (arguments with spaces quoted). */
export function benchCommand(bench: string, args: string[] = process.argv.slice(2)): string {
  const quoted = args.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`));
  return ['node', `bench/${bench}.ts`, ...quoted].join(' ');
}

/** What every bench JSON starts with: which bench, the command that ran it, the commit, the machine. */
export function provenance(
  bench: string,
  machine: MachineInfo = machineInfo(),
): { bench: string; command: string; commit: string; machine: MachineInfo } {
  return { bench, command: benchCommand(bench), commit: currentCommit(), machine };
}

/**
 * Writes a bench's JSON: the default run to bench/results/NAME.json, a run with other arguments only where `out`
 * says, and never over the default run's file (a run that measures something else must not replace the cited one).
 * Returns the file written, or null.
 */
export function writeResult(
  name: string,
  report: object,
  options: { defaultRun: boolean; out?: string; indent?: number },
): string | null {
  const defaultFile = resolve(RESULTS_DIR, `${name}.json`);
  const file = options.out ? resolve(options.out) : options.defaultRun ? defaultFile : null;
  if (file === null) return null;
  if (file === defaultFile && !options.defaultRun) {
    throw new Error(`${name}: a run with non-default arguments does not write ${defaultFile}; pass --out another file`);
  }
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, `${JSON.stringify(report, null, options.indent ?? 1)}\n`);
  return file;
}
