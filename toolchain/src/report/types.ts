/**
 * The plain data a build hands to `renderReport`. Every field is JSON-like (plus PNG bytes) so the pipeline can
 * fill it step by step and tests can write one by hand. Time steps are always respaced indices (0 = the last
 * sampling step), the same numbering the calibration set and the DDIM loop use.
 */

export interface BuildReport {
  artifact: ArtifactSummary;
  variants: VariantSummary[];
  calibration?: CalibrationSummary;
  /** One row per (variant, layer), in graph order within each variant. */
  layers: LayerStats[];
  /** Observed range of an activation site at each calibration step; the report plots the most time-varying. */
  activationRanges: ActivationRange[];
  /** Epsilon SQNR of a quantized variant against fp32 along the same trajectory. */
  stepSqnr: StepSqnr[];
  /** Sample grids from the same seeds (fp32 first by convention). */
  samples: SampleGrid[];
  /** Tensors or nodes a quantized variant leaves in float, with the reason. */
  keptFloat: KeptFloat[];
  phases: PhaseTiming[];
  /** Anything else measured (FID, build host, ...), shown as a key/value table. */
  metrics?: Record<string, number | string>;
}

export interface ArtifactSummary {
  name: string;
  /** ISO 8601. */
  createdAt: string;
  parameters: number;
  imageSize: number;
  /** improved-diffusion flags as given by the user. */
  flags: Record<string, unknown>;
  checkpoint?: { file: string; sha256: string; bytes: number };
  toolchainVersion?: string;
}

export interface VariantSummary {
  name: string;
  file: string;
  bytes: number;
  /** 'fp32', 'w8a8', 'w4a8', ... */
  precision: string;
  scheme?: string;
  weightBits?: number;
  activationBits?: number;
  /** Weight rounding: 'none' | 'gptq' | 'adaround'. */
  recon?: string;
  /** Integer kernels onnxruntime fused the QDQ graph into, by op type. */
  integerNodes?: Record<string, number>;
  metrics?: Record<string, number | string>;
}

export interface CalibrationSummary {
  /** Time-step policy: 'uniform' | 'normal' | 'every-k' ... */
  policy: string;
  samples: number;
  trajectories: number;
  /** Sampler steps of the calibration trajectories, e.g. 'ddim50'. */
  steps: string;
  /** Start noise: 'gaussian' | 'renoised' | 'data'. */
  noise: string;
  observer: string;
  /** Count of calibration samples taken at each respaced index (index = array position). */
  stepHistogram: number[];
  settings?: Record<string, number | string>;
}

export interface LayerStats {
  variant: string;
  /** Module path from the checkpoint, e.g. `input_blocks.1.0.in_layers.2`: user data, always escaped. */
  name: string;
  /** 'conv' | 'linear' | 'matmul' ... */
  kind: string;
  weightSqnrDb?: number;
  activationSqnrDb?: number;
  /** Layer output reconstruction error (mean squared) before and after GPTQ/AdaRound. */
  reconBefore?: number;
  reconAfter?: number;
}

export interface ActivationRange {
  site: string;
  /** Respaced indices, same length as min and max. */
  steps: number[];
  min: number[];
  max: number[];
}

export interface StepSqnr {
  variant: string;
  /** Respaced indices, same length as sqnrDb. */
  step: number[];
  sqnrDb: number[];
  /** Steps that ran with float activations (the variant's wide steps), and where its graph switches. */
  wideSteps?: { first: number; last: number; respacing: string; tAbove: number | null; tBelow: number | null };
}

export interface SampleGrid {
  variant: string;
  /** Seed of each image in grid order (row-major). */
  seeds: number[];
  /** A PNG file's bytes; embedded as a data: URI. */
  gridPng: Uint8Array;
  /** Same-seed PSNR of each image against the fp32 image, in dB (absent for fp32 itself). */
  psnrDb?: number[];
}

export interface KeptFloat {
  variant: string;
  name: string;
  reason: string;
}

export interface PhaseTiming {
  name: string;
  seconds: number;
  peakRssMb?: number;
}
