/**
 * The FID Inception-v3 feature network (the 2015 TensorFlow weights as ported by pytorch-fid,
 * pt_inception-2015-12-05-6726825d.pth) as an fp32 ONNX graph, opset 17.
 *
 * Input `images` float32 [N,3,H,W] in [-1,1] (uint8 u as u/127.5 - 1). The graph resizes to 299x299 bilinearly
 * (half-pixel centers, no antialiasing: torch's F.interpolate(mode="bilinear", align_corners=False)). pytorch-fid
 * resizes x in [0,1] and then maps 2x-1; bilinear weights sum to 1, so resizing our 2x-1 input directly is the
 * same computation (to float rounding) and the graph needs no rescaling.
 *
 * Outputs:
 * - `pool` [N,2048]: the final average pool (TF `pool_3`), the FID features.
 * - `logits` [N,1008]: the checkpoint's fc layer on `pool`, bias included (TF `softmax/logits`).
 * - `spatial` [N,2023]: the sFID features of guided-diffusion's evaluator, TF `mixed_6/conv:0[..., :7]`
 *   flattened in TF's NHWC order (17 x 17 x 7, channel fastest). TF names the Inception blocks mixed, mixed_1,
 *   ..., mixed_10 in build order, so mixed_6 is the seventh block, Mixed_6d, and its un-towered `conv` is the 1x1
 *   branch: `Mixed_6d.branch1x1` after BatchNorm and ReLU. (mixed_3 is the 6a reduction; mixed_4..7 = 6b..6e.)
 */
import type { Tensor } from '@qdm/shared';
import { attr, GraphBuilder } from '../onnx/builder.ts';
import type { OnnxModel } from '../onnx/ir.ts';
import { inceptionBlock, step } from './inception-blocks.ts';
import { fidInceptionLayout, fidInceptionWeightShapes } from './inception-layout.ts';
import { checkInceptionWeights } from './inception-weights.ts';

export { fidInceptionLayout, fidInceptionWeightShapes } from './inception-layout.ts';
export { FID_WEIGHTS_FILE, InceptionWeightsError } from './inception-weights.ts';

/** Where pytorch-fid downloads the weights from (its FID_WEIGHTS_URL). */
export const FID_WEIGHTS_URL =
  'https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth';
/** torch.hub convention: the file name ends with the first hex digits of the file's sha256. */
export const FID_WEIGHTS_SHA256_PREFIX = '6726825d';

export const FID_INCEPTION_SIZE = 299;
export const FID_INCEPTION_OPSET = 17;
/** The module whose output the sFID features are cut from, and how many of its channels. */
export const SPATIAL_SOURCE = 'Mixed_6d.branch1x1';
export const SPATIAL_CHANNELS = 7;
const SPATIAL_SIZE = 17;

export const FID_INCEPTION_FEATURES = {
  logits: 1008,
  pool: 2048,
  spatial: SPATIAL_CHANNELS * SPATIAL_SIZE * SPATIAL_SIZE,
} as const;

export interface FidInceptionOptions {
  /** Fixes H = W of the `images` input (e.g. 32 for CIFAR-10); default: any H and W. */
  inputSize?: number;
  graphName?: string;
  metadata?: Record<string, string>;
}

/** Builds the graph; throws InceptionWeightsError (listing every problem) before building if the weights do not fit. */
export function buildFidInception(weights: Map<string, Tensor>, options: FidInceptionOptions = {}): OnnxModel {
  const { inputSize } = options;
  if (inputSize !== undefined && !(Number.isInteger(inputSize) && inputSize > 0)) {
    throw new Error(`inputSize must be a positive integer, got ${inputSize}`);
  }
  const layout = fidInceptionLayout();
  const checked = checkInceptionWeights(fidInceptionWeightShapes(layout), weights);
  const b = new GraphBuilder(options.graphName ?? 'fid_inception_v3');
  const images = b.input('images', 'float32', ['N', 3, inputSize ?? 'H', inputSize ?? 'W']);
  for (const [name, tensor] of checked) {
    b.initializer({ name, dtype: 'float32', dims: tensor.shape, data: tensor.data });
  }

  let h = resizeTo299(b, images);
  for (const layer of layout.stem) h = step(b, h, layer);
  for (const block of layout.blocks) h = inceptionBlock(b, h, block);

  const pooled = b.op('avgpool', 'GlobalAveragePool', [h]);
  const pool = b.op('flatten', 'Flatten', [pooled], { axis: attr.int(1) }, 'pool');
  const logits = b.op('fc', 'Gemm', [pool, 'fc.weight', 'fc.bias'], { transB: attr.int(1) }, 'logits');
  const spatial = spatialFeatures(b, SPATIAL_SOURCE);
  b.output(logits, 'float32', ['N', FID_INCEPTION_FEATURES.logits]);
  b.output(pool, 'float32', ['N', FID_INCEPTION_FEATURES.pool]);
  b.output(spatial, 'float32', ['N', FID_INCEPTION_FEATURES.spatial]);

  return b.model({
    irVersion: 8,
    opsetImports: [{ domain: '', version: FID_INCEPTION_OPSET }],
    producerName: 'qdm',
    metadata: { 'qdm.network': 'fid-inception-v3', 'qdm.input_range': '[-1,1]', ...options.metadata },
  });
}

/** Bilinear resize of [N,3,H,W] to [N,3,299,299]: sizes = concat(shape[0:2], [299, 299]). */
function resizeTo299(b: GraphBuilder, images: string): string {
  const batchChannels = b.op('resize/batch_channels', 'Shape', [images], { start: attr.int(0), end: attr.int(2) });
  const target = b.int64s('const/size_299', [FID_INCEPTION_SIZE, FID_INCEPTION_SIZE]);
  const sizes = b.op('resize/sizes', 'Concat', [batchChannels, target], { axis: attr.int(0) });
  // NOTE: half_pixel = align_corners=False; opset 17 Resize has no antialias, like torch's default.
  return b.op('resize', 'Resize', [images, '', '', sizes], {
    mode: attr.string('linear'),
    coordinate_transformation_mode: attr.string('half_pixel'),
  });
}

/** First 7 channels of `source` [N,192,17,17], as TF flattens them: NHWC, so index (y*17 + x)*7 + c. */
function spatialFeatures(b: GraphBuilder, source: string): string {
  const first = b.op('spatial/channels', 'Slice', [
    source,
    b.int64s('const/zero', [0]),
    b.int64s('const/spatial_channels', [SPATIAL_CHANNELS]),
    b.int64s('const/axis_1', [1]),
  ]);
  const nhwc = b.op('spatial/nhwc', 'Transpose', [first], { perm: attr.ints([0, 2, 3, 1]) });
  return b.op('spatial/flatten', 'Flatten', [nhwc], { axis: attr.int(1) }, 'spatial');
}
