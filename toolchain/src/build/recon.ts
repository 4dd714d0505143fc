/** `--recon none|gptq|adaround`: the weight rounder handed to the quantization pipeline. */
import type { MatrixKernels } from '../quantize/kernels.ts';
import type { WeightRounder } from '../quantize/recon.ts';

export type ReconMethod = 'none' | 'gptq' | 'adaround';
export const RECON_METHODS: readonly ReconMethod[] = ['none', 'gptq', 'adaround'];

export interface ReconSetup {
  rounder: 'none' | WeightRounder;
  kernels?: MatrixKernels;
  dispose(): void;
}

export function createRecon(method: ReconMethod): ReconSetup {
  if (method === 'none') return { rounder: 'none', dispose: () => {} };
  throw new Error(`--recon ${method}: not wired yet`);
}
