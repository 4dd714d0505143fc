/** Typed access to fixtures/diffusion-reference.json (written by fixtures/make_reference.py from improved-diffusion). */
import { readFileSync } from 'node:fs';
import type { NoiseSchedule } from '../src/schedule.ts';

export interface ScheduleReference {
  indices: number[];
  betas: number[];
  alphas_cumprod: number[];
  betas_sum: number;
  alphas_cumprod_sum: number;
  betas_all?: number[];
}

export interface DiffusionReference {
  timestep_map: number[];
  betas: number[];
  alphas_cumprod: number[];
  alphas_cumprod_prev: number[];
  posterior_variance: number[];
  posterior_log_variance_clipped: number[];
  model_times: number[];
}

export interface TrajectoryReference {
  sampler: 'ddim' | 'ddpm';
  diffusion_steps: number;
  noise_schedule: NoiseSchedule;
  learn_sigma: boolean;
  rescale_timesteps: boolean;
  respacing: string;
  eta: number;
  clip_denoised: boolean;
  float64: boolean;
  model_times: number[];
  samples: number[][];
  final: number[];
  pred_xstart_first: number[];
}

export interface Reference {
  shape: [number, number, number, number];
  schedules: Record<string, ScheduleReference>;
  timestep_maps: Record<string, number[]>;
  respacing_errors: { steps: number; spacing: string }[];
  diffusions: Record<string, DiffusionReference>;
  x_T: number[];
  z: number[];
  trajectories: Record<string, TrajectoryReference>;
}

export const reference: Reference = JSON.parse(
  readFileSync(new URL('./fixtures/diffusion-reference.json', import.meta.url), 'utf8'),
);
