/**
 * Q-Diffusion's shortcut splitting: a 1x1 conv that reads `cat([h, skip])` becomes one conv per concatenated
 * part (weights sliced along the input channels), summed. Each part then gets its own input quantizer and its own
 * per-output-channel weight scales, because h and the skip have very different ranges.
 *
 * The rewrite is exact in real arithmetic; in float32 only the summation order changes.
 */
import type { OnnxGraph, OnnxModel, OnnxNode, OnnxTensor } from '../../onnx/ir.ts';
import { type GraphIndex, indexGraph } from '../graph-index.ts';
import { valueChannels } from './channels.ts';

export interface ShortcutSplit {
  /** The original conv node (its output value keeps its name: the sum of the parts). */
  conv: string;
  concat: string;
  parts: SplitPart[];
}

export interface SplitPart {
  /** New conv node name, `<conv>/h`, `<conv>/skip` (two parts) or `<conv>/part<i>`. */
  node: string;
  /** The concat input it reads. */
  input: string;
  /** Input channels [start, end) of the original weight. */
  channels: [number, number];
  weight: string;
  /** Only the first part carries the bias. */
  bias?: string;
}

function isPointwiseConv(node: OnnxNode): boolean {
  const ones = (name: string) => {
    const a = node.attributes[name];
    return !a || (a.type === 'ints' && a.value.every((v) => v === 1));
  };
  const zeros = (name: string) => {
    const a = node.attributes[name];
    return !a || (a.type === 'ints' && a.value.every((v) => v === 0));
  };
  const group = node.attributes.group;
  return (
    node.opType === 'Conv' &&
    ones('kernel_shape') &&
    ones('strides') &&
    ones('dilations') &&
    zeros('pads') &&
    (!group || (group.type === 'int' && group.value === 1))
  );
}

function partNames(conv: string, count: number): string[] {
  return count === 2 ? [`${conv}/h`, `${conv}/skip`] : Array.from({ length: count }, (_, i) => `${conv}/part${i}`);
}

/** Every pointwise conv whose input is a channel concat, with the channel ranges of its parts. */
export function findShortcutSplits(index: GraphIndex): ShortcutSplit[] {
  const splits: ShortcutSplit[] = [];
  for (const node of index.graph.nodes) {
    if (!isPointwiseConv(node) || !index.initializer(node.inputs[1])) continue;
    const concat = index.producer(node.inputs[0]);
    const axis = concat?.attributes.axis;
    if (concat?.opType !== 'Concat' || axis?.type !== 'int' || axis.value !== 1) continue;
    const names = partNames(node.name, concat.inputs.length);
    let start = 0;
    const parts: SplitPart[] = [];
    for (const [i, input] of concat.inputs.entries()) {
      const c = valueChannels(index, input);
      if (c === undefined) throw new Error(`shortcut split of ${node.name}: cannot tell the channels of ${input}`);
      parts.push({
        node: names[i],
        input,
        channels: [start, start + c],
        weight: `${node.inputs[1]}/${names[i].slice(node.name.length + 1)}`,
        bias: i === 0 && node.inputs[2] ? node.inputs[2] : undefined,
      });
      start += c;
    }
    const total = index.initializer(node.inputs[1])!.dims[1];
    if (start !== total)
      throw new Error(`shortcut split of ${node.name}: parts have ${start} channels, weight ${total}`);
    splits.push({ conv: node.name, concat: concat.name, parts });
  }
  return splits;
}

/** Input-channel slice [start, end) of a conv weight [out, in, ...kernel]. */
export function sliceInputChannels(w: OnnxTensor, start: number, end: number, name: string): OnnxTensor {
  const [out, cin, ...kernel] = w.dims;
  const k = kernel.reduce((a, b) => a * b, 1);
  const src = w.data as Float32Array;
  const data = new Float32Array(out * (end - start) * k);
  for (let o = 0; o < out; o++) {
    data.set(src.subarray((o * cin + start) * k, (o * cin + end) * k), o * (end - start) * k);
  }
  return { name, dtype: w.dtype, dims: [out, end - start, ...kernel], data };
}

/** The model with every split applied: part convs in place of the original, then an Add named like it. */
export function applyShortcutSplits(model: OnnxModel, splits: ShortcutSplit[]): OnnxModel {
  return splits.length === 0 ? model : { ...model, graph: splitGraph(model.graph, splits) };
}

export function splitGraph(graph: OnnxGraph, splits: ShortcutSplit[]): OnnxGraph {
  if (splits.length === 0) return graph;
  const index = indexGraph(graph);
  const byConv = new Map(splits.map((s) => [s.conv, s]));
  const nodes: OnnxNode[] = [];
  const added: OnnxTensor[] = [];
  const dropped = new Set<string>();
  for (const node of graph.nodes) {
    const split = byConv.get(node.name);
    if (!split) {
      nodes.push(node);
      continue;
    }
    const weight = index.initializer(node.inputs[1])!;
    dropped.add(weight.name);
    const outputs: string[] = [];
    for (const part of split.parts) {
      added.push(sliceInputChannels(weight, part.channels[0], part.channels[1], part.weight));
      const inputs = part.bias ? [part.input, part.weight, part.bias] : [part.input, part.weight];
      nodes.push({ ...node, name: part.node, inputs, outputs: [part.node] });
      outputs.push(part.node);
    }
    nodes.push(...sumNodes(node.name, outputs, node.outputs[0]));
  }
  const initializers = [...graph.initializers.filter((t) => !dropped.has(t.name)), ...added];
  return { ...graph, nodes, initializers };
}

/** Pairwise Adds; the last one writes `output` and carries the conv's node name. */
function sumNodes(name: string, values: string[], output: string): OnnxNode[] {
  const nodes: OnnxNode[] = [];
  let acc = values[0];
  for (let i = 1; i < values.length; i++) {
    const last = i === values.length - 1;
    const out = last ? output : `${name}/sum${i}`;
    nodes.push({ name: last ? name : out, opType: 'Add', inputs: [acc, values[i]], outputs: [out], attributes: {} });
    acc = out;
  }
  return nodes;
}
