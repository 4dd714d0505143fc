/**
 * `@qdm/toolchain/quantize`: the quantizer, grouped by job. `buildArtifact` runs plan -> observe -> reconstruct ->
 * export -> steps; benches and tools import a stage from here to run it alone or swap one out.
 *
 * plan/          which sites: the schemes' activation quantizers (plan.ts, scheme-sites.ts, site-set.ts), the exact
 *                graph rewrites that give a site its own quantizer (shortcut-split.ts, attention-layout.ts,
 *                emb-layout.ts, channels.ts), what stays float and why (kept-float.ts), and mixed-precision W4A8
 *                (mixed-precision.ts: the layers kept at 8 bits)
 * observe/       statistics: activation ranges per site over a calibration set (observe.ts) from observers
 *                (observers.ts: min/max, moving average, percentile, Lp over a streaming histogram.ts) and the Lp
 *                range search shared with weight scales (range-search.ts)
 * reconstruct/   weight rounding: nearest (weights.ts), GPTQ (gptq.ts) and AdaRound (adaround.ts) layer by layer
 *                (reconstruct*.ts, objective.ts) on input second moments (moments.ts), with the dense matrices
 *                and kernels they run on (matrix.ts, cholesky.ts, kernels.ts, kernels-ort.ts, gemm-graph.ts)
 * export/        the QDQ graph (export.ts) and which of its layers onnxruntime fuses to integer kernels (fusion.ts);
 *                the edge graph from it is written by build-artifact/edge-graph.ts
 * steps/         per time step: wide steps (wide-steps.ts: float activations at chosen steps, one If on t in the
 *                same graph) and PTQD noise correction (noise-correction.ts)
 * (this folder)  pipeline.ts (every stage on one graph), quant.ts (integer grids, affine arithmetic),
 *                graph-index.ts (the value lookups every pass shares), sqnr.ts and evaluate.ts (SQNR per site
 *                and per step), test-model.ts (tiny U-Nets for tests: `@qdm/toolchain/testing`)
 */

// ---- plan/ ----

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

// ---- observe/ ----

/** Activation ranges from a calibration set (one onnxruntime pass per batch, an observer per site). */
export { type ActivationStats, type ObserveOptions, observeActivations, type StepRanges } from './observe/observe.ts';
/** Range observers: min/max, moving average, percentile, Lp search. */
export { createObserver, type ObserverKind, type ObserverSpec, type Range } from './observe/observers.ts';
/** Weight scale search per output channel (absmax or Lp). */
export { type ScaleMethod, weightScales } from './observe/range-search.ts';

// ---- reconstruct/ ----

/** AdaRound (learned up/down rounding) on one weight matrix. */
export { type AdaRoundOptions, type AdaRoundResult, adaround } from './reconstruct/adaround.ts';
/** Blocked Cholesky factorization of a symmetric positive-definite matrix. */
export { cholesky } from './reconstruct/cholesky.ts';
/** GPTQ (Hessian-aware rounding with error feedback) on one weight matrix. */
export { type GptqOptions, type GptqResult, gptq } from './reconstruct/gptq.ts';
/** The dense products the reconstruction math runs on, in JS (reference) or onnxruntime (fast). */
export { jsKernels, type MatrixKernels } from './reconstruct/kernels.ts';
/** The onnxruntime backend of MatrixKernels. */
export { ortKernels } from './reconstruct/kernels-ort.ts';
/** Dense row-major float64 matrices. */
export { type Matrix, matrix } from './reconstruct/matrix.ts';
/** Streaming second moments of a layer's inputs (the Hessian GPTQ uses). */
export { MomentAccumulator } from './reconstruct/moments.ts';
/** Weight rounding for a whole plan: nearest, or GPTQ / AdaRound layer by layer against the calibration set. */
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

// ---- export/ ----

/** The QDQ graph: the plan, ranges and rounded weights written as QuantizeLinear/DequantizeLinear pairs. */
export { type ExportOptions, exportQdq, prepareModel, type QuantizedWeight } from './export/export.ts';
/** Which layers onnxruntime fuses into integer kernels in a QDQ graph. */
export { type FusionReport, graphNodes, INTEGER_OPS, inspectFusion } from './export/fusion.ts';

// ---- steps/ ----

/** PTQD noise correction: eps_q = (1 + k_t) eps + r fit per calibration step. */
export { fitNoiseCorrection } from './steps/noise-correction.ts';
/** Wide steps: the noisiest and last steps run with float activations, chosen by an If on t in the same graph. */
export {
  DEFAULT_WIDE_STEPS,
  floatActivationGraph,
  isWideStep,
  parseWideSteps,
  type WideSteps,
  type WideStepsRecord,
  wideStepThresholds,
  withoutWideSteps,
  withWideSteps,
} from './steps/wide-steps.ts';

// ---- shared by the stages ----

/** The epsilon SQNR of a quantized graph against fp32, per respaced time step. */
export { epsilonSqnrByStep } from './evaluate.ts';
/** The value-to-node index a graph pass needs (producers, consumers, initializers). */
export { type GraphIndex, indexGraph } from './graph-index.ts';
/** The whole pipeline on one graph (plan, observe, round, export, fusion check, SQNR). */
export { type QuantizeOptions, type QuantizeResult, quantizeModel } from './pipeline.ts';
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
/** Signal-to-quantization-noise ratio in dB, whole tensors or streamed over batches. */
export { SqnrAccumulator, sqnrDb } from './sqnr.ts';
