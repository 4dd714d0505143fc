/**
 * The plan's "left float" list: every arithmetic node that will not run on integers, with the reason, one entry
 * per module (the node name up to the first '/') and reason.
 */
import type { OnnxNode } from '../../onnx/ir.ts';
import type { GraphIndex } from '../graph-index.ts';
import type { ActivationSite, KeptFloat } from './plan-types.ts';

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
export function keptFloatNodes(
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
