/**
 * Test fixtures for the quantization tests: small improved-diffusion U-Nets with deterministic hashed weights
 * (built by buildUNet, whose output is checked against PyTorch in models/unet.test.ts) and a synthetic calibration
 * set. Not used by the library.
 */
import { hashInput, hashWeight } from '../../test/fixtures/unet/hash-tensors.ts';
import type { CalibrationSet } from '../calibrate/trajectory.ts';
import { parseFlags } from '../models/flags.ts';
import { buildUNet } from '../models/unet.ts';
import { unetLayout, unetWeightShapes } from '../models/unet-layout.ts';
import type { OnnxModel } from '../onnx/ir.ts';

/** 16 px, two levels, two ResBlocks per level, attention at 8 and 4 px, scale-shift, learn_sigma. */
export const TINY_FLAGS =
  '--image_size 16 --channel_mult 1,2 --num_channels 32 --num_res_blocks 1 --attention_resolutions 8 ' +
  '--num_heads 2 --learn_sigma True';

/** Without scale-shift norm (the embedding is added), no learn_sigma. */
export const PLAIN_FLAGS =
  '--image_size 8 --channel_mult 1,2 --num_channels 32 --num_res_blocks 1 --attention_resolutions 4 ' +
  '--num_heads 1 --use_scale_shift_norm False';

export function tinyUNet(flags = TINY_FLAGS, seed = 7): OnnxModel {
  const { unet } = parseFlags(flags);
  const shapes = [...unetWeightShapes(unetLayout(unet))].sort(([a], [b]) => (a < b ? -1 : 1));
  const weights = new Map(shapes.map(([name, shape], i) => [name, hashWeight(seed, i, name, shape)]));
  return buildUNet(unet, weights);
}

/** `count` inputs uniform in [-1.5, 1.5), t spread over [0, 1000), `steps` distinct step indices. */
export function syntheticCalibration(size: number, count: number, steps = 4, seed = 11): CalibrationSet {
  const shape: [number, number, number] = [3, size, size];
  const x = hashInput(seed, 1, [count, ...shape]).map((v) => 1.5 * v);
  const stepIndex = Int32Array.from({ length: count }, (_, i) => i % steps);
  const t = Float32Array.from(stepIndex, (s) => ((s + 0.5) * 1000) / steps);
  return { x, t, stepIndex, count, shape };
}
