/** Small validators for command-line values: each error names the flag, so the user knows what to fix. */
import { UsageError } from './errors.ts';

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
