/**
 * Weight sites to integers: a conv/linear weight as the [out, in*kernel] matrix every rounding routine speaks,
 * nearest rounding with per-output-channel scales, and the SQNR of the dequantized weight.
 */
import type { OnnxTensor } from '../../onnx/ir.ts';
import type { QuantizedWeight } from '../export/export.ts';
import { type ScaleMethod, weightScales } from '../observe/range-search.ts';
import type { WeightSite } from '../plan/plan.ts';
import { dequantizeWeights, quantizeWeights, weightGrid } from '../quant.ts';
import { sqnrDb } from '../sqnr.ts';
import { type Matrix, matrix } from './matrix.ts';

/** [out, in, ...kernel] -> [out, in*kernel] (row-major already: a view of the same order). */
export function weightMatrix(tensor: OnnxTensor): Matrix {
  const rows = tensor.dims[0];
  return matrix(rows, tensor.data.length / rows, tensor.data as Float32Array);
}

/** Round to nearest on per-output-channel scales ('absmax' = no clipping, 'lp' = the L_p search). */
export function roundWeightsNearest(site: WeightSite, w: Matrix, method: ScaleMethod): QuantizedWeight {
  const grid = weightGrid(site.bits);
  const scales = weightScales(w, grid, { method });
  return { q: quantizeWeights(w, scales, grid), scales };
}

/** SQNR (dB) of the dequantized weights against the float ones. */
export function weightSqnr(w: Matrix, qw: QuantizedWeight): number {
  return sqnrDb(w.data, dequantizeWeights(qw.q, qw.scales, w.cols).data);
}
