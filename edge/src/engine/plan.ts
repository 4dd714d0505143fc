import {
  createDiffusion,
  type Manifest,
  type NoiseCorrection,
  parseSteps,
  type SamplerName,
  type SpacedDiffusion,
} from '@qdm/shared';
import type { EdgeConfig } from '../config.ts';
import { badField, HttpError } from '../errors.ts';
import { checkEta, DEFAULT_SAMPLER, DEFAULT_STEPS, type SampleRequest } from '../sample-request.ts';

/** A request checked against its artifact: the respaced diffusion and the work it will cost. */
export interface SamplePlan {
  diffusion: SpacedDiffusion;
  /** The respacing actually used ("ddim25", "250", ...). */
  respacing: string;
  steps: number;
  /** The sampler that runs: the request's, else the variant's calibrated schedule's, else DEFAULT_SAMPLER. */
  sampler: SamplerName;
  /** Where sampler and steps came from when the request did not name both. */
  schedule: 'request' | 'variant' | 'default';
  shape: [channels: number, height: number, width: number];
  outChannels: number;
  /** The variant's PTQD coefficients (manifest `noiseCorrection`), applied to every call's epsilon; absent: none. */
  correction?: NoiseCorrection;
}

export function planSample(request: SampleRequest, manifest: Manifest, config: EdgeConfig): SamplePlan {
  if (manifest.model.classCond) {
    throw new HttpError(
      422,
      'unsupported',
      `model ${manifest.name} is class-conditional, which /sample does not serve yet`,
      'model',
    );
  }
  const d = manifest.diffusion;
  const calibrated = manifest.variants[request.variant]?.schedule;
  const sampler = request.sampler ?? calibrated?.sampler ?? DEFAULT_SAMPLER;
  checkEta(sampler, request.eta, request.sampler === undefined && calibrated !== undefined);
  const named = request.sampler !== undefined && request.steps !== undefined;
  let respacing: string;
  let diffusion: SpacedDiffusion;
  try {
    respacing = parseSteps(request.steps ?? calibrated?.steps ?? DEFAULT_STEPS, d.diffusionSteps);
    diffusion = createDiffusion(
      {
        diffusionSteps: d.diffusionSteps,
        noiseSchedule: d.noiseSchedule,
        learnSigma: d.learnSigma,
        rescaleTimesteps: d.rescaleTimesteps,
      },
      respacing,
    );
  } catch (error) {
    throw badField('steps', (error as Error).message);
  }
  const steps = diffusion.numSteps;
  if (steps > config.maxSteps) {
    throw new HttpError(422, 'over_budget', `steps: ${steps} steps is above the limit of ${config.maxSteps}`, 'steps');
  }
  const work = request.n * steps;
  if (work > config.workBudget) {
    throw new HttpError(
      422,
      'over_budget',
      `n x steps = ${request.n} x ${steps} = ${work} denoiser evaluations is above the budget of ${config.workBudget}`,
      'n',
    );
  }
  const size = manifest.model.imageSize;
  return {
    diffusion,
    respacing,
    steps,
    sampler,
    schedule: named ? 'request' : calibrated ? 'variant' : 'default',
    shape: [manifest.model.inChannels, size, size],
    outChannels: manifest.model.outChannels,
    correction: manifest.variants[request.variant]?.noiseCorrection,
  };
}
