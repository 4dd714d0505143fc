/**
 * The U-Net's modules as ONNX subgraphs. Naming: the node that produces a module's output carries the module
 * path and its output value has the same name (`input_blocks.1.0.in_layers.2` is that conv and its output);
 * helper nodes append `/<what>` to the path. Weights are read from initializers named by state_dict keys.
 */
import { attr, type GraphBuilder } from '../onnx/builder.ts';
import type { AttentionLayout, ResampleLayout, ResBlockLayout } from './unet-layout.ts';

const GROUPS = 32;
const GROUP_NORM_EPS = 1e-5;

/** Shape constants are shared by content (`const/shape/0,32,-1`). */
function shape(b: GraphBuilder, dims: number[]): string {
  return b.int64s(`const/shape/${dims.join(',')}`, dims);
}

function axes(b: GraphBuilder, values: number[]): string {
  return b.int64s(`const/axes/${values.join(',')}`, values);
}

/**
 * GroupNorm(32, C, eps 1e-5) on [N, C, ...spatial]: Reshape to [N, 32, -1], InstanceNormalization (per group mean
 * and variance), Reshape back, then the per-channel affine. The output value is named `path`.
 */
export function groupNorm(b: GraphBuilder, x: string, path: string, channels: number, spatial: number[]): string {
  const grouped = b.op(`${path}/group`, 'Reshape', [x, shape(b, [0, GROUPS, -1])]);
  const ones = b.constant('const/ones_32', 'float32', [GROUPS], new Float32Array(GROUPS).fill(1));
  const zeros = b.constant('const/zeros_32', 'float32', [GROUPS], new Float32Array(GROUPS));
  const normed = b.op(`${path}/instance_norm`, 'InstanceNormalization', [grouped, ones, zeros], {
    epsilon: attr.float(GROUP_NORM_EPS),
  });
  const back = b.op(`${path}/ungroup`, 'Reshape', [normed, shape(b, [0, channels, ...spatial])]);
  const perChannel = axes(
    b,
    spatial.map((_, i) => i + 1),
  );
  const gamma = b.op(`${path}/gamma`, 'Unsqueeze', [`${path}.weight`, perChannel]);
  const beta = b.op(`${path}/beta`, 'Unsqueeze', [`${path}.bias`, perChannel]);
  const scaled = b.op(`${path}/mul`, 'Mul', [back, gamma]);
  return b.op(path, 'Add', [scaled, beta]);
}

/** SiLU = x * sigmoid(x); onnxruntime fuses the pair. */
export function silu(b: GraphBuilder, x: string, path: string): string {
  const sig = b.op(`${path}/sigmoid`, 'Sigmoid', [x]);
  return b.op(path, 'Mul', [x, sig]);
}

export interface ConvOptions {
  kernel: number;
  stride?: number;
  /** 1 for Conv1d (attention), 2 for Conv2d. */
  dims?: 1 | 2;
  output?: string;
}

/** Conv with `path.weight`/`path.bias`, "same" padding for odd kernels. */
export function conv(b: GraphBuilder, x: string, path: string, options: ConvOptions): string {
  const dims = options.dims ?? 2;
  const pad = (options.kernel - 1) / 2;
  return b.op(
    path,
    'Conv',
    [x, `${path}.weight`, `${path}.bias`],
    {
      kernel_shape: attr.ints(new Array(dims).fill(options.kernel)),
      pads: attr.ints(new Array(2 * dims).fill(pad)),
      strides: attr.ints(new Array(dims).fill(options.stride ?? 1)),
    },
    options.output ?? path,
  );
}

/** nn.Linear: y = x W^T + b. */
export function linear(b: GraphBuilder, x: string, path: string): string {
  return b.op(path, 'Gemm', [x, `${path}.weight`, `${path}.bias`], { transB: attr.int(1) });
}

/**
 * ResBlock. With use_scale_shift_norm the embedding projection [N, 2C] becomes two values,
 * `<path>.emb_layers/scale` and `<path>.emb_layers/shift` ([N, C, 1, 1] each), and
 * h = GN(h) * (1 + scale) + shift; otherwise h + emb before out_layers. Output value: `<path>`.
 */
export function resBlock(b: GraphBuilder, layer: ResBlockLayout, x: string, emb: string, scaleShift: boolean): string {
  const { path: p, inChannels: cin, outChannels: cout, size } = layer;
  let h = groupNorm(b, x, `${p}.in_layers.0`, cin, [size, size]);
  h = silu(b, h, `${p}.in_layers.1`);
  h = conv(b, h, `${p}.in_layers.2`, { kernel: 3 });

  const e = linear(b, silu(b, emb, `${p}.emb_layers.0`), `${p}.emb_layers.1`);
  const e4 = b.op(`${p}.emb_layers/unsqueeze`, 'Unsqueeze', [e, axes(b, [2, 3])]);
  if (scaleShift) {
    const scale = slice(b, e4, `${p}.emb_layers/scale`, 0, cout);
    const shift = slice(b, e4, `${p}.emb_layers/shift`, cout, 2 * cout);
    h = groupNorm(b, h, `${p}.out_layers.0`, cout, [size, size]);
    const onePlusScale = b.op(`${p}/one_plus_scale`, 'Add', [scale, b.float32Scalar('const/one', 1)]);
    h = b.op(`${p}/scale`, 'Mul', [h, onePlusScale]);
    h = b.op(`${p}/shift`, 'Add', [h, shift]);
  } else {
    h = b.op(`${p}/add_emb`, 'Add', [h, e4]);
    h = groupNorm(b, h, `${p}.out_layers.0`, cout, [size, size]);
  }
  h = silu(b, h, `${p}.out_layers.1`);
  h = conv(b, h, `${p}.out_layers.3`, { kernel: 3 }); // out_layers.2 is Dropout: identity at inference
  const skip = cin === cout ? x : conv(b, x, `${p}.skip_connection`, { kernel: 1 });
  return b.op(p, 'Add', [skip, h]);
}

/** Channel slice [start, end) of a [N, C, 1, 1] value. */
function slice(b: GraphBuilder, x: string, name: string, start: number, end: number): string {
  const starts = b.int64s(`const/starts/${start}`, [start]);
  const ends = b.int64s(`const/ends/${end}`, [end]);
  return b.op(name, 'Slice', [x, starts, ends, axes(b, [1])]);
}

/**
 * AttentionBlock on [N, C, HW] exactly as QKVAttention: qkv conv1d, reshape to (N*heads, 3*ch, HW), split into
 * q, k, v (`<path>/q`, `/k`, `/v`, [N*heads, ch, HW]), both q and k times 1/sqrt(sqrt(ch)) (`/q_scaled`,
 * `/k_scaled`), weights = softmax over keys of q^T k (`/softmax`, [N*heads, HW(query), HW(key)]), a = v w^T,
 * proj_out, residual. Output value: `<path>`.
 */
export function attentionBlock(b: GraphBuilder, layer: AttentionLayout, x: string): string {
  const { path: p, channels: c, heads, size } = layer;
  const t = size * size;
  const ch = c / heads;
  const flat = b.op(`${p}/flatten`, 'Reshape', [x, shape(b, [0, c, t])]);
  const normed = groupNorm(b, flat, `${p}.norm`, c, [t]);
  const qkv = conv(b, normed, `${p}.qkv`, { kernel: 1, dims: 1 });
  const perHead = b.op(`${p}/heads`, 'Reshape', [qkv, shape(b, [-1, 3 * ch, t])]);
  const [q, k, v] = b.opMulti(
    `${p}/split`,
    'Split',
    [perHead, b.int64s(`const/split/${ch}x3`, [ch, ch, ch])],
    [`${p}/q`, `${p}/k`, `${p}/v`],
    { axis: attr.int(1) },
  );
  // NOTE: torch multiplies by the Python float scale in float32, so the constant is the float32 rounding.
  const scale = b.float32Scalar(`const/attention_scale/${ch}`, 1 / Math.sqrt(Math.sqrt(ch)));
  const qs = b.op(`${p}/q_scaled`, 'Mul', [q, scale]);
  const ks = b.op(`${p}/k_scaled`, 'Mul', [k, scale]);
  // The transposes fold into onnxruntime's fused MatMul (transA/transB), so they cost no copies.
  const qt = b.op(`${p}/q_transposed`, 'Transpose', [qs], { perm: attr.ints([0, 2, 1]) });
  const logits = b.op(`${p}/logits`, 'MatMul', [qt, ks]);
  const weights = b.op(`${p}/softmax`, 'Softmax', [logits], { axis: attr.int(-1) });
  const wt = b.op(`${p}/softmax_transposed`, 'Transpose', [weights], { perm: attr.ints([0, 2, 1]) });
  const attended = b.op(`${p}/attention`, 'MatMul', [v, wt]);
  const merged = b.op(`${p}/merge_heads`, 'Reshape', [attended, shape(b, [-1, c, t])]);
  const projected = conv(b, merged, `${p}.proj_out`, { kernel: 1, dims: 1 });
  const sum = b.op(`${p}/residual`, 'Add', [flat, projected]);
  return b.op(p, 'Reshape', [sum, shape(b, [0, c, size, size])]);
}

/** Downsample: conv3x3 stride 2 (`<path>.op`). */
export function downsample(b: GraphBuilder, layer: ResampleLayout, x: string): string {
  return conv(b, x, `${layer.path}.op`, { kernel: 3, stride: 2 });
}

/** Upsample: nearest x2 (`<path>/resize`) then conv3x3 (`<path>.conv`). */
export function upsample(b: GraphBuilder, layer: ResampleLayout, x: string): string {
  const scales = b.constant('const/scales/1,1,2,2', 'float32', [4], Float32Array.of(1, 1, 2, 2));
  const up = b.op(`${layer.path}/resize`, 'Resize', [x, '', scales], {
    mode: attr.string('nearest'),
    coordinate_transformation_mode: attr.string('asymmetric'),
    nearest_mode: attr.string('floor'),
  });
  return conv(b, up, `${layer.path}.conv`, { kernel: 3 });
}
