import { DEFAULT_SCHEDULE, parseSamplerName, parseSteps, type SamplerName, samplerTakesEta } from '@qdm/shared';
import type { EdgeConfig } from './config.ts';
import { badField } from './errors.ts';

/**
 * The fields of `/sample`, as a query string (GET) or a JSON object (POST). Everything that can be checked without
 * the artifact is checked here; steps against the model's diffusion length and the work budget are checked once
 * the manifest is known (see engine/plan.ts).
 */

export type OutputFormat = 'png' | 'npy' | 'json';
const FORMATS: readonly OutputFormat[] = ['png', 'npy', 'json'];

export interface SampleRequest {
  model?: string;
  variant: string;
  seed: number;
  n: number;
  /**
   * A respacing ("ddim25", "250", "10,20,30") or a step count; absent: the variant's calibrated schedule, else
   * DEFAULT_STEPS (engine/plan.ts decides, once the manifest is known).
   */
  steps?: string | number;
  /** ddim, ddpm or dpm++2m (`dpmpp2m` in a URL means the same); absent: as steps, else DEFAULT_SAMPLER. */
  sampler?: SamplerName;
  eta: number;
  format: OutputFormat;
}

export const DEFAULT_STEPS = DEFAULT_SCHEDULE.steps;
export const DEFAULT_N = 4;
export const DEFAULT_SAMPLER: SamplerName = DEFAULT_SCHEDULE.sampler;
const FIELDS = ['model', 'variant', 'seed', 'n', 'steps', 'sampler', 'eta', 'format'] as const;
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const UINT32_MAX = 0xffffffff;

type Raw = Record<string, unknown>;

function name(raw: Raw, field: string): string | undefined {
  const v = raw[field];
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || !NAME.test(v)) {
    throw badField(field, `${field} must be a name of letters, digits, ".", "_" or "-"`);
  }
  return v;
}

/** An integer from a JSON number or a decimal string (query strings carry only strings). */
function integer(raw: Raw, field: string, min: number, max: number): number | undefined {
  const v = raw[field];
  if (v === undefined) return undefined;
  const value = typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    throw badField(field, `${field} must be an integer in ${min}..${max}`);
  }
  return value;
}

function fraction(raw: Raw, field: string): number | undefined {
  const v = raw[field];
  if (v === undefined) return undefined;
  const value = typeof v === 'string' && v.trim() !== '' ? Number(v) : v;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value > 1) {
    throw badField(field, `${field} must be a number in 0..1`);
  }
  return value;
}

function steps(raw: Raw): string | number | undefined {
  const v = raw.steps;
  if (v === undefined) return undefined;
  const value = typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v;
  if (typeof value !== 'string' && typeof value !== 'number') {
    throw badField('steps', 'steps must be a respacing such as "ddim25" or a step count');
  }
  try {
    parseSteps(value);
  } catch (error) {
    throw badField('steps', (error as Error).message);
  }
  return value;
}

function sampler(raw: Raw): SamplerName | undefined {
  const v = raw.sampler;
  if (v === undefined) return undefined;
  const name = typeof v === 'string' ? parseSamplerName(v) : null;
  if (!name) throw badField('sampler', 'sampler must be one of ddim, ddpm, dpm++2m (or dpmpp2m)');
  return name;
}

function format(raw: Raw): OutputFormat {
  const v = raw.format ?? 'png';
  if (!FORMATS.includes(v as OutputFormat)) throw badField('format', `format must be one of ${FORMATS.join(', ')}`);
  return v as OutputFormat;
}

export function parseSampleRequest(raw: Raw, config: EdgeConfig, randomSeed: () => number): SampleRequest {
  for (const key of Object.keys(raw)) {
    if (key === '') throw badField('(unnamed)', 'a field has an empty name');
    if (!(FIELDS as readonly string[]).includes(key)) throw badField(key, `unknown field ${JSON.stringify(key)}`);
  }
  const chosen = sampler(raw);
  const eta = fraction(raw, 'eta') ?? 0;
  if (chosen) checkEta(chosen, eta);
  return {
    model: name(raw, 'model') ?? config.defaultModel,
    variant: name(raw, 'variant') ?? config.defaultVariant,
    seed: integer(raw, 'seed', 0, UINT32_MAX) ?? randomSeed(),
    n: integer(raw, 'n', 1, config.maxBatch) ?? Math.min(DEFAULT_N, config.maxBatch),
    steps: steps(raw),
    sampler: chosen,
    eta,
    format: format(raw),
  };
}

/** Only DDIM has an eta: silently ignoring one would make two different requests look alike. */
export function checkEta(sampler: SamplerName, eta: number, fromSchedule = false): void {
  if (eta === 0 || samplerTakesEta(sampler)) return;
  throw badField(
    'eta',
    fromSchedule
      ? `eta is for sampler ddim; this variant serves ${sampler} (its calibrated schedule) unless sampler=ddim is given`
      : `eta is for sampler ddim; ${sampler} takes none`,
  );
}

export function randomUint32(): number {
  return crypto.getRandomValues(new Uint32Array(1))[0];
}
