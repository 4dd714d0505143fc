/** The beta schedules of improved-diffusion (`get_named_beta_schedule`), computed in float64 like numpy does. */
export type NoiseSchedule = 'linear' | 'cosine';

const NOISE_SCHEDULES: readonly NoiseSchedule[] = ['linear', 'cosine'];

/** Cosine schedules cap beta here so alpha-bar never reaches 0 (improved-diffusion's `max_beta`). */
const MAX_BETA = 0.999;

export function isNoiseSchedule(value: unknown): value is NoiseSchedule {
  return typeof value === 'string' && (NOISE_SCHEDULES as readonly string[]).includes(value);
}

export function betasForSchedule(schedule: NoiseSchedule, diffusionSteps: number): Float64Array {
  if (!Number.isInteger(diffusionSteps) || diffusionSteps < 1) {
    throw new Error(`diffusion steps must be a positive integer, got ${diffusionSteps}`);
  }
  if (schedule === 'linear') return linearBetas(diffusionSteps);
  if (schedule === 'cosine') return cosineBetas(diffusionSteps);
  throw new Error(`unknown noise schedule "${schedule}" (expected ${NOISE_SCHEDULES.join(' or ')})`);
}

/** Ho et al.'s 1e-4..0.02 over 1000 steps, stretched so any step count covers the same noise range. */
function linearBetas(steps: number): Float64Array {
  const scale = 1000 / steps;
  return linspace(scale * 0.0001, scale * 0.02, steps);
}

// NOTE: numpy's linspace is `start + i * ((stop - start) / (n - 1))` with the last value set to `stop` exactly;
// the obvious `start + (stop - start) * i / (n - 1)` differs in the last bit for some i.
function linspace(start: number, stop: number, n: number): Float64Array {
  const out = new Float64Array(n);
  if (n === 1) {
    out[0] = start;
    return out;
  }
  const step = (stop - start) / (n - 1);
  for (let i = 0; i < n; i++) out[i] = i * step + start;
  out[n - 1] = stop;
  return out;
}

/** Nichol & Dhariwal's cosine alpha-bar, discretised as beta_i = 1 - abar((i+1)/T) / abar(i/T). */
function cosineBetas(steps: number): Float64Array {
  const alphaBar = (t: number) => {
    const c = Math.cos((((t + 0.008) / 1.008) * Math.PI) / 2);
    return c * c;
  };
  const out = new Float64Array(steps);
  for (let i = 0; i < steps; i++) {
    out[i] = Math.min(1 - alphaBar((i + 1) / steps) / alphaBar(i / steps), MAX_BETA);
  }
  return out;
}

/** Running product of (1 - beta), left to right like numpy's cumprod. */
export function alphasCumprod(betas: Float64Array): Float64Array {
  const out = new Float64Array(betas.length);
  let acc = 1;
  for (let i = 0; i < betas.length; i++) {
    acc *= 1 - betas[i];
    out[i] = acc;
  }
  return out;
}
