/**
 * Streaming activation observers: each sees the tensor flowing into a quantizer batch by batch and finally
 * proposes an unsigned per-tensor range (always containing 0) and the matching QuantizeLinear parameters.
 *
 * - minmax: running min/max.
 * - ema: per-batch min/max blended as m <- momentum*m + (1-momentum)*batch (first batch taken as is).
 * - percentile: [P(100-q), P(q)] from a streaming histogram (bounded memory, ~1 bin width of error).
 * - lp: the L_p grid search of range-search.ts over [min*i/N, max*i/N], evaluated on the histogram's bins
 *   (each bin's points stand at their mean). NOTE: an approximation of the exact search; the error of every
 *   candidate is off by O((bin width / step)^2) relative, plus the rounding kink inside the few bins that
 *   straddle a rounding boundary. With 4096 bins and uint8 each step spans >= 4 bins; tests compare with the
 *   exact search on data that fits in memory.
 */

import { type AffineParams, activationParams, type Grid, UINT8_ACTIVATIONS } from '../quant.ts';
import { StreamingHistogram } from './histogram.ts';
import { DEFAULT_CANDIDATES, DEFAULT_P, searchAffineRange } from './range-search.ts';

export type ObserverSpec =
  | { kind: 'minmax' }
  | { kind: 'ema'; momentum?: number }
  | { kind: 'percentile'; percentile?: number; bins?: number }
  | { kind: 'lp'; p?: number; candidates?: number; bins?: number };

export type ObserverKind = ObserverSpec['kind'];

export interface Range {
  min: number;
  max: number;
}

export interface ActivationObserver {
  readonly spec: ObserverSpec;
  readonly grid: Grid;
  /** Number of values seen so far. */
  readonly count: number;
  /** `extremes`: the exact min/max of `x` when the caller has them (saves a pass over the data). */
  observe(x: ArrayLike<number>, extremes?: Range): void;
  /** The proposed range (contains 0). Throws before any value was observed. */
  range(): Range;
  params(): AffineParams;
}

export const DEFAULT_MOMENTUM = 0.9;
export const DEFAULT_PERCENTILE = 99.99;

export function createObserver(spec: ObserverSpec, grid: Grid = UINT8_ACTIVATIONS): ActivationObserver {
  switch (spec.kind) {
    case 'minmax':
      return new MinMaxObserver(spec, grid, 0);
    case 'ema':
      return new MinMaxObserver(spec, grid, spec.momentum ?? DEFAULT_MOMENTUM);
    case 'percentile':
    case 'lp':
      return new HistogramObserver(spec, grid);
  }
}

function batchExtremes(x: ArrayLike<number>): Range | null {
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < x.length; i++) {
    const v = x[i];
    if (v < min) min = v;
    if (v > max) max = v;
  }
  return min <= max ? { min, max } : null;
}

function withZero(r: Range): Range {
  return { min: Math.min(r.min, 0), max: Math.max(r.max, 0) };
}

class MinMaxObserver implements ActivationObserver {
  readonly spec: ObserverSpec;
  readonly grid: Grid;
  count = 0;
  private readonly momentum: number; // 0 = plain min/max
  private state: Range | null = null;

  constructor(spec: ObserverSpec, grid: Grid, momentum: number) {
    if (!(momentum >= 0 && momentum < 1)) throw new Error(`ema momentum must be in [0, 1), got ${momentum}`);
    this.spec = spec;
    this.grid = grid;
    this.momentum = momentum;
  }

  observe(x: ArrayLike<number>, extremes?: Range): void {
    const b = extremes ? (extremes.min <= extremes.max ? extremes : null) : batchExtremes(x);
    if (!b) return;
    this.count += x.length;
    const s = this.state;
    const m = this.momentum;
    if (!s) this.state = b;
    else if (m === 0) this.state = { min: Math.min(s.min, b.min), max: Math.max(s.max, b.max) };
    else this.state = { min: m * s.min + (1 - m) * b.min, max: m * s.max + (1 - m) * b.max };
  }

  range(): Range {
    if (!this.state) throw new Error(`${this.spec.kind} observer: no values observed`);
    return withZero(this.state);
  }

  params(): AffineParams {
    const r = this.range();
    return activationParams(r.min, r.max, this.grid);
  }
}

class HistogramObserver implements ActivationObserver {
  readonly spec: ObserverSpec & { kind: 'percentile' | 'lp' };
  readonly grid: Grid;
  private readonly hist: StreamingHistogram;
  private cached: { count: number; params: AffineParams; range: Range } | null = null;

  constructor(spec: ObserverSpec & { kind: 'percentile' | 'lp' }, grid: Grid) {
    this.spec = spec;
    this.grid = grid;
    this.hist = new StreamingHistogram(spec.bins ?? 4096);
  }

  get count(): number {
    return this.hist.count;
  }

  observe(x: ArrayLike<number>, extremes?: Range): void {
    this.hist.add(x, extremes);
  }

  range(): Range {
    return this.solve().range;
  }

  params(): AffineParams {
    return this.solve().params;
  }

  private solve(): { params: AffineParams; range: Range } {
    const h = this.hist;
    if (h.count === 0) throw new Error(`${this.spec.kind} observer: no values observed`);
    if (this.cached?.count === h.count) return this.cached;
    let range: Range;
    let params: AffineParams;
    if (this.spec.kind === 'percentile') {
      const q = this.spec.percentile ?? DEFAULT_PERCENTILE;
      range = withZero({ min: h.percentile(100 - q), max: h.percentile(q) });
      params = activationParams(range.min, range.max, this.grid);
    } else {
      const { values, weights } = h.points();
      const best = searchAffineRange(values, weights, this.grid, {
        p: this.spec.p ?? DEFAULT_P,
        candidates: this.spec.candidates ?? DEFAULT_CANDIDATES,
        min: h.min,
        max: h.max,
      });
      range = { min: best.min, max: best.max };
      params = best.params;
    }
    this.cached = { count: h.count, params, range };
    return this.cached;
  }
}
