/** `--recon none|gptq|adaround`: round-to-nearest, or the pipeline's segmented sequential reconstruction. */
export type ReconMethod = 'none' | 'gptq' | 'adaround';
export const RECON_METHODS: readonly ReconMethod[] = ['none', 'gptq', 'adaround'];
