/**
 * `--recon none|gptq|adaround`: the weight rounder handed to the quantization pipeline. Both reconstructions run
 * layer-wise and sequentially (inputs 'quantized': each layer's input second moments come from the model whose
 * earlier layers are already rounded, with every activation quantizer in place, QDrop's lesson) and minimise the
 * quadratic output error tr(dW H dW^T) of METHOD.md section 5.
 */
import { adaround } from '../quantize/adaround.ts';
import { gptq } from '../quantize/gptq.ts';
import type { MatrixKernels } from '../quantize/kernels.ts';
import { ortKernels } from '../quantize/kernels-ort.ts';
import { quantizeWeights } from '../quantize/quant.ts';
import type { WeightRounder } from '../quantize/recon.ts';

export type ReconMethod = 'none' | 'gptq' | 'adaround';
export const RECON_METHODS: readonly ReconMethod[] = ['none', 'gptq', 'adaround'];

/** AdaRound iterations per layer: enough for h to settle on the quadratic form, few enough for CPU builds. */
export const ADAROUND_ITERATIONS = 300;

export interface LayerError {
  node: string;
  /** tr(dW H dW^T) with round-to-nearest, and with the reconstruction. */
  errorNearest: number;
  error: number;
}

export interface ReconSetup {
  rounder: 'none' | WeightRounder;
  kernels?: MatrixKernels;
  /** Filled as layers are rounded, in graph order. */
  layers: LayerError[];
  dispose(): void;
}

export function createRecon(method: ReconMethod, options: { threads?: number } = {}): ReconSetup {
  const layers: LayerError[] = [];
  if (method === 'none') return { rounder: 'none', layers, dispose: () => {} };
  // NOTE: float64 products keep GPTQ's Cholesky sweep stable on nearly singular input moments.
  const kernels = ortKernels({ precision: 'float64', intraOpNumThreads: options.threads });
  const rounder: WeightRounder = {
    name: method,
    inputs: 'quantized',
    async round({ site, weight, grid, moments, kernels: k }) {
      const result =
        method === 'gptq'
          ? await gptq(weight, moments.h, k, { grid, scaleMethod: 'lp' })
          : await adaround(weight, moments.h, k, { grid, scaleMethod: 'lp', iterations: ADAROUND_ITERATIONS });
      // Keep whichever rounding has the lower output error: the reconstruction can lose on degenerate layers.
      layers.push({
        node: site.node,
        errorNearest: result.errorNearest,
        error: Math.min(result.error, result.errorNearest),
      });
      if (result.error > result.errorNearest) {
        return { q: quantizeWeights(weight, result.scales, grid), scales: result.scales };
      }
      return { q: result.q, scales: result.scales };
    },
  };
  return { rounder, kernels, layers, dispose: () => kernels.dispose() };
}
