/**
 * The ResBlock's time-embedding projection as two linears: `emb_layers.1` writes [scale | shift] that the graph
 * unsqueezes, slices in halves and turns into 1 + scale. Two Gemms over the weight's row halves, the +1 folded
 * into the scale half's bias, give the same two values with their own quantizers fused into the integer Gemms,
 * and six nodes fewer per block on the path every denoising step runs. Exact up to the float32 rounding of
 * bias + 1.
 */
import type { OnnxGraph, OnnxNode, OnnxTensor } from '../../onnx/ir.ts';
import { type GraphIndex, indexGraph } from '../graph-index.ts';

export interface EmbSplit {
  gemm: string;
  channels: number;
  /** New Gemm nodes (their outputs are named like them). */
  scaleGemm: string;
  shiftGemm: string;
  /** The values the rewrite keeps: 1 + scale and shift, [N, C, 1, 1]. */
  onePlusScale: string;
  shift: string;
}

function sliceBounds(index: GraphIndex, node: OnnxNode): [number, number] | undefined {
  const [starts, ends, axes] = node.inputs.slice(1, 4).map((v) => (v ? index.initializer(v) : undefined));
  if (!starts || !ends || !axes || node.inputs.length > 4) return undefined;
  if (axes.data.length !== 1 || Number(axes.data[0]) !== 1) return undefined;
  return [Number(starts.data[0]), Number(ends.data[0])];
}

function isOne(t: OnnxTensor | undefined): boolean {
  return t !== undefined && t.data.length === 1 && Number(t.data[0]) === 1;
}

/** Gemm -> Unsqueeze -> two Slices on channels [0, C) and [C, 2C); the first read only by Add(., 1). */
export function findEmbSplits(index: GraphIndex): EmbSplit[] {
  const out: EmbSplit[] = [];
  for (const gemm of index.graph.nodes) {
    const w = gemm.opType === 'Gemm' ? index.initializer(gemm.inputs[1]) : undefined;
    if (!w || !gemm.inputs[2] || index.uses(gemm.outputs[0]).length !== 1) continue;
    const unsqueeze = index.node(index.uses(gemm.outputs[0])[0].node);
    if (unsqueeze?.opType !== 'Unsqueeze') continue;
    const slices = index.uses(unsqueeze.outputs[0]).map((u) => index.node(u.node)!);
    if (slices.length !== 2 || slices.some((s) => s.opType !== 'Slice')) continue;
    const c = w.dims[0] / 2;
    const bounds = slices.map((s) => sliceBounds(index, s));
    const scale = slices[bounds.findIndex((b) => b?.[0] === 0 && b[1] === c)];
    const shift = slices[bounds.findIndex((b) => b?.[0] === c && b[1] >= 2 * c)];
    if (!scale || !shift || index.uses(scale.outputs[0]).length !== 1) continue;
    const add = index.node(index.uses(scale.outputs[0])[0].node)!;
    const other = add.inputs.find((i) => i !== scale.outputs[0]);
    if (add.opType !== 'Add' || !isOne(other ? index.initializer(other) : undefined)) continue;
    out.push({
      gemm: gemm.name,
      channels: c,
      scaleGemm: `${gemm.name}/scale`,
      shiftGemm: `${gemm.name}/shift`,
      onePlusScale: add.outputs[0],
      shift: shift.outputs[0],
    });
  }
  return out;
}

function rows(t: OnnxTensor, start: number, end: number, name: string, add = 0): OnnxTensor {
  const per = t.dims.slice(1).reduce((a, b) => a * b, 1);
  const data = (t.data as Float32Array).slice(start * per, end * per);
  if (add !== 0) for (let i = 0; i < data.length; i++) data[i] = Math.fround(data[i] + add);
  return { name, dtype: t.dtype, dims: [end - start, ...t.dims.slice(1)], data };
}

export function splitEmb(graph: OnnxGraph, splits: EmbSplit[]): OnnxGraph {
  const index = indexGraph(graph);
  const todo = new Map(splits.filter((s) => index.node(s.gemm)?.opType === 'Gemm').map((s) => [s.gemm, s]));
  if (todo.size === 0) return graph;
  const dropped = new Set<string>();
  const nodes: OnnxNode[] = [];
  const added: OnnxTensor[] = [];
  for (const node of graph.nodes) {
    const s = todo.get(node.name);
    if (!s) {
      nodes.push(node);
      continue;
    }
    const unsqueeze = index.node(index.uses(node.outputs[0])[0].node)!;
    dropped.add(node.name).add(unsqueeze.name);
    for (const u of index.uses(unsqueeze.outputs[0])) dropped.add(u.node);
    dropped.add(index.producer(s.onePlusScale)!.name);
    const w = index.initializer(node.inputs[1])!;
    const b = index.initializer(node.inputs[2])!;
    const c = s.channels;
    const halves = [
      { gemm: s.scaleGemm, value: s.onePlusScale, from: 0, plus: 1 },
      { gemm: s.shiftGemm, value: s.shift, from: c, plus: 0 },
    ];
    for (const h of halves) {
      const weight = rows(w, h.from, h.from + c, `${w.name}/${h.gemm.slice(node.name.length + 1)}`);
      const bias = rows(b, h.from, h.from + c, `${b.name}/${h.gemm.slice(node.name.length + 1)}`, h.plus);
      added.push(weight, bias);
      nodes.push({ ...node, name: h.gemm, inputs: [node.inputs[0], weight.name, bias.name], outputs: [h.gemm] });
      nodes.push({
        ...unsqueeze,
        name: `${h.gemm}/unsqueeze`,
        inputs: [h.gemm, unsqueeze.inputs[1]],
        outputs: [h.value],
      });
    }
  }
  const kept = nodes.filter((n) => !dropped.has(n.name));
  const used = new Set(kept.flatMap((n) => n.inputs));
  const initializers = [...graph.initializers.filter((t) => used.has(t.name)), ...added];
  return { ...graph, nodes: kept, initializers };
}
