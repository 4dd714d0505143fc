/**
 * Which respaced steps of the fp32 trajectory the calibration pairs come from. Indices are respaced time indices
 * i in [0, T'): i = T'-1 is the first (noisiest) model call of a trajectory, i = 0 the last. NOTE: the published
 * PTQ4DM/DI2N code stored the loop counter instead, which runs the opposite way; here i is always the real one.
 */
import { CLIError } from '../errors.ts';

/** A calibration request that cannot be met as given (the message names the option to change). */
export class CalibrationError extends CLIError {
  override name = 'CalibrationError';
}

export type TimestepPolicy =
  | { kind: 'uniform' }
  | { kind: 'normal'; mean: number; std: number }
  | { kind: 'every-k'; every: number };

/** A small seeded PRNG (mulberry32) for choosing steps and trajectories; reproducible across runs. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function standardNormal(random: () => number): number {
  // Box-Muller; 1 - u keeps the log argument in (0, 1].
  const u = 1 - random();
  const v = random();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

/**
 * Returns `count` respaced step indices (with repeats) following the policy:
 * - uniform: stratified over all T' steps (DI2N): every step gets count/T' pairs, the remainder spread evenly;
 * - normal: PTQ4DM's NDTC, i = clamp(floor(N(mean, std) * T'), 0, T'-1);
 * - every-k: Q-Diffusion, the steps at loop positions 0, k, 2k, ... (counting from the noisiest call), evenly.
 */
export function sampleTimesteps(policy: TimestepPolicy, numSteps: number, count: number, seed: number): number[] {
  if (!Number.isInteger(count) || count < 1)
    throw new CalibrationError(`calibration sample count must be >= 1, got ${count}`);
  const random = mulberry32(seed);
  if (policy.kind === 'normal') {
    const out: number[] = [];
    for (let j = 0; j < count; j++) {
      const i = Math.floor((policy.mean + policy.std * standardNormal(random)) * numSteps);
      out.push(Math.min(numSteps - 1, Math.max(0, i)));
    }
    return out.sort((a, b) => b - a);
  }
  let steps: number[];
  if (policy.kind === 'every-k') {
    if (!Number.isInteger(policy.every) || policy.every < 1 || policy.every > numSteps) {
      throw new CalibrationError(`--every must be an integer in 1..${numSteps}, got ${policy.every}`);
    }
    steps = [];
    for (let position = 0; position < numSteps; position += policy.every) steps.push(numSteps - 1 - position);
  } else {
    steps = Array.from({ length: numSteps }, (_, k) => numSteps - 1 - k);
  }
  // Stratified: pair j goes to step floor((j + offset) * |steps| / count), so counts differ by at most one.
  const offset = random();
  const out: number[] = [];
  for (let j = 0; j < count; j++)
    out.push(steps[Math.min(steps.length - 1, Math.floor(((j + offset) * steps.length) / count))]);
  return out;
}

/**
 * Assigns each chosen step to a trajectory so that pairs from one step come from different trajectories
 * (round-robin from a random start). Returns, per trajectory, the set of respaced indices to record.
 */
export function assignToTrajectories(steps: number[], trajectories: number, seed: number): Set<number>[] {
  const perTrajectory = Array.from({ length: trajectories }, () => new Set<number>());
  const random = mulberry32(seed ^ 0x5bd1e995);
  const byStep = new Map<number, number>();
  for (const step of steps) byStep.set(step, (byStep.get(step) ?? 0) + 1);
  for (const [step, n] of byStep) {
    if (n > trajectories) {
      throw new CalibrationError(
        `${n} calibration pairs at step ${step} need at least ${n} trajectories (--calib-trajectories ${trajectories}); ` +
          'raise --calib-trajectories or lower --calib-samples',
      );
    }
    const start = Math.floor(random() * trajectories);
    for (let k = 0; k < n; k++) perTrajectory[(start + k) % trajectories].add(step);
  }
  return perTrajectory;
}
