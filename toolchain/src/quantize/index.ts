/**
 * `@qdm/toolchain/quantize`: the quantizer's parts, for benches and tools that run a stage alone or swap one out.
 * `buildArtifact` (the package entry point) runs them all in order: plan -> observe -> reconstruct -> export.
 */

export { epsilonSqnrByStep } from './evaluate.ts';
/** The QDQ graph: the plan, ranges and rounded weights written as QuantizeLinear/DequantizeLinear pairs. */
export { type ExportOptions, exportQdq, prepareModel, type QuantizedWeight } from './export/export.ts';
/** Which layers onnxruntime fuses into integer kernels in a QDQ graph. */
export { type FusionReport, graphNodes, INTEGER_OPS, inspectFusion } from './export/fusion.ts';
/** The value-to-node index a graph pass needs (producers, consumers, initializers). */
export { type GraphIndex, indexGraph } from './graph-index.ts';
/** Activation ranges from a calibration set (one onnxruntime pass per batch, an observer per site). */
export { type ActivationStats, type ObserveOptions, observeActivations, type StepRanges } from './observe/observe.ts';
/** Range observers: min/max, moving average, percentile, Lp search. */
export { createObserver, type ObserverKind, type ObserverSpec, type Range } from './observe/observers.ts';
/** Weight scale search (absmax or Lp). */
export { type ScaleMethod, weightScales } from './observe/range-search.ts';
/** The whole pipeline on one graph (plan, observe, round, export, fusion check, SQNR). */
export { type QuantizeOptions, type QuantizeResult, quantizeModel } from './pipeline.ts';
/** Mixed-precision W4A8: per-layer sensitivity and the layers kept at 8 bits within a weight budget. */
export {
  BudgetError,
  checkBudget,
  chooseW8Layers,
  type LayerSensitivity,
  measureSensitivity,
  type PrecisionChoice,
  type W8Layer,
  withW8Layers,
} from './plan/mixed-precision.ts';
/** Which sites are quantized: weights per output channel, activations per tensor, by scheme. */
export { imageEndLayers, PlanError, planQuantization, SCHEMES } from './plan/plan.ts';
/** The plan's types: its sites, what stays float and why. */
export type {
  ActivationRole,
  ActivationSite,
  KeptFloat,
  PlanOptions,
  QuantPlan,
  Scheme,
  WeightSite,
} from './plan/plan-types.ts';
/** Integer grids and affine quantization arithmetic. */
export {
  type AffineParams,
  type Grid,
  INT4_WEIGHTS,
  INT8_WEIGHTS,
  UINT8_ACTIVATIONS,
  UINT16_ACTIVATIONS,
  weightGrid,
} from './quant.ts';
export { type AdaRoundOptions, type AdaRoundResult, adaround } from './reconstruct/adaround.ts';
export { cholesky } from './reconstruct/cholesky.ts';
/** GPTQ (Hessian-aware rounding) and AdaRound on one matrix. */
export { type GptqOptions, type GptqResult, gptq } from './reconstruct/gptq.ts';
export { jsKernels, type MatrixKernels } from './reconstruct/kernels.ts';
export { ortKernels } from './reconstruct/kernels-ort.ts';
/** Dense float64 matrices and the kernels (JS or onnxruntime) the reconstruction math runs on. */
export { type Matrix, matrix } from './reconstruct/matrix.ts';
/** Streaming second moments of a layer's inputs (the Hessian GPTQ uses). */
export { MomentAccumulator } from './reconstruct/moments.ts';
/** Weight rounding: nearest, or GPTQ / AdaRound layer by layer against the calibration set. */
export {
  DEFAULT_ADAROUND,
  DEFAULT_GPTQ,
  RECON_METHODS,
  type ReconMethod,
  type ReconObjective,
  type ReconstructionResult,
  type ReconstructOptions,
  reconstructWeights,
} from './reconstruct/reconstruct.ts';
/** Round-to-nearest weights and the float matrix view of a weight initializer. */
export { roundWeightsNearest, weightMatrix, weightSqnr } from './reconstruct/weights.ts';
/** Signal-to-quantization-noise ratio (dB), and per calibration step of a quantized graph. */
export { SqnrAccumulator, sqnrDb } from './sqnr.ts';
/** PTQD noise correction: eps_q = (1 + k_t) eps + r fit per calibration step. */
export { fitNoiseCorrection } from './steps/noise-correction.ts';
/** Wide steps: the noisiest and last steps run with float activations, chosen by an If on t in the same graph. */
export {
  DEFAULT_WIDE_STEPS,
  isWideStep,
  parseWideSteps,
  type WideSteps,
  type WideStepsRecord,
  wideStepThresholds,
  withoutWideSteps,
  withWideSteps,
} from './steps/wide-steps.ts';
