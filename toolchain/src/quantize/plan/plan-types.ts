/**
 * The quantization plan's types, shared by the planner (plan.ts) and the modules it calls (scheme-sites.ts,
 * site-set.ts, kept-float.ts) and by everything that reads a plan. Types only: imports point from here to the
 * layout modules, never back to plan.ts.
 */

import type { ValueUse } from '../graph-index.ts';
import type { LayerInput } from '../reconstruct/moments.ts';
import type { QkvSplit } from './attention-layout.ts';
import type { EmbSplit } from './emb-layout.ts';
import type { ShortcutSplit } from './shortcut-split.ts';

export type Scheme = 'ptq4dm' | 'qdiff' | 'full';

export interface PlanOptions {
  scheme: Scheme;
  weightBits: 4 | 8;
  activationBits: 8 | 16;
  /** Bits of the softmax output quantizer; default activationBits. */
  softmaxBits?: 8 | 16;
  /** Node names (module paths) to leave float, with their input and output quantizers. */
  keepFloat?: string[];
  /**
   * The image-space ends: the conv reading the model input x_t and the conv writing the model output.
   * 'float' keeps both float (their weights, the x_t input and the output), 'quantized' treats them like every
   * other layer. Default: 'float' for full, 'quantized' for ptq4dm and qdiff (as published).
   * NOTE: quantizing them costs mnist32 several dB of same-seed PSNR (`full` vs `full-int` in
   * bench/quantize-mnist.ts; docs/results.md#quantize-mnist). At small t the noise in x_t is below one uint8 step
   * of x_t's range, and an 8-bit epsilon output perturbs every DDIM step; the two convs hold a tiny share of the
   * MACs and run as fast in float as in int8.
   */
  imageEnds?: 'float' | 'quantized';
  /** Weight layers (node names) kept at 8 bits when weightBits is 4: mixed precision (mixed-precision.ts). */
  w8Layers?: string[];
}

export interface WeightSite {
  /** The Conv/Gemm node (a shortcut part such as `output_blocks.0.0.skip_connection/h` after splitting). */
  node: string;
  kind: 'conv' | 'linear';
  /** Float weight initializer, [out, in, ...kernel] (Gemm: [out, in], transB = 1). */
  weight: string;
  bias?: string;
  shape: number[];
  bits: 4 | 8;
  /** The value the node reads and its geometry (for second moments). */
  inputValue: string;
  outputValue: string;
  input: LayerInput;
  /** Set for the parts of a split shortcut conv. */
  splitOf?: { conv: string; channels: [number, number] };
}

export type ActivationRole =
  | 'conv-input'
  | 'linear-input'
  | 'conv-output'
  | 'linear-output'
  | 'attention-q'
  | 'attention-k'
  | 'attention-v'
  | 'softmax'
  | 'attention-output'
  | 'emb-scale'
  | 'emb-shift'
  | 'residual'
  | 'pass-through';

export interface ActivationSite {
  value: string;
  role: ActivationRole;
  /** The readings that see the quantized value; other readers keep the float value. */
  consumers: ValueUse[];
  /** The value is a graph output: the output itself is the dequantized value. */
  graphOutput: boolean;
  bits: 8 | 16;
  /** Always unsigned per tensor (uint8/uint16 with a zero point). */
  unsigned: true;
  /**
   * Parameters taken from another site instead of observed: the value comes out of a value-preserving op
   * (Reshape, nearest Resize, Split) of that site's value, so onnxruntime can run the op on integers.
   */
  sharesParamsWith?: string;
}

export interface KeptFloat {
  name: string;
  op: string;
  reason: string;
}

export interface QuantPlan {
  scheme: Scheme;
  weightBits: 4 | 8;
  activationBits: 8 | 16;
  softmaxBits: 8 | 16;
  /** `PlanOptions.imageEnds` as applied (the scheme's default when not given). */
  imageEnds: 'float' | 'quantized';
  splits: ShortcutSplit[];
  /** full: each attention's qkv conv as three convs writing q*scale, k*scale and v (attention-layout.ts). */
  qkvSplits: QkvSplit[];
  /** full: each ResBlock's embedding projection as a 1 + scale linear and a shift linear (emb-layout.ts). */
  embSplits: EmbSplit[];
  /** Attention MatMul nodes rewritten as (w v^T)^T (qdiff, full). */
  attentionReorders: string[];
  weights: WeightSite[];
  activations: ActivationSite[];
  keptFloat: KeptFloat[];
}
