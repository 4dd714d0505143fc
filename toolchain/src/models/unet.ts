/**
 * improved-diffusion's UNetModel as an fp32 ONNX graph (opset 17): inputs `x` [N,3,H,W] float32, `t` [N] float32
 * (the model's timesteps argument, fractional values allowed) and, for class-conditional models, `y` [N] int64;
 * output `out` [N, 3 or 6, H, W]. Node and value names follow module paths (see unet-blocks.ts); initializers are
 * named by state_dict keys and keep their checkpoint shapes.
 */
import type { Tensor } from '@qdm/shared';
import { attr, GraphBuilder } from '../onnx/builder.ts';
import type { OnnxModel } from '../onnx/ir.ts';
import { type WinogradTile, winogradConvs } from '../onnx/winograd.ts';
import type { UNetFlags } from './flags.ts';
import { attentionBlock, conv, downsample, groupNorm, linear, resBlock, silu, upsample } from './unet-blocks.ts';
import {
  type Conv3x3Layout,
  convLayouts,
  type LayerLayout,
  type UNetLayout,
  unetLayout,
  unetWeightShapes,
} from './unet-layout.ts';
import { checkUNetWeights } from './unet-weights.ts';

export { UNetWeightsError } from './unet-weights.ts';

export const UNET_OPSET = 17;
export const UNET_IR_VERSION = 8;

export interface BuildUNetOptions {
  graphName?: string;
  producerVersion?: string;
  metadata?: Record<string, string>;
  /**
   * Run the 3x3 stride-1 convs on feature maps of at least WINOGRAD_MIN_SIZE pixels as Winograd F(m x m, 3 x 3)
   * (onnx/winograd.ts): faster fp32 on onnxruntime's CPU provider (needs graphOptimizationLevel 'basic' or above
   * for constant folding), same outputs within float32 rounding, same file size, more memory once loaded. Those
   * layers are then no longer Conv nodes, so it is an inference-only variant: quantize the plain graph.
   */
  winograd?: WinogradTile;
  /**
   * With `winograd`: the convs to rewrite (node names, a subset of winogradCandidates), as chosen from timings by
   * `import --winograd` (onnx/winograd-choice.ts). Default: every candidate.
   */
  winogradPaths?: readonly string[];
}

/**
 * Smallest side a Winograd conv is considered for: below it there are too few tiles to pay for the transformed
 * weights ((m + 2)^2 / 9 times larger than the kernel) and the transforms. Whether a candidate pays is measured.
 */
export const WINOGRAD_MIN_SIZE = 8;
/** Convs with fewer input or output channels (the RGB input conv, the output conv) stay direct. */
export const WINOGRAD_MIN_CHANNELS = 32;

/** Builds the graph; throws UNetWeightsError (listing every problem) before building if the weights do not fit. */
export function buildUNet(flags: UNetFlags, weights: Map<string, Tensor>, options: BuildUNetOptions = {}): OnnxModel {
  const layout = unetLayout(flags);
  const checked = checkUNetWeights(unetWeightShapes(layout), weights);
  const b = new GraphBuilder(options.graphName ?? 'unet');
  const size = flags.imageSize;
  const x = b.input('x', 'float32', ['N', layout.inChannels, size, size]);
  const t = b.input('t', 'float32', ['N']);
  const y = flags.classCond ? b.input('y', 'int64', ['N']) : undefined;
  for (const [name, tensor] of checked) {
    b.initializer({ name, dtype: 'float32', dims: tensor.shape, data: tensor.data });
  }

  let emb = timeEmbedding(b, t, layout);
  if (y) {
    const label = b.op('label_emb', 'Gather', ['label_emb.weight', y], { axis: attr.int(0) });
    emb = b.op('label_emb/add', 'Add', [emb, label], {}, 'emb');
  }

  const skips: string[] = [];
  let h = x;
  for (const block of layout.inputBlocks) {
    h = applyBlock(b, block, h, emb, flags);
    skips.push(h);
  }
  h = applyBlock(b, layout.middleBlock, h, emb, flags);
  for (const [i, block] of layout.outputBlocks.entries()) {
    // cat([h, skip]): h first, the popped input-block output second.
    h = b.op(`output_blocks.${i}/concat`, 'Concat', [h, skips.pop()!], { axis: attr.int(1) });
    h = applyBlock(b, block, h, emb, flags);
  }
  h = groupNorm(b, h, 'out.0', layout.finalChannels, [size, size]);
  h = silu(b, h, 'out.1');
  const out = conv(b, h, 'out.2', { kernel: 3, output: 'out' });
  b.output(out, 'float32', ['N', layout.outChannels, size, size]);

  const model = b.model({
    irVersion: UNET_IR_VERSION,
    opsetImports: [{ domain: '', version: UNET_OPSET }],
    producerName: 'qdm',
    producerVersion: options.producerVersion ?? '',
    metadata: options.metadata ?? {},
  });
  if (!options.winograd) return model;
  const candidates = winogradCandidates(layout, options.winograd);
  const wanted = options.winogradPaths && new Set(options.winogradPaths);
  const convs = new Map(candidates.filter((c) => !wanted || wanted.has(c.path)).map((c) => [c.path, c.size]));
  return winogradConvs(model, { tile: options.winograd, convs }).model;
}

/** The 3x3 convs Winograd F(tile) may replace: maps of WINOGRAD_MIN_SIZE+ px (a multiple of the tile), 32+ channels. */
export function winogradCandidates(layout: UNetLayout, tile: WinogradTile): Conv3x3Layout[] {
  return convLayouts(layout).filter(
    (conv) =>
      conv.size >= WINOGRAD_MIN_SIZE &&
      conv.size % tile === 0 &&
      Math.min(conv.inChannels, conv.outChannels) >= WINOGRAD_MIN_CHANNELS,
  );
}

/**
 * timestep_embedding(t, C) then time_embed: args = t * freqs, emb = cat(cos(args), sin(args)) (cos first),
 * Linear, SiLU, Linear. Output value `time_embed.2`.
 */
function timeEmbedding(b: GraphBuilder, t: string, layout: UNetLayout): string {
  const half = layout.modelChannels / 2; // even: num_channels is a multiple of 32
  const freqs = b.constant('timestep_embedding/freqs', 'float32', [half], timestepFrequencies(half));
  const column = b.op('timestep_embedding/unsqueeze', 'Unsqueeze', [t, b.int64s('const/axes/1', [1])]);
  const args = b.op('timestep_embedding/args', 'Mul', [column, freqs]);
  const cos = b.op('timestep_embedding/cos', 'Cos', [args]);
  const sin = b.op('timestep_embedding/sin', 'Sin', [args]);
  const embedding = b.op('timestep_embedding', 'Concat', [cos, sin], { axis: attr.int(1) });
  let h = linear(b, embedding, 'time_embed.0');
  h = silu(b, h, 'time_embed.1');
  return linear(b, h, 'time_embed.2');
}

/**
 * freqs[i] = exp(-ln(10000) * i / half), evaluated in float32 like torch: f32(-ln 10000) * i rounded to f32,
 * divided by half in f32, then exp.
 */
export function timestepFrequencies(half: number): Float32Array {
  const out = new Float32Array(half);
  const scale = Math.fround(-Math.log(10000));
  for (let i = 0; i < half; i++) {
    // NOTE: torch's vectorized expf can be 1 ulp off the correctly rounded value used here (|rel| <= 1.2e-7).
    out[i] = Math.exp(Math.fround(Math.fround(scale * i) / half));
  }
  return out;
}

function applyBlock(b: GraphBuilder, layers: LayerLayout[], x: string, emb: string, flags: UNetFlags): string {
  let h = x;
  for (const layer of layers) {
    switch (layer.kind) {
      case 'conv':
        h = conv(b, h, layer.path, { kernel: 3 });
        break;
      case 'res':
        h = resBlock(b, layer, h, emb, flags.useScaleShiftNorm);
        break;
      case 'attention':
        h = attentionBlock(b, layer, h);
        break;
      case 'down':
        h = downsample(b, layer, h);
        break;
      case 'up':
        h = upsample(b, layer, h);
        break;
    }
  }
  return h;
}
