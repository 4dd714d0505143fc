/**
 * One layer's rounding from its input moments (docs/method.md#reconstruction): the objective as a quadratic form, then
 * GPTQ or AdaRound on it, and the layer's output error with nearest rounding and with the result.
 *
 * Objectives (x: the fp32 model's input of the layer, x~: the input in the partly quantized model):
 * - 'plain':  E||(W^ - W) x~||^2            (H = E[x~ x~^T]; needs no fp32 pass)
 * - 'cross':  E||W x - W^ x~||^2            (rounds the target W C G^{-1}, which also corrects upstream error)
 * - 'qdrop':  the cross objective on QDrop's input mix (each element float with probability 1/2), a milder
 *             correction than 'cross'.
 * The reported error is always the output error of the deployed layer: E||W x - W^ x~||^2 when the fp32 inputs
 * were collected, else E||(W^ - W) x~||^2.
 */

import { dequantizeWeights, type Grid } from '../quant.ts';
import { adaround } from './adaround.ts';
import { gptq } from './gptq.ts';
import type { MatrixKernels } from './kernels.ts';
import type { Matrix } from './matrix.ts';
import { type Moments, qdropMoments } from './moments.ts';
import { crossTarget, difference, quadraticError } from './objective.ts';

export type ReconMethod = 'none' | 'gptq' | 'adaround';
export type ReconObjective = 'plain' | 'cross' | 'qdrop';

export interface GptqSettings {
  damping?: number;
  blockSize?: number;
  actOrder?: boolean;
}

export interface AdaRoundSettings {
  iterations?: number;
  lr?: number;
  lambda?: number;
}

export interface LayerSolveOptions {
  method: ReconMethod;
  objective: ReconObjective;
  grid: Grid;
  /** Per-output-channel scales, shared with the nearest rounding (so the int32 biases stay the same). */
  scales: Float32Array;
  gptq?: GptqSettings;
  adaround?: AdaRoundSettings;
}

export interface LayerSolution {
  q: Int8Array;
  /** Output error (see the file comment) with nearest rounding of W and with `q`. */
  errorNearest: number;
  error: number;
  /** E||W x||^2, the scale the errors compare against. */
  signal: number;
}

/** Float probability of QDrop's mix. */
export const QDROP_FLOAT_PROB = 0.5;

export interface LayerKernels {
  /** Cholesky, GPTQ, the cross target and the reported errors (float64). */
  exact: MatrixKernels;
  /** AdaRound's per-iteration gradient gemm, which needs no float64 (float32 is faster: bench/quant-math.ts). */
  fast: MatrixKernels;
}

/** Needs `moments` with cross terms for the 'cross' and 'qdrop' objectives (h then holds the fp32 inputs). */
export async function solveLayer(
  w: Matrix,
  moments: Moments,
  nearest: Int8Array,
  kernels: LayerKernels,
  opts: LayerSolveOptions,
): Promise<LayerSolution> {
  // NOTE: only a reference scale for reports, so float32 (one out x in^2 gemm, the size of a GPTQ pass).
  const signal = await quadraticError(w, moments.h, kernels.fast);
  const deployed = outputError(w, moments, kernels.exact);
  if (opts.method === 'none') {
    const e = await deployed(nearest, opts.scales);
    return { q: nearest, errorNearest: e, error: e, signal };
  }
  const rounding = await roundLayer(w, moments, kernels, opts);
  // The plain objective is the deployed error itself: the rounding routines already measured it.
  if (opts.objective === 'plain')
    return { q: rounding.q, errorNearest: rounding.errorNearest, error: rounding.error, signal };
  return {
    q: rounding.q,
    errorNearest: await deployed(nearest, opts.scales),
    error: await deployed(rounding.q, opts.scales),
    signal,
  };
}

async function roundLayer(w: Matrix, moments: Moments, kernels: LayerKernels, opts: LayerSolveOptions) {
  const { target, g } = await quadraticForm(w, moments, kernels.exact, opts.objective);
  const common = { grid: opts.grid, scales: opts.scales };
  if (opts.method === 'gptq') return gptq(target, g, kernels.exact, { ...common, ...opts.gptq });
  return adaround(target, g, kernels.fast, { ...common, ...opts.adaround });
}

/** (target, G) such that the objective is tr((W^ - target) G (W^ - target)^T) + const. */
async function quadraticForm(
  w: Matrix,
  m: Moments,
  kernels: MatrixKernels,
  objective: ReconObjective,
): Promise<{ target: Matrix; g: Matrix }> {
  if (objective === 'plain') return { target: w, g: m.hq ?? m.h };
  if (!m.hq || !m.cross) throw new Error(`objective ${objective} needs cross moments`);
  const { g, cross } = objective === 'qdrop' ? qdropMoments(m, QDROP_FLOAT_PROB) : { g: m.hq, cross: m.cross };
  return { target: await crossTarget(w, cross, g, kernels), g };
}

/**
 * E||W x - W^ x~||^2 = tr(W H W^T) - 2 tr(W C W^^T) + tr(W^ G W^^T) per candidate W^ (C = E[x x~^T]), or
 * tr(dW H dW^T) without cross moments.
 */
function outputError(
  w: Matrix,
  m: Moments,
  kernels: MatrixKernels,
): (q: Int8Array, scales: Float32Array) => Promise<number> {
  const { hq, cross } = m;
  if (!hq || !cross) {
    return (q, scales) => quadraticError(difference(dequantizeWeights(q, scales, w.cols), w), m.h, kernels);
  }
  let fixed: Promise<{ signal: number; wc: Matrix }> | undefined;
  return async (q, scales) => {
    fixed ??= (async () => ({ signal: await quadraticError(w, m.h, kernels), wc: await kernels.gemm(w, cross) }))();
    const { signal, wc } = await fixed;
    const v = dequantizeWeights(q, scales, w.cols);
    let mixed = 0;
    for (let k = 0; k < v.data.length; k++) mixed += wc.data[k] * v.data[k];
    // NOTE: a difference of nearly equal terms at high bit widths; float64 keeps ~1e-12 of the signal.
    return Math.max(0, signal - 2 * mixed + (await quadraticError(v, hq, kernels)));
  };
}
