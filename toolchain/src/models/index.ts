/**
 * `@qdm/toolchain/models`: the graph builders. An improved-diffusion U-Net from its flags and named weights (node
 * names follow the checkpoint's module paths), and the FID Inception network.
 */

/** improved-diffusion's flags -> U-Net and diffusion settings. */
export {
  type DiffusionFlags,
  FlagsError,
  type ImprovedDiffusionFlags,
  parseFlags,
  type UNetFlags,
} from './flags.ts';
/** The FID Inception network (pool, logits and spatial features) and its weight shapes. */
export {
  buildFidInception,
  FID_INCEPTION_SIZE,
  type FidInceptionOptions,
  fidInceptionLayout,
  fidInceptionWeightShapes,
} from './inception.ts';
/** The U-Net as an fp32 ONNX graph (inputs x [N,C,H,W] and t [N], output out). */
export { type BuildUNetOptions, buildUNet, UNET_OPSET, UNetWeightsError } from './unet.ts';
/** The U-Net's layers, the weight shapes a checkpoint must hold, and its 3x3-conv work per sample. */
export { type UNetLayout, unetConvMacs, unetLayout, unetWeightShapes } from './unet-layout.ts';
