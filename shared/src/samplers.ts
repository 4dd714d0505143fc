/** Every sampler by name, for the front ends (`toolchain sample`, the edge, the browser) that let a user pick one. */
import { ddimSample } from './ddim.ts';
import { ddpmSample } from './ddpm.ts';
import type { Denoiser } from './denoiser.ts';
import { dpmpp2mSample } from './dpmpp2m.ts';
import type { SamplerName } from './multistep.ts';
import type { SampleOptions } from './sample-loop.ts';

const SAMPLERS: Record<SamplerName, (denoiser: Denoiser, options: SampleOptions) => Promise<Float32Array>> = {
  ddim: ddimSample,
  ddpm: ddpmSample,
  'dpm++2m': dpmpp2mSample,
};

/** Runs the named sampler; one model call per respaced step for each of them. */
export function sampleBy(name: SamplerName, denoiser: Denoiser, options: SampleOptions): Promise<Float32Array> {
  const run = SAMPLERS[name];
  if (!run) throw new Error(`unknown sampler ${JSON.stringify(name)}`);
  return run(denoiser, options);
}
