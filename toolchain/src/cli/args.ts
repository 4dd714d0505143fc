/** Small validators for command-line values: each error names the flag, so the user knows what to fix. */
import { parseSteps } from '@qdm/shared';
import { UsageError } from '../errors.ts';

export function requireArg(flag: string, value: string | undefined): string {
  if (value === undefined || value === '') throw new UsageError(`--${flag} is required`);
  return value;
}

interface NumberOptions {
  min?: number;
  max?: number;
  default?: number;
}

function numberArg(flag: string, value: string | number | undefined, opts: NumberOptions, integer: boolean): number {
  if (value === undefined || value === '') {
    if (opts.default === undefined) throw new UsageError(`--${flag} is required`);
    return opts.default;
  }
  const n = typeof value === 'number' ? value : Number(value);
  if (integer ? !Number.isInteger(n) : !Number.isFinite(n)) {
    throw new UsageError(`--${flag} must be ${integer ? 'an integer' : 'a number'}, got "${value}"`);
  }
  if (opts.min !== undefined && n < opts.min) throw new UsageError(`--${flag} must be >= ${opts.min}, got ${n}`);
  if (opts.max !== undefined && n > opts.max) throw new UsageError(`--${flag} must be <= ${opts.max}, got ${n}`);
  return n;
}

export function intArg(flag: string, value: string | number | undefined, opts: NumberOptions = {}): number {
  return numberArg(flag, value, opts, true);
}

export function floatArg(flag: string, value: string | number | undefined, opts: NumberOptions = {}): number {
  return numberArg(flag, value, opts, false);
}

export function enumArg<T extends string>(
  flag: string,
  value: string | undefined,
  options: readonly T[],
  fallback?: T,
): T {
  if (value === undefined || value === '') {
    if (fallback === undefined) throw new UsageError(`--${flag} is required (one of ${options.join(', ')})`);
    return fallback;
  }
  if (!(options as readonly string[]).includes(value)) {
    throw new UsageError(`--${flag} must be one of ${options.join(', ')}, got "${value}"`);
  }
  return value as T;
}

export function listArg(value: string | undefined): string[] {
  if (!value) return [];
  return value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

/** `--shard i/n`: shard i (0-based) of n. */
export function shardArg(flag: string, value: string): { index: number; of: number } {
  const m = /^(\d+)\/(\d+)$/.exec(value.trim());
  if (!m) throw new UsageError(`--${flag} must be i/n (e.g. 0/4), got "${value}"`);
  const index = Number(m[1]);
  const of = Number(m[2]);
  if (of < 1 || index >= of) throw new UsageError(`--${flag} ${value}: need 0 <= i < n (shards are numbered from 0)`);
  return { index, of };
}

/**
 * A respacing ("ddim50", "250", "10,20,30" or a count), checked before any work starts; with `diffusionSteps`
 * also against the model (at least 2 of its steps).
 */
export function stepsArg(flag: string, value: string, diffusionSteps?: number): string {
  try {
    parseSteps(value, diffusionSteps);
  } catch (error) {
    throw new UsageError(`--${flag}: ${(error as Error).message}`);
  }
  return value;
}

/** An output file named by its format (`.npz`, `.png`): writing a zip under a .png name only confuses later. */
export function outputFileArg(flag: string, value: string | undefined, extension: string): string {
  const path = requireArg(flag, value);
  if (!path.toLowerCase().endsWith(extension)) {
    throw new UsageError(`--${flag} must name a ${extension} file, got "${path}"`);
  }
  return path;
}
