/**
 * Graph transform: 3x3 stride-1 "same" convolutions as Winograd F(m x m, 3 x 3) in plain ONNX ops, so that
 * onnxruntime's CPU kernels do (m + 2)^2 / (9 m^2) of the direct convolution's multiplies in the main product
 * (F(2x2): 0.44x, F(4x4): 0.25x). For a conv `p` with input x [N, C, S, S] (S a multiple of m), weight [K, C, 3, 3],
 * alpha = m + 2 and T = (S/m)^2 tiles per image:
 *
 *   Pad 1 -> Transpose to pixels [N, (S+2)^2, C] -> Gather every tile's alpha^2 pixels: [N, alpha^2, T, C]
 *   -> B^T d B as two MatMuls by B^T (columns, then rows) -> Transpose to [N alpha^2, C, T]
 *   -> 1x1 Conv with one group per tile position (weights U = G w G^T, bias folded in) = [N, alpha^2 K, S/m, S/m]
 *   -> A^T M A as two MatMuls by A^T -> DepthToSpace m (DCR) = [N, K, S, S].
 *
 * The tile pixels are gathered with C innermost (whole channel vectors per index, cheap) and the product runs as a
 * grouped conv, which onnxruntime executes in its NCHWc layout at graphOptimizationLevel 'all' (the fastest of the
 * three levels for this form; whether it beats the direct conv depends on the CPU: winograd-choice.ts). U is computed
 * in the graph from the original weight, so the file stays the size of the plain one; onnxruntime's constant folding
 * ('basic' and up) materializes it at session start ((m + 2)^2 / 9 times the 3x3 weights in memory). Nodes are named
 * `<conv name>/winograd/<step>`; the last writes the conv's output value. Exact in real arithmetic; float32 error grows
 * with m (winograd.test.ts).
 */
import type { AttributeValue, OnnxModel, OnnxNode, OnnxTensor } from './ir.ts';
import { kernelTransform, tileGatherIndices, winogradMatrices } from './winograd-matrices.ts';

export type WinogradTile = 2 | 4;

export interface WinogradOptions {
  /** Output tile side m: 2 for F(2x2,3x3), 4 for F(4x4,3x3). */
  tile: WinogradTile;
  /** The convs to rewrite: node name -> side S of its square input (a multiple of `tile`). */
  convs: Map<string, number>;
}

/**
 * Returns a new model with the listed convs rewritten (those that are 3x3, stride 1, pads 1, one group, with
 * initializer weights; others are left as they are) and the names of the rewritten convs.
 */
export function winogradConvs(model: OnnxModel, options: WinogradOptions): { model: OnnxModel; rewritten: string[] } {
  const initializers = new Map(model.graph.initializers.map((t) => [t.name, t]));
  const added = new Map<string, OnnxTensor>();
  // Constants are named by content, so a second pass (another tile size) reuses the first one's.
  const constant = (tensor: OnnxTensor): string => {
    const existing = initializers.get(tensor.name) ?? added.get(tensor.name);
    if (existing && !sameData(existing, tensor)) throw new Error(`winograd: initializer ${tensor.name} exists`);
    if (!existing) added.set(tensor.name, tensor);
    return tensor.name;
  };
  const nodes: OnnxNode[] = [];
  const rewritten: string[] = [];
  for (const node of model.graph.nodes) {
    const size = options.convs.get(node.name);
    const weight = initializers.get(node.inputs[1]);
    const bias = node.inputs[2] ? initializers.get(node.inputs[2]) : undefined;
    if (size === undefined || !weight || !isSameConv3x3(node, weight, bias)) {
      nodes.push(node);
      continue;
    }
    if (!Number.isInteger(size / options.tile) || size <= 0) {
      throw new Error(`winograd: ${node.name} has side ${size}, not a multiple of the tile ${options.tile}`);
    }
    nodes.push(...winogradNodes(node, weight, bias, options.tile, size, constant));
    rewritten.push(node.name);
  }
  const used = new Set(nodes.flatMap((n) => n.inputs));
  const kept = model.graph.initializers.filter((t) => used.has(t.name));
  return {
    model: { ...model, graph: { ...model.graph, nodes, initializers: [...kept, ...added.values()] } },
    rewritten,
  };
}

function sameData(a: OnnxTensor, b: OnnxTensor): boolean {
  return a.dims.join() === b.dims.join() && a.data.length === b.data.length && a.data.every((v, i) => v === b.data[i]);
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

const int = (value: number): AttributeValue => ({ type: 'int', value });
const ints = (value: number[]): AttributeValue => ({ type: 'ints', value });

function winogradNodes(
  conv: OnnxNode,
  weight: OnnxTensor,
  bias: OnnxTensor | undefined,
  m: WinogradTile,
  size: number,
  constant: (t: OnnxTensor) => string,
): OnnxNode[] {
  const [k, c] = weight.dims;
  const w = winogradMatrices(m, 3);
  const { alpha } = w;
  const a2 = alpha * alpha;
  const side = size / m;
  const tiles = side * side;
  const padded = size + 2;
  const nodes: OnnxNode[] = [];
  const op = (step: string, opType: string, inputs: string[], attributes: Record<string, AttributeValue> = {}) => {
    const name = `${conv.name}/winograd/${step}`;
    nodes.push({ name, opType, inputs, outputs: [name], attributes });
    return name;
  };
  const int64s = (values: number[]) =>
    constant({
      name: `winograd/int64/${values.join(',')}`,
      dtype: 'int64',
      dims: [values.length],
      data: BigInt64Array.from(values, BigInt),
    });
  const matrix = (name: string, rows: number[][]) =>
    constant({
      name: `winograd/F${m}/${name}`,
      dtype: 'float32',
      dims: [rows.length, rows[0].length],
      data: Float32Array.from(rows.flat()),
    });
  const reshape = (step: string, x: string, dims: number[]) => op(step, 'Reshape', [x, int64s(dims)]);

  // Tiles: every alpha x alpha window at stride m of the zero-padded input, channel vectors innermost.
  let h = op('pad', 'Pad', [conv.inputs[0], int64s([0, 0, 1, 1, 0, 0, 1, 1])]);
  h = reshape('rows', h, [0, c, padded * padded]);
  h = op('pixels', 'Transpose', [h], { perm: ints([0, 2, 1]) });
  const indices = constant({
    name: `winograd/F${m}/tiles/${size}`,
    dtype: 'int64',
    dims: [a2, tiles],
    data: tileGatherIndices(m, size),
  });
  h = op('tiles', 'Gather', [h, indices], { axis: int(1) }); // [N, (i, j), T, C]

  // V = B^T d B: B^T on the column index j (the row axis of each [j, T C] matrix), then on the row index i.
  const bt = matrix('bt', w.bt);
  h = reshape('tiles_ij', h, [0, alpha, alpha, -1]);
  h = op('input_columns', 'MatMul', [bt, h]);
  h = reshape('input_rows', h, [0, alpha, -1]);
  h = op('input_transform', 'MatMul', [bt, h]); // [N, (k, l), T, C]
  h = reshape('input_tc', h, [-1, tiles, c]);
  h = op('input_ct', 'Transpose', [h], { perm: ints([0, 2, 1]) });
  h = reshape('input_channels', h, [-1, a2 * c, side, side]);

  // M = U V per tile position: one [K, C] matrix per position, a 1x1 conv with a group per position. The bias
  // goes in at position (1, 1) (interpolation point 1): A^T has an all-ones column there, so every output pixel
  // gets it exactly once.
  // U = G w G^T for every (o, i) as one MatMul of the [K C, 9] kernels by (G kron G)^T, left in the graph on the
  // initializer so that onnxruntime's constant folding computes it once at session start (the file keeps the
  // 3x3 weights, not the (m + 2)^2 / 9 times larger transformed ones).
  let u = reshape('kernels', weight.name, [k * c, 9]);
  u = op('kernels_transform', 'MatMul', [u, matrix('gg', kernelTransform(w.g))]); // [K C, alpha^2]
  u = op('kernels_positions', 'Transpose', [u], { perm: ints([1, 0]) });
  u = reshape('weights', u, [a2 * k, c, 1, 1]);
  const productInputs = [h, u];
  if (bias) {
    const at11 = (alpha + 1) * k;
    productInputs.push(op('bias', 'Pad', [bias.name, int64s([at11, a2 * k - at11 - k])]));
  }
  h = op('products', 'Conv', productInputs, { group: int(a2), kernel_shape: ints([1, 1]) });

  // Y = A^T M A, again one side at a time, then the m x m output blocks back to pixels.
  const at = matrix('at', w.at);
  h = reshape('products_kl', h, [0, alpha, alpha, -1]);
  h = op('output_columns', 'MatMul', [at, h]);
  h = reshape('output_rows', h, [0, alpha, -1]);
  h = op('output_transform', 'MatMul', [at, h]); // [N, (u, v), K, T]
  h = reshape('output_channels', h, [0, m * m * k, side, side]);
  op('depth_to_space', 'DepthToSpace', [h], { blocksize: int(m), mode: { type: 'string', value: 'DCR' } });
  nodes[nodes.length - 1].outputs = [conv.outputs[0]];
  return nodes;
}
