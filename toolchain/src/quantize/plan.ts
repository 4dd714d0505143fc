/**
 * The quantization plan: which weights and which activations of an fp32 U-Net graph get quantizers, under one of
 * three published schemes (METHOD.md section 4), and what stays float and why.
 *
 * - ptq4dm: every Conv/Gemm weight (per output channel) and the activation after each.
 * - qdiff:  every Conv/Gemm weight and input, attention q, k, v and the softmax output, and shortcut splitting of
 *           the 1x1 skip conv after each decoder concat (one conv per concatenated part, own quantizers).
 * - full:   the whole U-Net on integers wherever onnxruntime has an integer kernel: Conv/Gemm inputs and
 *           outputs, the time-embedding scale and shift halves separately, attention matmul operands and the
 *           softmax output, residual sums, up/down-sampling and the skip paths. GroupNorm (statistics, affine and
 *           its SiLU), the timestep sinusoids, the attention logits and softmax arithmetic stay float.
 *
 * Sites name values of the graph AFTER shortcut splitting (`splitGraph(graph, plan.splits)`), which is the graph
 * the observers and the exporter work on.
 */
import type { OnnxGraph, OnnxNode } from '../onnx/ir.ts';
import { type GraphIndex, indexGraph, type ValueUse, valueKeys } from './graph-index.ts';
import type { LayerInput } from './moments.ts';
import { findShortcutSplits, type ShortcutSplit, splitGraph } from './shortcut-split.ts';

export type Scheme = 'ptq4dm' | 'qdiff' | 'full';
export const SCHEMES: readonly Scheme[] = ['ptq4dm', 'qdiff', 'full'];

export interface PlanOptions {
  scheme: Scheme;
  weightBits: 4 | 8;
  activationBits: 8 | 16;
  /** Bits of the softmax output quantizer; default activationBits. */
  softmaxBits?: 8 | 16;
  /** Node names (module paths) to leave float, with their input and output quantizers. */
  keepFloat?: string[];
  /**
   * The image-space ends: the conv reading the model input x_t and the conv writing the model output.
   * 'float' keeps both float (their weights, the x_t input and the output), 'quantized' treats them like every
   * other layer. Default: 'float' for full, 'quantized' for ptq4dm and qdiff (as published).
   * NOTE: measured on mnist32 (full W8A8, DDIM 50, 64 seeds): all-integer 33.6 dB same-seed PSNR, float ends
   * 40.3 dB. At small t the noise in x_t is below one uint8 step of x_t's range, and an 8-bit epsilon output
   * perturbs every DDIM step; the two convs hold ~1% of the MACs and run as fast in float as in int8.
   */
  imageEnds?: 'float' | 'quantized';
}

export interface WeightSite {
  /** The Conv/Gemm node (a shortcut part such as `output_blocks.0.0.skip_connection/h` after splitting). */
  node: string;
  kind: 'conv' | 'linear';
  /** Float weight initializer, [out, in, ...kernel] (Gemm: [out, in], transB = 1). */
  weight: string;
  bias?: string;
  shape: number[];
  bits: 4 | 8;
  /** The value the node reads and its geometry (for second moments). */
  inputValue: string;
  outputValue: string;
  input: LayerInput;
  /** Set for the parts of a split shortcut conv. */
  splitOf?: { conv: string; channels: [number, number] };
}

export type ActivationRole =
  | 'conv-input'
  | 'linear-input'
  | 'conv-output'
  | 'linear-output'
  | 'attention-q'
  | 'attention-k'
  | 'attention-v'
  | 'softmax'
  | 'attention-output'
  | 'emb-scale'
  | 'emb-shift'
  | 'residual'
  | 'pass-through';

export interface ActivationSite {
  value: string;
  role: ActivationRole;
  /** The readings that see the quantized value; other readers keep the float value. */
  consumers: ValueUse[];
  /** The value is a graph output: the output itself is the dequantized value. */
  graphOutput: boolean;
  bits: 8 | 16;
  /** Always unsigned per tensor (uint8/uint16 with a zero point). */
  unsigned: true;
  /**
   * Parameters taken from another site instead of observed: the value comes out of a value-preserving op
   * (Reshape, nearest Resize, Split) of that site's value, so onnxruntime can run the op on integers.
   */
  sharesParamsWith?: string;
}

export interface KeptFloat {
  name: string;
  op: string;
  reason: string;
}

export interface QuantPlan {
  scheme: Scheme;
  weightBits: 4 | 8;
  activationBits: 8 | 16;
  softmaxBits: 8 | 16;
  splits: ShortcutSplit[];
  weights: WeightSite[];
  activations: ActivationSite[];
  keptFloat: KeptFloat[];
}

export class PlanError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PlanError';
  }
}

export function planQuantization(graph: OnnxGraph, options: PlanOptions): QuantPlan {
  const splits = options.scheme === 'ptq4dm' ? [] : findShortcutSplits(indexGraph(graph));
  const split = splitGraph(graph, splits);
  const index = indexGraph(split);
  const imageEnds = options.imageEnds ?? (options.scheme === 'full' ? 'float' : 'quantized');
  const ends = imageEnds === 'float' ? imageEndLayers(index) : [];
  const keep = checkKeepFloat(graph, split, [...(options.keepFloat ?? []), ...ends]);
  const weights = weightSites(index, splits, options.weightBits, keep);
  const sites = new SiteSet(index, options, keep);
  const weighted = new Set(weights.map((w) => w.node));
  if (options.scheme === 'ptq4dm') ptq4dmSites(sites, weights);
  else if (options.scheme === 'qdiff') qdiffSites(sites, index, weights);
  else fullSites(sites, index, weights, keep);
  const activations = sites.finish();
  const keptFloat = keptFloatNodes(index, weighted, activations, keep, new Set(ends));
  return {
    scheme: options.scheme,
    weightBits: options.weightBits,
    activationBits: options.activationBits,
    softmaxBits: options.softmaxBits ?? options.activationBits,
    splits,
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
function checkKeepFloat(graph: OnnxGraph, split: OnnxGraph, names: string[]): Set<string> {
  const known = new Set([...graph.nodes, ...split.nodes].map((n) => n.name));
  const unknown = names.filter((n) => !known.has(n));
  if (unknown.length > 0) throw new PlanError(`--keep-float: no node named ${unknown.join(', ')}`);
  const keep = new Set(names);
  for (const node of split.nodes) {
    const slash = node.name.indexOf('/');
    if (slash > 0 && keep.has(node.name.slice(0, slash)) && node.opType === 'Conv') keep.add(node.name);
  }
  return keep;
}

function ints(node: OnnxNode, name: string, fallback: number[]): number[] {
  const a = node.attributes[name];
  return a?.type === 'ints' ? a.value : fallback;
}

function weightSites(index: GraphIndex, splits: ShortcutSplit[], bits: 4 | 8, keep: Set<string>): WeightSite[] {
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
      bits,
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

/**
 * Sites keyed by value, merging consumers when several rules quantize the same value. Keep-float nodes neither
 * read quantized values nor get their outputs quantized, unless a rule forces it (in `full`, the output of a kept
 * conv that integer kernels read).
 */
class SiteSet {
  readonly index: GraphIndex;
  readonly options: PlanOptions;
  readonly keep: Set<string>;
  readonly sites = new Map<string, ActivationSite>();

  constructor(index: GraphIndex, options: PlanOptions, keep: Set<string>) {
    this.index = index;
    this.options = options;
    this.keep = keep;
  }

  has(value: string): boolean {
    return this.sites.has(value);
  }

  /** Quantize `value` for the given readers (default: every reader, and the graph output if it is one). */
  add(value: string, role: ActivationRole, consumers?: ValueUse[], sharesParamsWith?: string, force = false): void {
    const all = consumers === undefined;
    const producer = this.index.producer(value);
    if (!force && producer && this.keep.has(producer.name)) return;
    const uses = (consumers ?? this.index.uses(value)).filter((u) => !this.keep.has(u.node));
    const existing = this.sites.get(value);
    if (existing) {
      if (roleRank(role) > roleRank(existing.role)) existing.role = role;
      if (sharesParamsWith) existing.sharesParamsWith ??= sharesParamsWith;
      for (const u of uses) {
        if (!existing.consumers.some((c) => c.node === u.node && c.input === u.input)) existing.consumers.push(u);
      }
      existing.graphOutput ||= all && this.index.isGraphOutput(value);
      return;
    }
    const bits =
      role === 'softmax' ? (this.options.softmaxBits ?? this.options.activationBits) : this.options.activationBits;
    const site: ActivationSite = {
      value,
      role,
      consumers: [...uses],
      graphOutput: all && this.index.isGraphOutput(value),
      bits,
      unsigned: true,
    };
    if (sharesParamsWith) site.sharesParamsWith = sharesParamsWith;
    this.sites.set(value, site);
  }

  /** Sites that some reader still sees, sorted in graph order. */
  finish(): ActivationSite[] {
    const order = new Map<string, number>();
    for (const [k, i] of this.index.graph.inputs.entries()) order.set(i.name, -1 - k);
    this.index.graph.nodes.forEach((n, k) => {
      for (const o of n.outputs) order.set(o, k);
    });
    const out: ActivationSite[] = [];
    for (const site of this.sites.values()) {
      if (site.consumers.length === 0 && !site.graphOutput) continue;
      out.push(site);
    }
    const kept = new Set(out.map((s) => s.value));
    for (const s of out) if (s.sharesParamsWith && !kept.has(s.sharesParamsWith)) delete s.sharesParamsWith;
    // Equal tensors get one set of parameters (so onnxruntime can also merge their identical quantizers).
    const key = valueKeys(this.index);
    const first = new Map<number, string>();
    for (const s of out) {
      const k = key(s.value);
      const f = first.get(k);
      if (f === undefined) first.set(k, s.value);
      else if (!s.sharesParamsWith && s.bits === out.find((o) => o.value === f)!.bits) s.sharesParamsWith = f;
    }
    return out.sort((a, b) => (order.get(a.value) ?? 0) - (order.get(b.value) ?? 0));
  }
}

/** When rules meet on one value, the role that says what produced it wins over "some conv reads it". */
function roleRank(role: ActivationRole): number {
  return role === 'conv-input' || role === 'linear-input'
    ? 0
    : role === 'conv-output' || role === 'linear-output'
      ? 1
      : 2;
}

function outputRole(site: WeightSite): ActivationRole {
  return site.kind === 'conv' ? 'conv-output' : 'linear-output';
}

function inputRole(site: WeightSite): ActivationRole {
  return site.kind === 'conv' ? 'conv-input' : 'linear-input';
}

function ptq4dmSites(sites: SiteSet, weights: WeightSite[]): void {
  for (const w of weights) sites.add(w.outputValue, outputRole(w));
}

/** Split nodes with three outputs: the attention q, k, v (QKVAttention's per-head split). */
function attentionSplits(index: GraphIndex): OnnxNode[] {
  return index.graph.nodes.filter((n) => n.opType === 'Split' && n.outputs.length === 3);
}

function qdiffSites(sites: SiteSet, index: GraphIndex, weights: WeightSite[]): void {
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

function fullSites(sites: SiteSet, index: GraphIndex, weights: WeightSite[], keep: Set<string>): void {
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
  for (const split of attentionSplits(index)) {
    const [q, k, v] = split.outputs;
    sites.add(matmulOperand(index, q) ?? q, 'attention-q');
    sites.add(matmulOperand(index, k) ?? k, 'attention-k');
    sites.add(v, 'attention-v');
  }
  for (const node of index.graph.nodes) {
    if (node.opType === 'Softmax') sites.add(node.outputs[0], 'softmax');
    if (node.opType === 'MatMul' && node.inputs.every((i) => isMatMulFedByQuantized(sites, index, i))) {
      // The attention output (v w^T): quantized so proj_out reads integers through the head merge.
      if (index.producer(node.inputs[1])?.opType === 'Transpose') sites.add(node.outputs[0], 'attention-output');
    }
  }
  // Residual sums of quantized values and value-preserving ops of quantized values, to a fixed point.
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

function isMatMulFedByQuantized(sites: SiteSet, index: GraphIndex, value: string): boolean {
  if (sites.has(value)) return true;
  const p = index.producer(value);
  return p !== undefined && VALUE_PRESERVING.has(p.opType) && sites.has(p.inputs[0]);
}

/** Ops that move data without arithmetic: never reported as kept float. */
const DATA_MOVEMENT = new Set(['Reshape', 'Transpose', 'Unsqueeze', 'Squeeze', 'Slice', 'Split', 'Resize']);

/** `input_blocks.1.0.in_layers.0/mul` -> `input_blocks.1.0.in_layers.0`. */
function moduleOf(node: string): string {
  const slash = node.indexOf('/');
  return slash > 0 ? node.slice(0, slash) : node;
}

/** What kind of module each helper node belongs to, from the ops the module contains. */
function moduleKinds(index: GraphIndex): Map<string, string> {
  const kinds = new Map<string, string>();
  for (const node of index.graph.nodes) {
    const m = moduleOf(node.name);
    if (node.opType === 'InstanceNormalization') kinds.set(m, 'groupnorm');
    else if (node.opType === 'Cos' || node.opType === 'Sin') kinds.set(m, 'sinusoid');
    else if (node.opType === 'Sigmoid' && !kinds.has(m)) kinds.set(m, 'silu');
  }
  return kinds;
}

const MODULE_REASONS: Record<string, string> = {
  groupnorm: 'GroupNorm statistics and affine in float (no integer GroupNorm kernel in onnxruntime)',
  sinusoid: 'timestep sinusoids in float (quantized at the time_embed input)',
  silu: 'SiLU in float (its result is quantized where a conv/linear reads it)',
};

/**
 * Every arithmetic node that will not run on integers under the plan, with the reason, one entry per module and
 * reason (module = node name up to the first '/').
 */
function keptFloatNodes(
  index: GraphIndex,
  weighted: Set<string>,
  sites: ActivationSite[],
  keep: Set<string>,
  ends: Set<string>,
): KeptFloat[] {
  const reads = new Set(sites.flatMap((s) => s.consumers.map((c) => `${c.node}#${c.input}`)));
  const written = new Set(sites.filter((s) => s.consumers.length === index.uses(s.value).length).map((s) => s.value));
  const kinds = moduleKinds(index);
  const seen = new Set<string>();
  const out: KeptFloat[] = [];
  for (const node of index.graph.nodes) {
    if (DATA_MOVEMENT.has(node.opType)) continue;
    const dynamic = node.inputs.map((v, i) => ({ v, i })).filter(({ v }) => v && !index.initializer(v));
    const io = {
      inputs: dynamic.every(({ i }) => reads.has(`${node.name}#${i}`)),
      output: written.has(node.outputs[0]),
    };
    const reason = ends.has(node.name)
      ? 'image-space end (reads x_t or writes the model output): kept float for precision'
      : keep.has(node.name)
        ? 'kept float by --keep-float'
        : floatReason(node, io, weighted.has(node.name), kinds.get(moduleOf(node.name)));
    if (!reason) continue;
    const name = moduleOf(node.name);
    if (seen.has(`${name}|${reason}`)) continue;
    seen.add(`${name}|${reason}`);
    out.push({ name, op: node.opType, reason });
  }
  return out;
}

function floatReason(
  node: OnnxNode,
  io: { inputs: boolean; output: boolean },
  weighted: boolean,
  kind: string | undefined,
): string | undefined {
  switch (node.opType) {
    case 'Conv':
    case 'Gemm':
      if (!weighted) return 'weight left float';
      if (!io.inputs) return 'input not quantized by this scheme (float kernel on dequantized weights)';
      if (node.opType === 'Conv' && !io.output) return 'output not quantized by this scheme (no QLinearConv)';
      return undefined;
    case 'MatMul':
      return io.inputs ? undefined : 'attention matmul operands not quantized by this scheme';
    case 'Softmax':
      return 'softmax arithmetic in float';
  }
  if (kind) return MODULE_REASONS[kind];
  if (io.inputs && io.output && QLINEAR_OPS.has(node.opType)) return undefined;
  if (/\/(one_plus_scale|scale|shift|add_emb)$/.test(node.name)) {
    return 'time-embedding modulation of the GroupNorm output in float';
  }
  if (/\/(q_scaled|k_scaled)$/.test(node.name)) return 'attention scale multiply in float';
  if (node.opType === 'Concat') return 'concat in float (its parts are quantized separately)';
  return `${node.opType} in float under this scheme`;
}

/** Element-wise ops that onnxruntime fuses into QLinear* kernels when inputs and output are quantized. */
const QLINEAR_OPS = new Set(['Add', 'Mul', 'Sigmoid', 'Concat']);
