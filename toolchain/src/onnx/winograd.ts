/**
 * Graph transform: 3x3 stride-1 "same" convolutions as Winograd F(m x m, 3 x 3) in plain ONNX ops, so that
 * onnxruntime's CPU GEMM does (m + 2)^2 / (9 m^2) of the direct convolution's multiplies (F(2x2): 0.44x, F(4x4): 0.25x).
 * For a conv `p` (input x [N, C, H, W], H and W multiples of m, weight [K, C, 3, 3]):
 *
 *   Pad (1 before, m - 1 after) -> SpaceToDepth m -> four Slices (each tile's own block and parts of its right,
 *   lower and diagonal neighbours) -> Concat -> MatMul by (B^T kron B^T) = the transformed tiles V, one [C, tiles]
 *   matrix per tile position -> 1x1 Conv with one group per position, weights U = G w G^T (bias folded in)
 *   -> MatMul by (A^T kron A^T) -> DepthToSpace m (DCR).
 *
 * Nodes are named `<conv name>/winograd/<step>`; the last one writes the conv's output value. Exact in real
 * arithmetic; in float32 the error grows with m (see winograd.test.ts). Spatial sizes are not in the graph, so the
 * caller must only select convs whose H and W are multiples of m (unet.ts knows them from the layout).
 */
import type { AttributeValue, OnnxModel, OnnxNode, OnnxTensor } from './ir.ts';
import { winogradMatrices } from './winograd-matrices.ts';

export type WinogradTile = 2 | 4;

export interface WinogradOptions {
  /** Output tile side m: 2 for F(2x2,3x3), 4 for F(4x4,3x3). */
  tile: WinogradTile;
  /** Which eligible convs to rewrite (all when omitted); H and W of each must be multiples of `tile`. */
  select?: (node: OnnxNode) => boolean;
}

const INT64_MAX = 2n ** 63n - 1n;

/** Returns a new model with the selected convs rewritten and the names of those convs. */
export function winogradConvs(model: OnnxModel, options: WinogradOptions): { model: OnnxModel; rewritten: string[] } {
  const initializers = new Map(model.graph.initializers.map((t) => [t.name, t]));
  const added: OnnxTensor[] = [];
  const constants = new Set<string>();
  const constant = (tensor: OnnxTensor): string => {
    if (!constants.has(tensor.name)) {
      if (initializers.has(tensor.name)) throw new Error(`winograd: initializer ${tensor.name} already exists`);
      constants.add(tensor.name);
      added.push(tensor);
    }
    return tensor.name;
  };
  const nodes: OnnxNode[] = [];
  const rewritten: string[] = [];
  for (const node of model.graph.nodes) {
    const weight = initializers.get(node.inputs[1]);
    const bias = node.inputs[2] ? initializers.get(node.inputs[2]) : undefined;
    if (!weight || !isSameConv3x3(node, weight, bias) || (options.select && !options.select(node))) {
      nodes.push(node);
      continue;
    }
    nodes.push(...winogradNodes(node, weight, bias, options.tile, constant, added));
    rewritten.push(node.name);
  }
  const used = new Set(nodes.flatMap((n) => n.inputs));
  const kept = model.graph.initializers.filter((t) => used.has(t.name));
  return {
    model: { ...model, graph: { ...model.graph, nodes, initializers: [...kept, ...added] } },
    rewritten,
  };
}

/** Conv, 3x3 float32 weight initializer, stride 1, dilation 1, one group, pads 1 on every side. */
function isSameConv3x3(node: OnnxNode, weight: OnnxTensor, bias: OnnxTensor | undefined): boolean {
  if (node.opType !== 'Conv' || (node.domain ?? '') !== '') return false;
  if (weight.dtype !== 'float32' || weight.dims.length !== 4 || weight.dims[2] !== 3 || weight.dims[3] !== 3) {
    return false;
  }
  if (node.inputs[2] && bias?.dtype !== 'float32') return false;
  const a = node.attributes;
  const ints = (name: string, fallback: number[]): number[] => (a[name]?.value as number[] | undefined) ?? fallback;
  const autoPad = (a.auto_pad?.value as string | undefined) ?? 'NOTSET';
  return (
    autoPad === 'NOTSET' &&
    ((a.group?.value as number | undefined) ?? 1) === 1 &&
    ints('strides', [1, 1]).every((s) => s === 1) &&
    ints('dilations', [1, 1]).every((d) => d === 1) &&
    ints('pads', [0, 0, 0, 0]).every((p) => p === 1)
  );
}

function winogradNodes(
  conv: OnnxNode,
  weight: OnnxTensor,
  bias: OnnxTensor | undefined,
  m: WinogradTile,
  constant: (t: OnnxTensor) => string,
  added: OnnxTensor[],
): OnnxNode[] {
  const [k, c] = weight.dims;
  const w = winogradMatrices(m, 3);
  const alpha = w.alpha;
  const a2 = alpha * alpha;
  const p = `${conv.name}/winograd`;
  const out: OnnxNode[] = [];
  const op = (step: string, opType: string, inputs: string[], attributes: Record<string, AttributeValue> = {}) => {
    const name = `${p}/${step}`;
    out.push({ name, opType, inputs, outputs: [name], attributes });
    return name;
  };
  const ints = (name: string, values: number[]) =>
    constant({ name, dtype: 'int64', dims: [values.length], data: BigInt64Array.from(values, BigInt) });
  const ints64 = (name: string, values: bigint[]) =>
    constant({ name, dtype: 'int64', dims: [values.length], data: BigInt64Array.from(values) });

  // Pad to (H/m + 1) m rows and columns (1 before, m - 1 after), cut into m x m blocks: the tile starting at pixel
  // m t is block t plus the first two rows/columns of block t + 1. Four step-1 Slices give, for every tile, block
  // t (all m^2 block pixels), the next block's rows p < 2 (channels [0, 2 m C)), the next block's columns (all
  // channels: the unused q >= 2 cost a little copying) and the diagonal neighbour's rows p < 2.
  const padded = op('pad', 'Pad', [conv.inputs[0], ints(`winograd/pads/${m}`, [0, 0, 1, 1, 0, 0, m - 1, m - 1])]);
  const blocks = op('blocks', 'SpaceToDepth', [padded], { blocksize: { type: 'int', value: m } });
  const slices = SHIFTS.map(([sh, sw]) => {
    const rows = sh ? 2 * m * c : m * m * c;
    return op(`tile_${sh}_${sw}`, 'Slice', [
      blocks,
      ints(`winograd/starts/${sh},${sw}`, [0, sh, sw]),
      ints64(`winograd/ends/${rows},${sh},${sw}`, [BigInt(rows), sh ? INT64_MAX : -1n, sw ? INT64_MAX : -1n]),
      ints('winograd/axes/1,2,3', [1, 2, 3]),
    ]);
  });
  // Channel order of `tiles`: the slices in SHIFTS order, each (p, q, c) over its block pixels.
  const tiles = op('tiles', 'Concat', slices, { axis: { type: 'int', value: 1 } });
  const sliced = tileChannels(m);
  const flat = op('tiles_flat', 'Reshape', [tiles, ints(`winograd/shape/0,${sliced},-1`, [0, sliced, -1])]);
  const bk = constant(inputTransform(w.bt, m));
  const v = op('input_transform', 'MatMul', [bk, flat]);
  const grid = op('grid', 'Shape', [tiles], { start: { type: 'int', value: 2 } });
  const gridShape = (channels: number) =>
    op(`grid_shape/${channels}`, 'Concat', [ints(`winograd/channels/${channels}`, [0, channels]), grid], {
      axis: { type: 'int', value: 0 },
    });
  const vc = op('input_channels', 'Reshape', [v, gridShape(a2 * c)]);
  // One [K, C] matrix per tile position: a 1x1 conv with a group per position, which onnxruntime runs as an
  // NCHWc grouped conv. The bias goes in at position (1, 1) (interpolation point 1): A^T has an all-ones column
  // there, so every output pixel gets it once.
  const uName = `${weight.name}/winograd${m}`;
  added.push({ name: uName, dtype: 'float32', dims: [a2 * k, c, 1, 1], data: transformWeights(weight, w.g) });
  const productInputs = [vc, uName];
  if (bias) {
    const b = `${bias.name}/winograd${m}`;
    const data = new Float32Array(a2 * k);
    data.set(bias.data as Float32Array, (alpha + 1) * k);
    added.push({ name: b, dtype: 'float32', dims: [a2 * k], data });
    productInputs.push(b);
  }
  const products = op('products', 'Conv', productInputs, {
    group: { type: 'int', value: a2 },
    kernel_shape: { type: 'ints', value: [1, 1] },
  });
  const pf = op('products_flat', 'Reshape', [products, ints(`winograd/shape/0,${a2},-1`, [0, a2, -1])]);
  const y = op('output_transform', 'MatMul', [constant(outputTransform(w.at, m)), pf]);
  const yc = op('output_channels', 'Reshape', [y, gridShape(m * m * k)]);
  op('depth_to_space', 'DepthToSpace', [yc], {
    blocksize: { type: 'int', value: m },
    mode: { type: 'string', value: 'DCR' },
  });
  out[out.length - 1].outputs = [conv.outputs[0]];
  return out;
}

/** Block offsets (rows, columns) of the four tile slices. */
const SHIFTS: [number, number][] = [
  [0, 0],
  [0, 1],
  [1, 0],
  [1, 1],
];

/** Block pixels each slice carries: all m^2, or the rows p < 2 of the next block row. */
function slicePixels(m: number, sh: number): number {
  return sh ? 2 * m : m * m;
}

function tileChannels(m: number): number {
  return SHIFTS.reduce((n, [sh]) => n + slicePixels(m, sh), 0);
}

/**
 * [alpha^2, slice channels / C]: row (k, l) = B^T[k] x B^T[l] at the columns of tile element
 * (i, j) = (m sh + p, m sw + q); columns of block pixels outside the tile (j >= alpha) stay zero.
 */
function inputTransform(bt: number[][], m: number): OnnxTensor {
  const alpha = bt.length;
  const cols = tileChannels(m);
  const data = new Float32Array(alpha * alpha * cols);
  let col = 0;
  for (const [sh, sw] of SHIFTS) {
    for (let pixel = 0; pixel < slicePixels(m, sh); pixel++) {
      const i = m * sh + Math.floor(pixel / m);
      const j = m * sw + (pixel % m);
      if (j < alpha) {
        for (let k = 0; k < alpha; k++) {
          for (let l = 0; l < alpha; l++) data[(k * alpha + l) * cols + col] = bt[k][i] * bt[l][j];
        }
      }
      col++;
    }
  }
  return { name: `winograd/F${m}/input_transform`, dtype: 'float32', dims: [alpha * alpha, cols], data };
}

/** [m^2, alpha^2]: row (u, v) = A^T[u] x A^T[v], rows in DepthToSpace DCR order. */
function outputTransform(at: number[][], m: number): OnnxTensor {
  const alpha = at[0].length;
  const data = new Float32Array(m * m * alpha * alpha);
  for (let u = 0; u < m; u++) {
    for (let v = 0; v < m; v++) {
      for (let k = 0; k < alpha; k++) {
        for (let l = 0; l < alpha; l++) data[(u * m + v) * alpha * alpha + k * alpha + l] = at[u][k] * at[v][l];
      }
    }
  }
  return { name: `winograd/F${m}/output_transform`, dtype: 'float32', dims: [m * m, alpha * alpha], data };
}

/** U[(k, l), o, i] = (G w[o, i] G^T)[k, l], in float64, rounded once. */
function transformWeights(weight: OnnxTensor, g: number[][]): Float32Array {
  const [kOut, cIn] = weight.dims;
  const w = weight.data as Float32Array;
  const alpha = g.length;
  const a2 = alpha * alpha;
  const u = new Float32Array(a2 * kOut * cIn);
  const gw = new Float64Array(alpha * 3);
  for (let o = 0; o < kOut; o++) {
    for (let i = 0; i < cIn; i++) {
      const base = (o * cIn + i) * 9;
      for (let k = 0; k < alpha; k++) {
        for (let col = 0; col < 3; col++) {
          let s = 0;
          for (let r = 0; r < 3; r++) s += g[k][r] * w[base + r * 3 + col];
          gw[k * 3 + col] = s;
        }
      }
      for (let k = 0; k < alpha; k++) {
        for (let l = 0; l < alpha; l++) {
          let s = 0;
          for (let col = 0; col < 3; col++) s += gw[k * 3 + col] * g[l][col];
          u[(k * alpha + l) * kOut * cIn + o * cIn + i] = s;
        }
      }
    }
  }
  return u;
}
