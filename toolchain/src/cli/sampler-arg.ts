/** `--sampler`: ddim, ddpm or dpm++2m (dpmpp2m is the same solver, spelled for URLs and shells). */
import {
  DEFAULT_SCHEDULE,
  parseSamplerName,
  type SamplerName,
  type ServingSchedule,
  samplerTakesEta,
} from '@qdm/shared';
import { UsageError } from '../errors.ts';

export const SAMPLER_HINT = 'ddim|ddpm|dpm++2m';

export function samplerArg(flag: string, value: string | undefined, fallback: SamplerName = 'ddim'): SamplerName {
  if (value === undefined || value === '') return fallback;
  const name = parseSamplerName(value);
  if (!name) throw new UsageError(`--${flag} must be one of ddim, ddpm, dpm++2m (or dpmpp2m), got "${value}"`);
  return name;
}

/** `--calib-sampler`: the deterministic sampler whose fp32 trajectory gives the calibration pairs; absent: none. */
export function calibSamplerArg(value: string | undefined): { sampler?: 'ddim' | 'dpm++2m' } {
  if (value === undefined) return {};
  const name = parseSamplerName(value);
  if (name !== 'ddim' && name !== 'dpm++2m') {
    throw new UsageError(`--calib-sampler must be ddim or dpm++2m (or dpmpp2m), got "${value}"`);
  }
  return { sampler: name };
}

/** Only DDIM takes --eta: silently ignoring one would make two different requests look alike. */
export function checkEtaFor(sampler: SamplerName, eta: number): void {
  if (eta !== 0 && !samplerTakesEta(sampler)) {
    throw new UsageError(`--eta is for --sampler ddim; ${sampler} takes no eta`);
  }
}

/**
 * The (sampler, steps) to sample with: each flag given wins; one not given comes from the schedule the variant was
 * calibrated for (manifest `schedule`), else DEFAULT_SCHEDULE. `from` says which: 'flags' when both were given.
 */
export function servingSchedule(
  flags: { sampler?: string; steps?: string },
  schedule: ServingSchedule | undefined,
  eta: number,
): { sampler: SamplerName; steps: string; from: 'flags' | 'variant' | 'default' } {
  const sampler =
    flags.sampler !== undefined
      ? samplerArg('sampler', flags.sampler)
      : (schedule?.sampler ?? DEFAULT_SCHEDULE.sampler);
  const steps = flags.steps ?? schedule?.steps ?? DEFAULT_SCHEDULE.steps;
  const given = flags.sampler !== undefined && flags.steps !== undefined;
  const from = given ? 'flags' : schedule ? 'variant' : 'default';
  if (eta !== 0 && !samplerTakesEta(sampler)) {
    throw new UsageError(
      flags.sampler === undefined
        ? `--eta is for --sampler ddim; this variant serves ${sampler} (its calibration schedule): add --sampler ddim`
        : `--eta is for --sampler ddim; ${sampler} takes no eta`,
    );
  }
  return { sampler, steps, from };
}
