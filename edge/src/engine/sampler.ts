import { type StepInfo, sampleBy } from '@qdm/shared';
import type { Clock } from '../clock.ts';
import type { SampleRequest } from '../sample-request.ts';
import type { SamplePlan } from './plan.ts';
import type { ModelSession } from './session.ts';

export interface StepProgress extends StepInfo {
  /** Wall time of this step's denoiser call. */
  ms: number;
}

export interface SampleOutput {
  /** x_0 as NCHW float32 in [-1, 1]. */
  x: Float32Array;
  /** Denoiser time of each step, in loop order. */
  stepMs: number[];
}

/**
 * The request's sampler (DDIM, DDPM or DPM-Solver++(2M)) from its seed: sample k of the batch is sample k of that
 * seed, on every runtime and variant.
 */
export async function runSampler(
  session: ModelSession,
  plan: SamplePlan,
  request: SampleRequest,
  clock: Clock,
  onStep?: (progress: StepProgress) => void | Promise<void>,
  signal?: AbortSignal,
): Promise<SampleOutput> {
  const [c, h, w] = plan.shape;
  const stepMs: number[] = [];
  const denoiser = async (x: Float32Array, t: Float32Array, batch: number) => {
    const started = clock.now();
    const out = await session.run(x, [batch, c, h, w], t);
    stepMs.push(clock.now() - started);
    return out;
  };
  const x = await sampleBy(plan.sampler, denoiser, {
    diffusion: plan.diffusion,
    shape: plan.shape,
    batch: request.n,
    seed: request.seed,
    eta: request.eta,
    correction: plan.correction,
    signal,
    onStep: onStep && ((info) => onStep({ ...info, ms: stepMs[info.step] ?? 0 })),
  });
  return { x, stepMs };
}
