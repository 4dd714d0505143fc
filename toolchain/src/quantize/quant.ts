/**
 * Uniform affine quantization: integer grids, rounding, activation parameters (unsigned, per tensor) and
 * symmetric per-output-channel weight quantization.
 *
 * Grid choices (what the QDQ export must write):
 * - int8 weights: symmetric [-127, 127], zero point 0. This is onnxruntime's own symmetric int8 range; the grid
 *   is closed under negation and keeps |w*x| products in range for the u8s8 integer kernels.
 * - int4 weights: the full [-8, 7], zero point 0, with the tight scale max(max/7, -min/8): the extra negative
 *   level is used whenever a channel's largest magnitude is negative (narrow [-7, 7] is `INT4_NARROW`).
 * - activations: uint8 [0, 255] or uint16 [0, 65535] per tensor; the range always contains 0 so that zero
 *   (padding) is exact, as ONNX requires.
 * Scales are rounded to float32 here, so the integers and the dequantized values are exactly what
 * QuantizeLinear/DequantizeLinear will compute with the stored scale.
 */
import { type Matrix, matrix } from './reconstruct/matrix.ts';

/** Inclusive integer range of a quantizer. */
export interface Grid {
  qmin: number;
  qmax: number;
}

export const INT8_WEIGHTS: Grid = { qmin: -127, qmax: 127 };
export const INT4_WEIGHTS: Grid = { qmin: -8, qmax: 7 };
export const INT4_NARROW: Grid = { qmin: -7, qmax: 7 };
export const UINT8_ACTIVATIONS: Grid = { qmin: 0, qmax: 255 };
export const UINT16_ACTIVATIONS: Grid = { qmin: 0, qmax: 65535 };

export function weightGrid(bits: 4 | 8): Grid {
  return bits === 8 ? INT8_WEIGHTS : INT4_WEIGHTS;
}

/** Affine quantizer q = clamp(round(x/scale) + zeroPoint), x^ = (q - zeroPoint) * scale. */
export interface AffineParams extends Grid {
  scale: number; // float32-representable
  zeroPoint: number;
}

const MIN_SCALE = 1.1754943508222875e-38; // smallest normal float32

/** Round half to even, as ONNX QuantizeLinear (and numpy/torch round) do. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x); // half up
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

export function quantizeValue(x: number, p: AffineParams): number {
  const q = roundHalfEven(x / p.scale) + p.zeroPoint;
  return q < p.qmin ? p.qmin : Math.min(q, p.qmax);
}

export function fakeQuantizeValue(x: number, p: AffineParams): number {
  return (quantizeValue(x, p) - p.zeroPoint) * p.scale;
}

export function quantize(x: ArrayLike<number>, p: AffineParams): Int32Array {
  const out = new Int32Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = quantizeValue(x[i], p);
  return out;
}

export function dequantize(q: ArrayLike<number>, p: AffineParams): Float64Array {
  const out = new Float64Array(q.length);
  for (let i = 0; i < q.length; i++) out[i] = (q[i] - p.zeroPoint) * p.scale;
  return out;
}

/** Unsigned per-tensor parameters covering [min, max] (widened to contain 0). */
export function activationParams(min: number, max: number, grid: Grid = UINT8_ACTIVATIONS): AffineParams {
  const lo = Math.min(min, 0);
  const hi = Math.max(max, 0);
  const span = hi - lo;
  if (!Number.isFinite(span)) throw new Error(`activation range [${min}, ${max}] is not finite`);
  const scale = span > 0 ? Math.max(Math.fround(span / (grid.qmax - grid.qmin)), MIN_SCALE) : 1;
  const zp = roundHalfEven(grid.qmin - lo / scale);
  return { ...grid, scale, zeroPoint: Math.min(Math.max(zp, grid.qmin), grid.qmax) };
}

/** Symmetric (zero point 0) parameters for one weight channel with scale `scale`. */
export function symmetricParams(scale: number, grid: Grid): AffineParams {
  // NOTE: an all-zero channel gets scale 1 (any scale gives q = 0); a positive scale is kept normal in float32.
  return { ...grid, scale: scale > 0 ? Math.max(Math.fround(scale), MIN_SCALE) : 1, zeroPoint: 0 };
}

/** The smallest symmetric scale that covers [min, max] on the grid without clipping (0 for an all-zero row). */
export function tightSymmetricScale(min: number, max: number, grid: Grid): number {
  const up = max > 0 ? max / grid.qmax : 0;
  const down = min < 0 ? min / grid.qmin : 0;
  return Math.max(up, down);
}

/** Per-output-channel integer weights (nearest rounding) for `w` [out, in] and per-row scales. */
export function quantizeWeights(w: Matrix, scales: ArrayLike<number>, grid: Grid): Int8Array {
  if (grid.qmin < -128 || grid.qmax > 127) throw new Error('weight grid must fit int8');
  const q = new Int8Array(w.rows * w.cols);
  for (let r = 0; r < w.rows; r++) {
    const p = symmetricParams(scales[r], grid);
    for (let c = r * w.cols; c < (r + 1) * w.cols; c++) q[c] = quantizeValue(w.data[c], p);
  }
  return q;
}

/** W^ = q * scale per row, as DequantizeLinear computes it (float32 product). */
export function dequantizeWeights(q: ArrayLike<number>, scales: ArrayLike<number>, cols: number): Matrix {
  const rows = scales.length;
  const out = matrix(rows, cols);
  for (let r = 0; r < rows; r++) {
    const s = Math.fround(scales[r]);
    for (let c = r * cols; c < (r + 1) * cols; c++) out.data[c] = Math.fround(q[c] * s);
  }
  return out;
}
