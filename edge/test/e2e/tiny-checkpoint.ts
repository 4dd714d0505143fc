/**
 * A tiny improved-diffusion U-Net checkpoint, written as a user's would be: a state_dict as `.npz` (one of the formats
 * `toolchain import` reads), with seeded random weights. The key list is improved-diffusion's UNetModel walked for
 * the flags below (written out here, not taken from the toolchain: this test sees the toolchain as its CLI only).
 */
import { writeFile } from 'node:fs/promises';
import { encodeNpz, gaussianNoise, type Tensor } from '@qdm/shared';

/** 8x8 images, 32 channels, two levels, attention at 4x4 (8 / 4 = downsample factor 2), learned sigma. */
export const TINY_FLAGS =
  '--image_size 8 --num_channels 32 --num_res_blocks 1 --num_heads 2 --attention_resolutions 4 ' +
  '--channel_mult 1,1 --learn_sigma True --use_scale_shift_norm True --dropout 0 ' +
  '--diffusion_steps 100 --noise_schedule cosine --rescale_timesteps True';

const IMAGE = 8;
const CHANNELS = 32;
const MULT = [1, 1];
const RES_BLOCKS = 1;
const ATTENTION_DS = new Set([IMAGE / 4]);
const OUT_CHANNELS = 6; // learn_sigma

/** state_dict keys and shapes of UNetModel for TINY_FLAGS, in module order. */
export function tinyUnetShapes(): Map<string, number[]> {
  const shapes = new Map<string, number[]>();
  const linear = (path: string, out: number, inp: number) => {
    shapes.set(`${path}.weight`, [out, inp]);
    shapes.set(`${path}.bias`, [out]);
  };
  const conv = (path: string, out: number, inp: number, k = 3) => {
    shapes.set(`${path}.weight`, [out, inp, k, k]);
    shapes.set(`${path}.bias`, [out]);
  };
  const norm = (path: string, c: number) => {
    shapes.set(`${path}.weight`, [c]);
    shapes.set(`${path}.bias`, [c]);
  };
  const emb = 4 * CHANNELS;
  const res = (path: string, cin: number, cout: number) => {
    norm(`${path}.in_layers.0`, cin);
    conv(`${path}.in_layers.2`, cout, cin);
    linear(`${path}.emb_layers.1`, 2 * cout, emb); // use_scale_shift_norm: scale and shift
    norm(`${path}.out_layers.0`, cout);
    conv(`${path}.out_layers.3`, cout, cout);
    if (cin !== cout) conv(`${path}.skip_connection`, cout, cin, 1);
  };
  const attention = (path: string, c: number) => {
    norm(`${path}.norm`, c);
    shapes.set(`${path}.qkv.weight`, [3 * c, c, 1]);
    shapes.set(`${path}.qkv.bias`, [3 * c]);
    shapes.set(`${path}.proj_out.weight`, [c, c, 1]);
    shapes.set(`${path}.proj_out.bias`, [c]);
  };

  linear('time_embed.0', emb, CHANNELS);
  linear('time_embed.2', emb, emb);
  conv('input_blocks.0.0', CHANNELS, 3);
  let block = 1;
  let ch = CHANNELS;
  let ds = 1;
  const skips = [ch];
  for (const [level, mult] of MULT.entries()) {
    for (let r = 0; r < RES_BLOCKS; r++) {
      res(`input_blocks.${block}.0`, ch, mult * CHANNELS);
      ch = mult * CHANNELS;
      if (ATTENTION_DS.has(ds)) attention(`input_blocks.${block}.1`, ch);
      skips.push(ch);
      block++;
    }
    if (level !== MULT.length - 1) {
      conv(`input_blocks.${block}.0.op`, ch, ch);
      skips.push(ch);
      block++;
      ds *= 2;
    }
  }
  res('middle_block.0', ch, ch);
  attention('middle_block.1', ch);
  res('middle_block.2', ch, ch);
  block = 0;
  for (let level = MULT.length - 1; level >= 0; level--) {
    for (let i = 0; i <= RES_BLOCKS; i++) {
      const skip = skips.pop() as number;
      res(`output_blocks.${block}.0`, ch + skip, MULT[level] * CHANNELS);
      ch = MULT[level] * CHANNELS;
      let layer = 1;
      if (ATTENTION_DS.has(ds)) attention(`output_blocks.${block}.${layer++}`, ch);
      if (level > 0 && i === RES_BLOCKS) {
        conv(`output_blocks.${block}.${layer}.conv`, ch, ch);
        ds /= 2;
      }
      block++;
    }
  }
  norm('out.0', ch);
  conv('out.2', OUT_CHANNELS, ch);
  return shapes;
}

/** N(0,1)/sqrt(fan-in) weights, norm gains near 1, small biases (activations stay O(1)); the same bytes every run. */
export async function writeTinyCheckpoint(path: string, seed = 1): Promise<void> {
  const tensors: Record<string, Tensor> = {};
  let stream = 0;
  for (const [name, shape] of tinyUnetShapes()) {
    const count = shape.reduce((a, b) => a * b, 1);
    const z = gaussianNoise(seed, 0, stream++, count);
    const fanIn = shape.slice(1).reduce((a, b) => a * b, 1);
    const data = z.map((v) =>
      shape.length >= 2 ? v / Math.sqrt(fanIn) : name.endsWith('.weight') ? 1 + 0.1 * v : 0.1 * v,
    );
    tensors[name] = { dtype: 'float32', shape, data };
  }
  await writeFile(path, encodeNpz(tensors));
}
