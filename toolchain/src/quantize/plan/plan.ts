/**
 * The quantization plan: which weights and which activations of an fp32 U-Net graph get quantizers, under one of
 * three published schemes (docs/method.md#quantizer-placement), and what stays float and why.
 *
 * - ptq4dm: every Conv/Gemm weight (per output channel) and the activation after each.
 * - qdiff:  every Conv/Gemm weight and input, attention q, k, v and the softmax output, and shortcut splitting of
 *           the 1x1 skip conv after each decoder concat (one conv per concatenated part, own quantizers).
 * - full:   the whole U-Net on integers wherever onnxruntime has an integer kernel: Conv/Gemm inputs and
 *           outputs, the time-embedding scale and shift halves separately, attention matmul operands and the
 *           softmax output, residual sums, up/down-sampling and the skip paths. GroupNorm (statistics, affine and
 *           its SiLU), the timestep sinusoids, the attention logits and softmax arithmetic stay float.
 *
 * Sites name values of the graph after the plan's rewrites (shortcut splitting, and for qdiff/full the attention
 * output computed as (w v^T)^T, see attention-layout.ts): `prepareModel(model, plan)` in export.ts applies them,
 * and that is the graph the observers and the exporter work on.
 */
import { CLIError } from '../../errors.ts';
import type { OnnxGraph, OnnxNode } from '../../onnx/ir.ts';
import { type GraphIndex, indexGraph } from '../graph-index.ts';
import type { LayerInput } from '../reconstruct/moments.ts';
import { findAttentionReorders, findQkvSplits, reorderAttention, splitQkv } from './attention-layout.ts';
import { findEmbSplits, splitEmb } from './emb-layout.ts';
import { keptFloatNodes } from './kept-float.ts';
import type { PlanOptions, QuantPlan, Scheme, WeightSite } from './plan-types.ts';
import { fullSites, ptq4dmSites, qdiffSites } from './scheme-sites.ts';
import { findShortcutSplits, type ShortcutSplit, splitGraph } from './shortcut-split.ts';
import { SiteSet } from './site-set.ts';

export type {
  ActivationRole,
  ActivationSite,
  KeptFloat,
  PlanOptions,
  QuantPlan,
  Scheme,
  WeightSite,
} from './plan-types.ts';

export const SCHEMES: readonly Scheme[] = ['ptq4dm', 'qdiff', 'full'];

export class PlanError extends CLIError {
  constructor(message: string) {
    super(message);
    this.name = 'PlanError';
  }
}

export function planQuantization(graph: OnnxGraph, options: PlanOptions): QuantPlan {
  const splits = options.scheme === 'ptq4dm' ? [] : findShortcutSplits(indexGraph(graph));
  const split = splitGraph(graph, splits);
  const qkvSplits = options.scheme === 'full' ? findQkvSplits(indexGraph(split)) : [];
  const qkvSeparated = splitQkv(split, qkvSplits);
  const embSplits = options.scheme === 'full' ? findEmbSplits(indexGraph(qkvSeparated)) : [];
  const separated = splitEmb(qkvSeparated, embSplits);
  const attentionReorders = options.scheme === 'ptq4dm' ? [] : findAttentionReorders(indexGraph(separated));
  const prepared = reorderAttention(separated, attentionReorders);
  const index = indexGraph(prepared);
  const imageEnds = options.imageEnds ?? (options.scheme === 'full' ? 'float' : 'quantized');
  const ends = imageEnds === 'float' ? imageEndLayers(index) : [];
  const keep = checkKeepFloat(graph, prepared, [...(options.keepFloat ?? []), ...ends]);
  const weights = weightSites(index, splits, options.weightBits, keep, new Set(options.w8Layers ?? []));
  const sites = new SiteSet(index, options, keep);
  const weighted = new Set(weights.map((w) => w.node));
  if (options.scheme === 'ptq4dm') ptq4dmSites(sites, weights);
  else if (options.scheme === 'qdiff') qdiffSites(sites, index, weights);
  else fullSites(sites, index, weights, keep, qkvSplits, embSplits);
  const activations = sites.finish();
  const keptFloat = keptFloatNodes(index, weighted, activations, keep, new Set(ends));
  return {
    scheme: options.scheme,
    weightBits: options.weightBits,
    activationBits: options.activationBits,
    softmaxBits: options.softmaxBits ?? options.activationBits,
    imageEnds,
    splits,
    qkvSplits,
    embSplits,
    attentionReorders,
    weights,
    activations,
    keptFloat,
  };
}

/** Convs that read a graph input or write a graph output. */
export function imageEndLayers(index: GraphIndex): string[] {
  const inputs = new Set(index.graph.inputs.map((i) => i.name));
  return index.graph.nodes
    .filter((n) => n.opType === 'Conv' && (inputs.has(n.inputs[0]) || n.outputs.some((o) => index.isGraphOutput(o))))
    .map((n) => n.name);
}

/** keep-float names must name nodes; a split conv's name also covers its parts. */
function checkKeepFloat(graph: OnnxGraph, prepared: OnnxGraph, names: string[]): Set<string> {
  const known = new Set([...graph.nodes, ...prepared.nodes].map((n) => n.name));
  const unknown = names.filter((n) => !known.has(n));
  if (unknown.length > 0) throw new PlanError(`--keep-float: no node named ${unknown.join(', ')}`);
  const keep = new Set(names);
  for (const node of prepared.nodes) {
    const slash = node.name.indexOf('/');
    if (slash > 0 && keep.has(node.name.slice(0, slash)) && node.opType === 'Conv') keep.add(node.name);
  }
  return keep;
}

function ints(node: OnnxNode, name: string, fallback: number[]): number[] {
  const a = node.attributes[name];
  return a?.type === 'ints' ? a.value : fallback;
}

function weightSites(
  index: GraphIndex,
  splits: ShortcutSplit[],
  bits: 4 | 8,
  keep: Set<string>,
  w8: Set<string>,
): WeightSite[] {
  const parts = new Map(splits.flatMap((s) => s.parts.map((p) => [p.node, { conv: s.conv, channels: p.channels }])));
  const sites: WeightSite[] = [];
  for (const node of index.graph.nodes) {
    if (node.opType !== 'Conv' && node.opType !== 'Gemm') continue;
    const w = index.initializer(node.inputs[1]);
    if (!w || keep.has(node.name)) continue;
    const bias = node.inputs[2] && index.initializer(node.inputs[2]) ? node.inputs[2] : undefined;
    const site: WeightSite = {
      node: node.name,
      kind: node.opType === 'Conv' ? 'conv' : 'linear',
      weight: w.name,
      bias,
      shape: w.dims,
      bits: w8.has(node.name) ? 8 : bits,
      inputValue: node.inputs[0],
      outputValue: node.outputs[0],
      input: node.opType === 'Conv' ? convInput(node, w.dims) : gemmInput(node, w.dims),
    };
    const part = parts.get(node.name);
    if (part) site.splitOf = part;
    sites.push(site);
  }
  return sites;
}

function gemmInput(node: OnnxNode, dims: number[]): LayerInput {
  const transB = node.attributes.transB;
  if (transB?.type !== 'int' || transB.value !== 1 || node.attributes.transA) {
    throw new PlanError(`${node.name}: only Gemm with transB = 1 (nn.Linear) is supported`);
  }
  return { kind: 'linear', features: dims[1] };
}

function convInput(node: OnnxNode, dims: number[]): LayerInput {
  const group = node.attributes.group;
  if (group && (group.type !== 'int' || group.value !== 1)) throw new PlanError(`${node.name}: grouped conv`);
  if (ints(node, 'dilations', []).some((d) => d !== 1)) throw new PlanError(`${node.name}: dilated conv`);
  const kernel = dims.slice(2);
  const rank = kernel.length;
  const strides = ints(node, 'strides', new Array(rank).fill(1));
  const pads = ints(node, 'pads', new Array(2 * rank).fill(0));
  if (pads.some((p, i) => i < rank && p !== pads[i + rank])) throw new PlanError(`${node.name}: asymmetric pads`);
  const two = (v: number[], first: number): [number, number] => (rank === 1 ? [first, v[0]] : [v[0], v[1]]);
  return {
    kind: 'conv',
    channels: dims[1],
    conv: { kernel: two(kernel, 1), stride: two(strides, 1), padding: two(pads, 0) },
  };
}
