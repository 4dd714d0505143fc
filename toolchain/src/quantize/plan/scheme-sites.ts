/**
 * Where each scheme puts activation quantizers (docs/method.md#quantizer-placement), as rules over the graph after
 * shortcut splitting. See plan.ts for what each scheme means.
 */
import type { OnnxNode } from '../../onnx/ir.ts';
import type { GraphIndex } from '../graph-index.ts';
import type { QkvSplit } from './attention-layout.ts';
import type { EmbSplit } from './emb-layout.ts';
import type { ActivationRole, WeightSite } from './plan-types.ts';
import type { SiteSet } from './site-set.ts';

function outputRole(site: WeightSite): ActivationRole {
  return site.kind === 'conv' ? 'conv-output' : 'linear-output';
}

function inputRole(site: WeightSite): ActivationRole {
  return site.kind === 'conv' ? 'conv-input' : 'linear-input';
}

export function ptq4dmSites(sites: SiteSet, weights: WeightSite[]): void {
  for (const w of weights) sites.add(w.outputValue, outputRole(w));
}

/** Split nodes with three outputs: the attention q, k, v (QKVAttention's per-head split). */
function attentionSplits(index: GraphIndex): OnnxNode[] {
  return index.graph.nodes.filter((n) => n.opType === 'Split' && n.outputs.length === 3);
}

export function qdiffSites(sites: SiteSet, index: GraphIndex, weights: WeightSite[]): void {
  for (const w of weights) sites.add(w.inputValue, inputRole(w), [{ node: w.node, input: 0 }]);
  for (const split of attentionSplits(index)) {
    const [q, k, v] = split.outputs;
    sites.add(q, 'attention-q');
    sites.add(k, 'attention-k');
    sites.add(v, 'attention-v');
  }
  for (const node of index.graph.nodes) if (node.opType === 'Softmax') sites.add(node.outputs[0], 'softmax');
}

/** Ops that only move values: their output can share the input's quantization parameters exactly. */
const VALUE_PRESERVING = new Set(['Reshape', 'Transpose', 'Squeeze', 'Unsqueeze', 'Resize']);

export function fullSites(
  sites: SiteSet,
  index: GraphIndex,
  weights: WeightSite[],
  keep: Set<string>,
  qkv: QkvSplit[],
  emb: EmbSplit[],
): void {
  for (const w of weights) sites.add(w.inputValue, inputRole(w));
  for (const w of weights) {
    // QLinearConv needs its output quantized; QGemm may output float, so a linear output is quantized only
    // where integer kernels read it (a Gemm sliced into scale and shift halves is quantized per half, below).
    if (w.kind === 'conv' || feedsInteger(index, w.outputValue)) sites.add(w.outputValue, outputRole(w));
  }
  for (const node of index.graph.nodes) {
    // A kept-float layer still hands integer kernels a quantized output.
    const layer = node.opType === 'Conv' || node.opType === 'Gemm';
    if (layer && keep.has(node.name) && feedsInteger(index, node.outputs[0])) {
      sites.add(node.outputs[0], node.opType === 'Conv' ? 'conv-output' : 'linear-output', undefined, undefined, true);
    }
  }
  for (const node of index.graph.nodes) {
    if (node.opType === 'Slice' && feedsFromGemm(index, node)) {
      sites.add(node.outputs[0], node.outputs[0].endsWith('/shift') ? 'emb-shift' : 'emb-scale');
    }
  }
  const outputOf = new Map(weights.map((w) => [w.node, w.outputValue]));
  for (const e of emb) {
    // 1 + scale and shift out of their own integer Gemms, each with its own quantizer.
    const [scale, shift] = [outputOf.get(e.scaleGemm), outputOf.get(e.shiftGemm)];
    if (scale) sites.add(scale, 'emb-scale');
    if (shift) sites.add(shift, 'emb-shift');
  }
  for (const s of qkv) {
    // q*scale, k*scale and v come straight out of their own convs (QLinearConv outputs).
    const roles = ['attention-q', 'attention-k', 'attention-v'] as const;
    s.convs.forEach((conv, i) => {
      const value = outputOf.get(conv);
      if (value) sites.add(value, roles[i]);
    });
  }
  for (const split of attentionSplits(index)) {
    const [q, k, v] = split.outputs;
    sites.add(matmulOperand(index, q) ?? q, 'attention-q');
    sites.add(matmulOperand(index, k) ?? k, 'attention-k');
    sites.add(v, 'attention-v');
  }
  for (const node of index.graph.nodes) if (node.opType === 'Softmax') sites.add(node.outputs[0], 'softmax');
  // Residual sums of quantized values, value-preserving ops of quantized values and matmuls of quantized values
  // that integer kernels read (the attention output; the logits feed the float softmax), to a fixed point.
  for (let changed = true; changed; ) {
    changed = false;
    for (const node of index.graph.nodes) {
      const out = node.outputs[0];
      const isResidual = node.opType === 'Add' && node.inputs.every((i) => sites.has(i));
      if (sites.has(out)) {
        if (isResidual) sites.add(out, 'residual'); // a block output that some conv reads: named for what it is
        continue;
      }
      const source = node.inputs[0];
      if (VALUE_PRESERVING.has(node.opType) && sites.has(source) && isNearest(node) && feedsInteger(index, out)) {
        sites.add(out, 'pass-through', undefined, rootOf(sites, source));
        changed = true;
      } else if (isResidual) {
        sites.add(out, 'residual');
        changed = true;
      } else if (node.opType === 'MatMul' && node.inputs.every((i) => sites.has(i)) && feedsInteger(index, out)) {
        sites.add(out, 'attention-output');
        changed = true;
      }
    }
  }
  // A value-preserving op whose output is a quantized conv input shares its input's parameters when the input
  // is quantized too (the head merge before proj_out, the nearest upsampling before its conv): one grid through
  // the op, which onnxruntime then runs on integers.
  for (const node of index.graph.nodes) {
    const site = sites.sites.get(node.outputs[0]);
    if (site && !site.sharesParamsWith && VALUE_PRESERVING.has(node.opType) && sites.has(node.inputs[0])) {
      if (isNearest(node)) site.sharesParamsWith = rootOf(sites, node.inputs[0]);
    }
  }
}

/** Ops that have integer kernels (or integer data movement) in onnxruntime. */
const INTEGER_READERS = new Set(['Add', 'MatMul', 'Conv', 'Gemm', 'Resize', 'Reshape', 'Transpose']);

function feedsInteger(index: GraphIndex, value: string): boolean {
  return index.uses(value).some((u) => INTEGER_READERS.has(index.node(u.node)!.opType));
}

function rootOf(sites: SiteSet, value: string): string {
  let v = value;
  for (let s = sites.sites.get(v); s?.sharesParamsWith; s = sites.sites.get(v)) v = s.sharesParamsWith;
  return v;
}

function isNearest(node: OnnxNode): boolean {
  if (node.opType !== 'Resize') return true;
  const mode = node.attributes.mode;
  return mode?.type === 'string' && mode.value === 'nearest';
}

function feedsFromGemm(index: GraphIndex, slice: OnnxNode): boolean {
  let p = index.producer(slice.inputs[0]);
  if (p?.opType === 'Unsqueeze') p = index.producer(p.inputs[0]);
  return p?.opType === 'Gemm';
}

/** q or k after its attention scale (Mul by a constant) when that product is what the matmul reads. */
function matmulOperand(index: GraphIndex, value: string): string | undefined {
  const uses = index.uses(value);
  if (uses.length !== 1) return undefined;
  const mul = index.node(uses[0].node)!;
  return mul.opType === 'Mul' && index.initializer(mul.inputs[1 - uses[0].input]) ? mul.outputs[0] : undefined;
}
