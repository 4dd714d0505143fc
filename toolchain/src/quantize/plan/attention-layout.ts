/**
 * The attention output a = v w^T as (w v^T)^T. The graph builder writes MatMul(v, Transpose(w)), which float
 * onnxruntime folds into one FusedMatMul; integer matmuls (QLinearMatMul, MatMulIntegerToFloat) take no transpose
 * flags, so the quantized graph would transpose the whole [B, T, T] softmax output every step. Transposing v
 * ([B, ch, T]) and the result instead moves T/ch times fewer values. Exact in real arithmetic.
 */
import type { OnnxGraph, OnnxNode, OnnxTensor } from '../../onnx/ir.ts';
import { type GraphIndex, indexGraph } from '../graph-index.ts';

function isSwapLast(node: OnnxNode | undefined): boolean {
  const perm = node?.attributes.perm;
  return node?.opType === 'Transpose' && perm?.type === 'ints' && perm.value.join() === '0,2,1';
}

/** MatMul nodes reading `Transpose(w, [0,2,1])` as their second input, where nothing else reads that transpose. */
export function findAttentionReorders(index: GraphIndex): string[] {
  return index.graph.nodes
    .filter((n) => n.opType === 'MatMul')
    .filter((n) => {
      const t = index.producer(n.inputs[1]);
      return isSwapLast(t) && index.uses(n.inputs[1]).length === 1 && !index.isGraphOutput(n.inputs[1]);
    })
    .map((n) => n.name);
}

/**
 * `<mm>` = MatMul(v, Transpose(w)) becomes `<mm>/v_transposed` = Transpose(v), `<mm>/transposed` =
 * MatMul(w, v^T) and the node `<mm>` = Transpose(...), which writes the original output value.
 */
export function reorderAttention(graph: OnnxGraph, matmuls: string[]): OnnxGraph {
  const index = indexGraph(graph);
  const pending = new Set(matmuls.filter((m) => isSwapLast(index.producer(index.node(m)?.inputs[1] ?? ''))));
  if (pending.size === 0) return graph;
  const dropped = new Set<string>();
  const nodes: OnnxNode[] = [];
  for (const node of graph.nodes) {
    if (!pending.has(node.name)) {
      nodes.push(node);
      continue;
    }
    const transpose = index.producer(node.inputs[1])!;
    dropped.add(transpose.name);
    const [v] = node.inputs;
    const [w] = transpose.inputs;
    const swap = { perm: { type: 'ints' as const, value: [0, 2, 1] } };
    const vt = `${node.name}/v_transposed`;
    const product = `${node.name}/transposed`;
    nodes.push({ name: vt, opType: 'Transpose', inputs: [v], outputs: [vt], attributes: swap });
    nodes.push({ name: product, opType: 'MatMul', inputs: [w, vt], outputs: [product], attributes: {} });
    nodes.push({ name: node.name, opType: 'Transpose', inputs: [product], outputs: node.outputs, attributes: swap });
  }
  // The transposes of w were read only by the rewritten matmuls; they may sit before them in the order.
  return { ...graph, nodes: nodes.filter((n) => !dropped.has(n.name)) };
}

/** One attention's qkv conv, seen through the head reshape, the q/k/v split and the q/k scale multiplies. */
export interface QkvSplit {
  conv: string;
  heads: number;
  /** Channels per head. */
  ch: number;
  /** Time steps (positions) per head: the reshape's last dimension. */
  positions: number;
  /** The attention scale 1/sqrt(sqrt(ch)) that multiplies q and k. */
  scale: number;
  /** Values the three new convs' reshapes write: q*scale, k*scale, v (names kept from the original graph). */
  values: [string, string, string];
  /** Names of the three convs that replace the qkv conv. */
  convs: [string, string, string];
}

function scalarOf(index: GraphIndex, mul: OnnxNode | undefined, from: string): number | undefined {
  if (mul?.opType !== 'Mul') return undefined;
  const other = index.initializer(mul.inputs[mul.inputs[0] === from ? 1 : 0]);
  return other && other.data.length === 1 ? Number(other.data[0]) : undefined;
}

/**
 * qkv conv -> Reshape [-1, 3ch, T] -> Split [ch, ch, ch] -> (q * c, k * c, v), every link read only by the next.
 */
export function findQkvSplits(index: GraphIndex): QkvSplit[] {
  const out: QkvSplit[] = [];
  for (const conv of index.graph.nodes) {
    const w = conv.opType === 'Conv' ? index.initializer(conv.inputs[1]) : undefined;
    if (!w || index.uses(conv.outputs[0]).length !== 1) continue;
    const reshape = index.node(index.uses(conv.outputs[0])[0].node);
    const shape = reshape?.opType === 'Reshape' ? index.initializer(reshape.inputs[1]) : undefined;
    if (!reshape || !shape || shape.data.length !== 3 || index.uses(reshape.outputs[0]).length !== 1) continue;
    const split = index.node(index.uses(reshape.outputs[0])[0].node);
    if (split?.opType !== 'Split' || split.outputs.length !== 3) continue;
    const ch = Number(shape.data[1]) / 3;
    const sizes = index.initializer(split.inputs[1]);
    if (!Number.isInteger(ch) || !sizes || [...sizes.data].some((s) => Number(s) !== ch)) continue;
    const [q, k, v] = split.outputs;
    const [qu, ku] = [index.uses(q), index.uses(k)];
    if (qu.length !== 1 || ku.length !== 1) continue;
    const [qm, km] = [index.node(qu[0].node), index.node(ku[0].node)];
    const scale = scalarOf(index, qm, q);
    if (scale === undefined || scalarOf(index, km, k) !== scale) continue;
    out.push({
      conv: conv.name,
      heads: w.dims[0] / (3 * ch),
      ch,
      positions: Number(shape.data[2]),
      scale,
      values: [qm!.outputs[0], km!.outputs[0], v],
      convs: [`${conv.name}/q`, `${conv.name}/k`, `${conv.name}/v`],
    });
  }
  return out;
}

/**
 * Rows of the qkv weight (or bias) for one part: head h's rows h*3ch + part*ch .. + ch, times `factor`, so the q
 * and k convs produce q*scale and k*scale directly.
 */
function partRows(t: OnnxTensor, s: QkvSplit, part: number, factor: number): Float32Array {
  const data = t.data as Float32Array;
  const rowSize = t.dims.slice(1).reduce((a, b) => a * b, 1);
  const out = new Float32Array(s.heads * s.ch * rowSize);
  for (let h = 0; h < s.heads; h++) {
    for (let i = 0; i < s.ch; i++) {
      const src = ((h * 3 + part) * s.ch + i) * rowSize;
      const dst = (h * s.ch + i) * rowSize;
      for (let j = 0; j < rowSize; j++) out[dst + j] = Math.fround(data[src + j] * factor);
    }
  }
  return out;
}

/**
 * Each split qkv conv becomes three convs (the attention scale folded into the q and k weights and biases), each
 * reshaped to [-1, ch, T] under the name the graph used for q*scale, k*scale and v; the head reshape, the split
 * and the two multiplies go. NOTE: exact up to the float32 rounding of the folded scale (relative 1e-7).
 */
export function splitQkv(graph: OnnxGraph, splits: QkvSplit[]): OnnxGraph {
  const index = indexGraph(graph);
  const todo = new Map(splits.filter((s) => index.node(s.conv)?.opType === 'Conv').map((s) => [s.conv, s]));
  if (todo.size === 0) return graph;
  const dropped = new Set<string>();
  const nodes: OnnxNode[] = [];
  const initializers = [...graph.initializers];
  const have = new Set(initializers.map((t) => t.name));
  for (const node of graph.nodes) {
    const s = todo.get(node.name);
    if (!s) {
      nodes.push(node);
      continue;
    }
    const reshape = index.node(index.uses(node.outputs[0])[0].node)!;
    const split = index.node(index.uses(reshape.outputs[0])[0].node)!;
    dropped.add(node.name).add(reshape.name).add(split.name);
    for (const value of split.outputs.slice(0, 2)) dropped.add(index.uses(value)[0].node);
    const shape = `const/shape/-1,${s.ch},${s.positions}`;
    if (!have.has(shape)) {
      have.add(shape);
      initializers.push({
        name: shape,
        dtype: 'int64',
        dims: [3],
        data: BigInt64Array.of(-1n, BigInt(s.ch), BigInt(s.positions)),
      });
    }
    const [wName, bName] = [node.inputs[1], node.inputs[2]];
    const w = index.initializer(wName)!;
    const b = bName ? index.initializer(bName) : undefined;
    for (const [part, suffix] of ['q', 'k', 'v'].entries()) {
      const factor = part < 2 ? s.scale : 1;
      const conv = s.convs[part];
      const weight = {
        name: `${wName}/${suffix}`,
        dtype: w.dtype,
        dims: [s.heads * s.ch, ...w.dims.slice(1)],
        data: partRows(w, s, part, factor),
      };
      initializers.push(weight);
      const inputs = [node.inputs[0], weight.name];
      if (b) {
        initializers.push({
          name: `${bName}/${suffix}`,
          dtype: b.dtype,
          dims: [s.heads * s.ch],
          data: partRows(b, s, part, factor),
        });
        inputs.push(`${bName}/${suffix}`);
      }
      nodes.push({ ...node, name: conv, inputs, outputs: [conv] });
      nodes.push({
        name: `${conv}/heads`,
        opType: 'Reshape',
        inputs: [conv, shape],
        outputs: [s.values[part]],
        attributes: {},
      });
    }
  }
  const kept = nodes.filter((n) => !dropped.has(n.name));
  const used = new Set(kept.flatMap((n) => n.inputs));
  return {
    ...graph,
    nodes: kept,
    initializers: initializers.filter((t) => used.has(t.name) || !index.initializer(t.name)),
  };
}
