/**
 * The QDQ export: the fp32 graph plus the plan's quantizers as QuantizeLinear/DequantizeLinear nodes, in the form
 * onnxruntime fuses into integer kernels at graphOptimizationLevel 'extended'/'all':
 * - weights: int8 (int4 at --wbits 4) initializers, per-output-channel scales, zero point 0, DequantizeLinear on
 *   axis 0;
 * - biases of convs/linears whose input is quantized: int32 with scale s_in * s_w[c] and zero point 0, because
 *   QLinearConv/QGemm take the int32 bias as is and assume exactly that scale (so the unfused graph and the
 *   fused kernel compute the same thing);
 * - activations: QuantizeLinear -> DequantizeLinear per tensor, uint8 (abits 8).
 * NOTE: 16-bit activations are stored as int16 with the zero point shifted by -32768: the same grid as uint16
 * [0, 65535] (q16 = u16 - 32768), because the ONNX codec here has no uint16 element type. They need opset 21.
 */
import { attr } from '../../onnx/builder.ts';
import type { OnnxGraph, OnnxModel, OnnxNode, OnnxTensor } from '../../onnx/ir.ts';
import type { Range } from '../observe/observers.ts';
import { reorderAttention, splitQkv } from '../plan/attention-layout.ts';
import { splitEmb } from '../plan/emb-layout.ts';
import type { ActivationSite, QuantPlan, WeightSite } from '../plan/plan.ts';
import { splitGraph } from '../plan/shortcut-split.ts';
import {
  type AffineParams,
  activationParams,
  type Grid,
  roundHalfEven,
  UINT8_ACTIVATIONS,
  UINT16_ACTIVATIONS,
} from '../quant.ts';

/** Integer weights of one site: q [out, in, ...] on the site's grid, per-output-channel scales. */
export interface QuantizedWeight {
  q: Int8Array;
  scales: Float32Array;
  /** From a reconstruction rounder: tr(dW H dW^T) with nearest rounding and with this rounding. */
  errorNearest?: number;
  error?: number;
}

export const QDQ_OPSET = 17;
export const QDQ_OPSET_WIDE = 21; // int4 weights or 16-bit activations

export function activationGrid(bits: 8 | 16): Grid {
  return bits === 8 ? UINT8_ACTIVATIONS : UINT16_ACTIVATIONS;
}

/**
 * QuantizeLinear parameters of every site: observed ranges for sites that own one, the source's for sites that
 * share parameters. Throws when a site has no range.
 */
export function siteParams(plan: QuantPlan, ranges: ReadonlyMap<string, Range>): Map<string, AffineParams> {
  const out = new Map<string, AffineParams>();
  const byValue = new Map(plan.activations.map((s) => [s.value, s]));
  const resolve = (site: ActivationSite, depth = 0): AffineParams => {
    const known = out.get(site.value);
    if (known) return known;
    let params: AffineParams;
    const source = site.sharesParamsWith ? byValue.get(site.sharesParamsWith) : undefined;
    if (source && depth < 64) params = resolve(source, depth + 1);
    else {
      const r = ranges.get(site.value);
      if (!r) throw new Error(`no activation range for ${site.value}`);
      params = activationParams(r.min, r.max, activationGrid(site.bits));
    }
    out.set(site.value, params);
    return params;
  };
  for (const site of plan.activations) resolve(site);
  return out;
}

/** The model as the plan sees it: the plan's graph rewrites applied (unless they already are). */
export function prepareModel(model: OnnxModel, plan: QuantPlan): OnnxModel {
  const pending = plan.splits.filter((s) => model.graph.nodes.some((n) => n.name === s.conv && n.opType === 'Conv'));
  const split = pending.length === 0 ? model.graph : splitGraph(model.graph, pending);
  // Both are no-ops where already applied.
  const graph = reorderAttention(splitEmb(splitQkv(split, plan.qkvSplits), plan.embSplits), plan.attentionReorders);
  return graph === model.graph ? model : { ...model, graph };
}

export interface ExportOptions {
  /** Sites (by value) to leave out, e.g. to measure one quantizer's effect. */
  skipActivations?: ReadonlySet<string>;
}

/**
 * The QDQ model. `weights` may cover only some weight sites (the others keep float weights): the sequential
 * reconstruction driver exports partially quantized models this way.
 */
export function exportQdq(
  model: OnnxModel,
  plan: QuantPlan,
  ranges: ReadonlyMap<string, Range>,
  weights: ReadonlyMap<string, QuantizedWeight>,
  options: ExportOptions = {},
): OnnxModel {
  const prepared = prepareModel(model, plan);
  const params = siteParams(plan, ranges);
  const sites = plan.activations.filter((s) => !options.skipActivations?.has(s.value));
  const graph = new QdqGraph(prepared.graph);
  const inputParams = new Map<string, AffineParams>(); // node -> params of its quantized input 0
  for (const site of sites) {
    for (const c of site.consumers) if (c.input === 0) inputParams.set(c.node, params.get(site.value)!);
  }
  for (const site of plan.weights) {
    const w = weights.get(site.node);
    if (w) graph.quantizeWeight(site, w, inputParams.get(site.node));
  }
  const roots = new Map(plan.activations.map((s) => [s.value, s]));
  const root = (site: ActivationSite): string => {
    let r = site;
    for (let k = 0; r.sharesParamsWith && k < 64; k++) r = roots.get(r.sharesParamsWith)!;
    return r.value;
  };
  for (const site of sites) graph.quantizeActivation(site, params.get(site.value)!, root(site));
  const wide = plan.weightBits === 4 || sites.some((s) => s.bits === 16);
  const opset = wide ? QDQ_OPSET_WIDE : QDQ_OPSET;
  return {
    ...prepared,
    irVersion: wide ? Math.max(prepared.irVersion, 10) : prepared.irVersion,
    opsetImports: prepared.opsetImports.map((o) =>
      o.domain === '' || o.domain === 'ai.onnx' ? { ...o, version: Math.max(o.version, opset) } : o,
    ),
    graph: graph.finish(),
    metadata: {
      ...prepared.metadata,
      'qdm.scheme': plan.scheme,
      'qdm.bits': `w${plan.weightBits}a${plan.activationBits}`,
    },
  };
}

/** Accumulates the edits: nodes inserted after their producers, inputs rewired, initializers swapped. */
class QdqGraph {
  private readonly graph: OnnxGraph;
  private readonly nodes: OnnxNode[];
  private readonly initializers = new Map<string, OnnxTensor>();
  private readonly added: OnnxTensor[] = [];
  /** Nodes to insert after the node at index i (-1 = before every node). */
  private readonly after = new Map<number, OnnxNode[]>();
  private readonly producerIndex = new Map<string, number>();
  private readonly byName = new Map<string, OnnxNode>();
  private readonly outputs: OnnxGraph['outputs'];
  /** Roots whose scale/zero-point initializers exist. */
  private readonly params = new Set<string>();

  constructor(graph: OnnxGraph) {
    this.graph = graph;
    this.nodes = graph.nodes.map((n) => ({ ...n, inputs: [...n.inputs], outputs: [...n.outputs] }));
    this.nodes.forEach((n, i) => {
      this.byName.set(n.name, n);
      for (const o of n.outputs) this.producerIndex.set(o, i);
    });
    for (const t of graph.initializers) this.initializers.set(t.name, t);
    this.outputs = graph.outputs.map((o) => ({ ...o }));
  }

  quantizeWeight(site: WeightSite, w: QuantizedWeight, input: AffineParams | undefined): void {
    const node = this.node(site.node);
    const int4 = site.bits === 4;
    const out = site.shape[0];
    if (w.q.length !== this.initializers.get(site.weight)?.data.length) {
      throw new Error(`${site.node}: ${w.q.length} integer weights for ${site.weight}`);
    }
    const base = `${site.weight}/qdq`;
    const dtype = int4 ? 'int4' : 'int8';
    this.add({ name: `${base}/q`, dtype, dims: site.shape, data: w.q });
    this.add({ name: `${base}/scale`, dtype: 'float32', dims: [out], data: w.scales });
    // NOTE: zero points are omitted (they default to 0 of the input's type) except a linear weight's: onnxruntime's
    // QGemm fusion needs that one written out. Biases never need theirs.
    const zp = site.kind === 'linear' ? `${base}/zp` : undefined;
    if (zp) this.add({ name: zp, dtype, dims: [out], data: new Int8Array(out) });
    node.inputs[1] = this.dequantize(`${base}/dq`, `${base}/q`, `${base}/scale`, zp);
    if (site.bias && input) {
      const bias = this.initializers.get(site.bias)!.data as Float32Array;
      const scales = new Float32Array(out);
      const q = new Int32Array(out);
      for (let c = 0; c < out; c++) {
        scales[c] = Math.fround(input.scale * w.scales[c]);
        q[c] = Math.max(-2147483648, Math.min(2147483647, roundHalfEven(bias[c] / scales[c])));
      }
      const b = `${site.bias}/qdq`;
      this.add({ name: `${b}/q`, dtype: 'int32', dims: [out], data: q });
      this.add({ name: `${b}/scale`, dtype: 'float32', dims: [out], data: scales });
      node.inputs[2] = this.dequantize(`${b}/dq`, `${b}/q`, `${b}/scale`);
    }
  }

  /**
   * Q -> DQ after the site's value. Sites that share parameters read the root site's scale and zero point
   * initializers, so identical quantizers of identical values are identical nodes (onnxruntime merges them).
   */
  quantizeActivation(site: ActivationSite, p: AffineParams, root: string): void {
    const { q, dq, float } = qdqNames(site.value);
    const { scale, zeroPoint } = qdqNames(root);
    const wide = site.bits === 16;
    if (!this.params.has(root)) {
      this.params.add(root);
      this.add({ name: scale, dtype: 'float32', dims: [], data: Float32Array.of(p.scale) });
      this.add({
        name: zeroPoint,
        dtype: wide ? 'int16' : 'uint8',
        dims: [],
        data: wide ? Int16Array.of(p.zeroPoint - 32768) : Uint8Array.of(p.zeroPoint),
      });
    }
    let source = site.value;
    if (site.graphOutput) {
      // The graph output keeps its name and becomes the dequantized value; the float result is renamed.
      source = float;
      this.renameProducerOutput(site.value, source, site.consumers);
    }
    const inserted = this.insertion(this.producerIndex.get(source) ?? -1);
    inserted.push({
      name: '',
      opType: 'QuantizeLinear',
      inputs: [source, scale, zeroPoint],
      outputs: [q],
      attributes: {},
    });
    // One DequantizeLinear shared by every reader: onnxruntime duplicates it per QDQ node unit itself
    // (EnsureUniqueDQForNodeUnit), and readers that stay float need no copies.
    inserted.push(dqNode([q, scale, zeroPoint], dq));
    for (const c of site.consumers) this.node(c.node).inputs[c.input] = dq;
    if (site.graphOutput) inserted.push(dqNode([q, scale, zeroPoint], site.value));
  }

  finish(): OnnxGraph {
    const nodes: OnnxNode[] = [...(this.after.get(-1) ?? [])];
    for (const [i, n] of this.nodes.entries()) nodes.push(n, ...(this.after.get(i) ?? []));
    const used = new Set(nodes.flatMap((n) => n.inputs));
    for (const o of this.outputs) used.add(o.name);
    const initializers = [...this.initializers.values(), ...this.added].filter((t) => used.has(t.name));
    return { ...this.graph, nodes, initializers, outputs: this.outputs };
  }

  private node(name: string): OnnxNode {
    const node = this.byName.get(name);
    if (!node) throw new Error(`plan names node ${name}, which the graph does not have`);
    return node;
  }

  private add(tensor: OnnxTensor): void {
    this.added.push(tensor);
  }

  private insertion(at: number): OnnxNode[] {
    let list = this.after.get(at);
    if (!list) {
      list = [];
      this.after.set(at, list);
    }
    return list;
  }

  /** A per-channel (axis 0) DequantizeLinear of initializers, placed before every node; returns its output. */
  private dequantize(name: string, q: string, scale: string, zeroPoint?: string): string {
    this.insertion(-1).push(dqNode(zeroPoint ? [q, scale, zeroPoint] : [q, scale], name, 0));
    return name;
  }

  /** Points the producer at `renamed`; readers outside the site keep reading the float value under its new name. */
  private renameProducerOutput(value: string, renamed: string, quantizedReaders: ActivationSite['consumers']): void {
    const at = this.producerIndex.get(value);
    if (at === undefined) throw new Error(`graph output ${value} has no producer`);
    const producer = this.nodes[at];
    producer.outputs = producer.outputs.map((o) => (o === value ? renamed : o));
    this.producerIndex.set(renamed, at);
    const quantized = new Set(quantizedReaders.map((c) => `${c.node}#${c.input}`));
    for (const n of this.nodes) {
      n.inputs = n.inputs.map((v, i) => (v === value && !quantized.has(`${n.name}#${i}`) ? renamed : v));
    }
  }
}

/**
 * Names of a site's QDQ values (nodes are named like the value they write): `<value>/qdq/q` (integers),
 * `/qdq/dq` (what readers see), `/qdq/scale`, `/qdq/zp`; a quantized graph output's float result is `/qdq/float`.
 */
export function qdqNames(value: string) {
  const base = `${value}/qdq`;
  return { q: `${base}/q`, dq: `${base}/dq`, scale: `${base}/scale`, zeroPoint: `${base}/zp`, float: `${base}/float` };
}

/**
 * Inserted Q/DQ nodes carry no name: their output value names them, and the names would add measurably to an
 * int8 file (three strings per quantizer instead of two).
 */
function dqNode(inputs: string[], output: string, axis?: number): OnnxNode {
  return {
    name: '',
    opType: 'DequantizeLinear',
    inputs,
    outputs: [output],
    attributes: axis === undefined ? {} : { axis: attr.int(axis) },
  };
}
