/**
 * Multistep samplers: a rule whose step reads the outputs of the steps before it (DPM-Solver++(2M) reads the last
 * x_0 prediction), where a `SamplerRule` step sees only its own model output. The loop (sample-loop.ts) keeps the
 * history, so a rule stays a pure function of its inputs and one rule object serves any number of runs.
 */
import type { StepInput, StepResult } from './step.ts';

/** One earlier step as a multistep rule reads it: its respaced index and its (clipped) x_0 prediction. */
export interface PreviousStep {
  index: number;
  predXStart: Float32Array;
}

export interface MultistepRule {
  /** How many earlier steps `step` reads: the loop keeps that many, newest first. */
  history: number;
  needsNoise(index: number): boolean;
  /** x_{i-1} from x_i, this step's model output and `previous` (newest first; empty at the first step). */
  step(input: StepInput, previous: readonly PreviousStep[]): StepResult;
}

/** The sampler names every front end accepts, and the spellings that mean the same sampler. */
export type SamplerName = 'ddim' | 'ddpm' | 'dpm++2m';
export const SAMPLER_NAMES: readonly SamplerName[] = ['ddim', 'ddpm', 'dpm++2m'];
const ALIASES: Record<string, SamplerName> = { dpmpp2m: 'dpm++2m' };

/**
 * A sampler name as a user may type it (`dpmpp2m` is the URL-friendly spelling of `dpm++2m`, case ignored), or
 * null when it names no sampler.
 */
export function parseSamplerName(value: string): SamplerName | null {
  const name = value.trim().toLowerCase();
  if ((SAMPLER_NAMES as readonly string[]).includes(name)) return name as SamplerName;
  return ALIASES[name] ?? null;
}

/**
 * What `toolchain sample` and the edge run for a request that names no sampler or steps and whose variant records
 * no calibrated schedule. Chosen by measurement (bench/results/fewstep-mnist32.json): the fewest model calls whose
 * fp32 class-FID on mnist32 is within 2% of DDIM-25's; DPM-Solver++(2M) was not within it at fewer calls.
 */
export const DEFAULT_SCHEDULE: { readonly sampler: SamplerName; readonly steps: string } = {
  sampler: 'ddim',
  steps: 'ddim20',
};

/** Whether a sampler takes DDIM's eta (the others are deterministic or have their own variance). */
export function samplerTakesEta(name: SamplerName): boolean {
  return name === 'ddim';
}
