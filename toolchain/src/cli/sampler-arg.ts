/** `--sampler`: ddim, ddpm or dpm++2m (dpmpp2m is the same solver, spelled for URLs and shells). */
import { parseSamplerName, type SamplerName, samplerTakesEta } from '@qdm/shared';
import { UsageError } from './errors.ts';

export const SAMPLER_HINT = 'ddim|ddpm|dpm++2m';

export function samplerArg(flag: string, value: string | undefined, fallback: SamplerName = 'ddim'): SamplerName {
  if (value === undefined || value === '') return fallback;
  const name = parseSamplerName(value);
  if (!name) throw new UsageError(`--${flag} must be one of ddim, ddpm, dpm++2m (or dpmpp2m), got "${value}"`);
  return name;
}

/** Only DDIM takes --eta: silently ignoring one would make two different requests look alike. */
export function checkEtaFor(sampler: SamplerName, eta: number): void {
  if (eta !== 0 && !samplerTakesEta(sampler)) {
    throw new UsageError(`--eta is for --sampler ddim; ${sampler} takes no eta`);
  }
}
