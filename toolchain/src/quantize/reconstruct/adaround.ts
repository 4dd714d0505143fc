/**
 * Layer-wise AdaRound on the quadratic objective: learn, per weight, whether to round down or up.
 *   W^ = s * clamp(floor(W/s) + h(alpha), qmin, qmax),  h = clamp(sigmoid(alpha)*(zeta-gamma)+gamma, 0, 1)
 *   loss = tr((W^ - W) H (W^ - W)^T) + lambda * sum(1 - |2h - 1|^beta)
 * with zeta 1.1, gamma -0.1, alpha initialized so that h equals the fractional part of W/s (the soft weights
 * start at W), the regularizer off during the first 20% of iterations and beta annealed linearly 20 -> 2 after
 * it, Adam (lr 1e-3) on alpha, and hard rounding (h = [alpha >= 0]) at the end. The gradient of the quadratic
 * term is 2 dW H: one gemm per iteration, O(out*in^2).
 */

import { type LpSearchOptions, type ScaleMethod, weightScales } from '../observe/range-search.ts';
import { dequantizeWeights, type Grid, quantizeWeights } from '../quant.ts';
import type { WeightRounding } from './gptq.ts';
import type { MatrixKernels } from './kernels.ts';
import { type Matrix, matrix } from './matrix.ts';
import { difference, quadraticError } from './objective.ts';

export interface AdaRoundOptions extends LpSearchOptions {
  grid: Grid;
  scales?: Float32Array;
  scaleMethod?: ScaleMethod;
  iterations?: number; // default 1000
  lambda?: number; // default 0.01
  lr?: number; // default 1e-3
  beta?: [number, number]; // default [20, 2]
  warmup?: number; // default 0.2
  /** Called every `logEvery` iterations with the current soft losses. */
  onLog?: (it: number, rec: number, reg: number) => void;
  logEvery?: number;
}

export interface AdaRoundResult extends WeightRounding {
  /** Fraction of soft h within 0.01 of 0 or 1 before the final hard rounding. */
  binaryFraction: number;
}

const ZETA = 1.1;
const GAMMA = -0.1;

export async function adaround(
  w: Matrix,
  h: Matrix,
  kernels: MatrixKernels,
  opts: AdaRoundOptions,
): Promise<AdaRoundResult> {
  const { rows, cols } = w;
  const { qmin, qmax } = opts.grid;
  const scales = opts.scales ?? weightScales(w, opts.grid, { ...opts, method: opts.scaleMethod });
  const iterations = opts.iterations ?? 1000;
  const lambda = opts.lambda ?? 0.01;
  const lr = opts.lr ?? 1e-3;
  const [betaStart, betaEnd] = opts.beta ?? [20, 2];
  const warmupIters = (opts.warmup ?? 0.2) * iterations;

  const size = rows * cols;
  const base = new Float64Array(size); // floor(W/s)
  const alpha = new Float64Array(size);
  for (let r = 0; r < rows; r++) {
    const s = Math.fround(scales[r]);
    for (let k = r * cols; k < (r + 1) * cols; k++) {
      const x = w.data[k] / s;
      base[k] = Math.floor(x);
      const rest = x - base[k];
      alpha[k] = -Math.log((ZETA - GAMMA) / (rest - GAMMA) - 1);
    }
  }
  const adam = new Adam(size, lr);
  const dw = matrix(rows, cols); // soft W^ - W
  const dwdAlpha = new Float64Array(size);
  const grad = new Float64Array(size);
  for (let it = 0; it < iterations; it++) {
    const regOn = it >= warmupIters;
    const beta = regOn ? betaAt(it, iterations, warmupIters, betaStart, betaEnd) : 0;
    let reg = 0;
    for (let r = 0; r < rows; r++) {
      const s = scales[r];
      for (let k = r * cols; k < (r + 1) * cols; k++) {
        const sig = 1 / (1 + Math.exp(-alpha[k]));
        const hRaw = sig * (ZETA - GAMMA) + GAMMA;
        const hv = hRaw < 0 ? 0 : Math.min(hRaw, 1);
        // dh/dalpha, zero where the clamp of h is active
        const dh = hRaw > 0 && hRaw < 1 ? sig * (1 - sig) * (ZETA - GAMMA) : 0;
        const level = base[k] + hv;
        const inGrid = level >= qmin && level <= qmax;
        dw.data[k] = s * (inGrid ? level : level < qmin ? qmin : qmax) - w.data[k];
        dwdAlpha[k] = inGrid ? s * dh : 0;
        grad[k] = 0;
        if (regOn) {
          const t = 2 * hv - 1;
          const a = Math.abs(t);
          reg += 1 - a ** beta;
          // d/dh (1 - |2h-1|^beta) = -2 beta |2h-1|^(beta-1) sign(2h-1)
          grad[k] = -lambda * 2 * beta * a ** (beta - 1) * Math.sign(t) * dh;
        }
      }
    }
    const dwh = await kernels.gemm(dw, h);
    let rec = 0;
    for (let k = 0; k < size; k++) {
      rec += dwh.data[k] * dw.data[k];
      grad[k] += 2 * dwh.data[k] * dwdAlpha[k];
    }
    if (opts.onLog && (it % (opts.logEvery ?? 100) === 0 || it === iterations - 1)) opts.onLog(it, rec, lambda * reg);
    adam.step(alpha, grad);
  }

  let binary = 0;
  const q = new Int8Array(size);
  for (let k = 0; k < size; k++) {
    const hv = Math.min(1, Math.max(0, (ZETA - GAMMA) / (1 + Math.exp(-alpha[k])) + GAMMA));
    if (hv < 0.01 || hv > 0.99) binary++;
    const level = base[k] + (alpha[k] >= 0 ? 1 : 0);
    q[k] = level < qmin ? qmin : Math.min(level, qmax);
  }
  const nearest = quantizeWeights(w, scales, opts.grid);
  return {
    q,
    scales,
    errorNearest: await quadraticError(difference(dequantizeWeights(nearest, scales, cols), w), h, kernels),
    error: await quadraticError(difference(dequantizeWeights(q, scales, cols), w), h, kernels),
    binaryFraction: size > 0 ? binary / size : 1,
  };
}

/** Linear decay from start to end after the warm-up (BRECQ's schedule). */
function betaAt(it: number, total: number, warmup: number, start: number, end: number): number {
  const rel = (it - warmup) / Math.max(total - warmup, 1);
  return end + (start - end) * Math.max(0, 1 - rel);
}

class Adam {
  private readonly m: Float64Array;
  private readonly v: Float64Array;
  private t = 0;
  private readonly lr: number;

  constructor(size: number, lr: number) {
    this.m = new Float64Array(size);
    this.v = new Float64Array(size);
    this.lr = lr;
  }

  step(param: Float64Array, grad: Float64Array): void {
    const b1 = 0.9;
    const b2 = 0.999;
    this.t++;
    const c1 = 1 - b1 ** this.t;
    const c2 = 1 - b2 ** this.t;
    for (let k = 0; k < param.length; k++) {
      this.m[k] = b1 * this.m[k] + (1 - b1) * grad[k];
      this.v[k] = b2 * this.v[k] + (1 - b2) * grad[k] * grad[k];
      param[k] -= (this.lr * (this.m[k] / c1)) / (Math.sqrt(this.v[k] / c2) + 1e-8);
    }
  }
}
