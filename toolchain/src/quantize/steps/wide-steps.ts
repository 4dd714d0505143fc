/**
 * Wide steps: the first and last steps of a trajectory run the quantized U-Net with float activations, the same
 * integer weights; every other step keeps the 8-bit graph and its integer kernels.
 *
 * Why: on mnist32 the same-seed PSNR is set by the first, noisiest steps and the minimum epsilon SQNR by the last
 * (plain W8A8's lowest SQNR is at t near 0), and a step with float activations costs about twice an 8-bit one, so
 * a few of fifty buy most of the fidelity float activations would give, for a small share of the time
 * (docs/results.md#fidelity-mnist32-wide-nofid, #fidelity-mnist32-shipped). At CIFAR-10 size a wide step costs
 * more against an 8-bit one, most on onnxruntime-node (docs/results.md#wide-steps-cost).
 *
 * How it ships: one ONNX graph. An `If` on the t input picks the branch: wide when max(t) is above the first
 * steps' threshold or min(t) below the last steps'. Both branches read the same outer-scope initializers, so the
 * weights are stored once, one session serves every step (a 128 MB Worker holds one CIFAR-10 session, not two),
 * and every caller that feeds (x, t) samples the shipped model unchanged: `toolchain sample`, the edge, the
 * browser. The thresholds are model times (the t the U-Net is fed), midway between the calibration respacing's
 * steps, so other respacings get the steps at the same noise levels. A batch that mixes steps takes the wide
 * branch when any of its t does (more exact, never less).
 */
import type { SpacedDiffusion } from '@qdm/shared';
import { CLIError } from '../../errors.ts';
import type { OnnxGraph, OnnxModel, OnnxNode } from '../../onnx/ir.ts';

export interface WideSteps {
  /** The noisiest steps of the calibration respacing that run wide. */
  first: number;
  /** The last steps (t nearest 0) that run wide. */
  last: number;
}

/** What the manifest records: which steps, and the model-time thresholds the graph compares t with. */
export interface WideStepsRecord extends WideSteps {
  /** The respacing the counts refer to (the calibration's). */
  respacing: string;
  /** Wide when max(t) > tAbove (null: no first steps). */
  tAbove: number | null;
  /** Wide when min(t) < tBelow (null: no last steps). */
  tBelow: number | null;
  activations: 'float';
}

/** A --wide-steps value the calibration respacing cannot take: a command-line mistake (exit 2). */
export class WideStepsError extends CLIError {
  override name = 'WideStepsError';
  constructor(message: string) {
    super(message, 2);
  }
}

/**
 * build-artifact's default for W8A8: the first 1 and last 4 of ddim50. It met the fidelity targets on mnist32 with
 * the most margin under the 10% step-time limit; first 2 + last 4 was a little better and a little slower, near
 * that limit (docs/results.md#fidelity-mnist32-shipped).
 */
export const DEFAULT_WIDE_STEPS: WideSteps = { first: 1, last: 4 };

/** Parses `--wide-steps`: "F,L" (first, last), or "off" / "0" for none. */
export function parseWideSteps(value: string): WideSteps {
  if (value === 'off' || value === '0' || value === 'none') return { first: 0, last: 0 };
  const m = /^(\d+),(\d+)$/.exec(value.trim());
  if (!m) throw new WideStepsError(`--wide-steps: expected FIRST,LAST (e.g. 1,4) or off, got "${value}"`);
  return { first: Number(m[1]), last: Number(m[2]) };
}

/** Model-time thresholds for `wide` on `diffusion`'s respacing (index numSteps - 1 = noisiest). */
export function wideStepThresholds(diffusion: SpacedDiffusion, wide: WideSteps, respacing: string): WideStepsRecord {
  const n = diffusion.numSteps;
  if (wide.first + wide.last >= n) {
    throw new WideStepsError(
      `--wide-steps ${wide.first},${wide.last}: leaves no 8-bit step of the ${n} in --calib-steps ${respacing}`,
    );
  }
  const t = (i: number) => diffusion.modelTime(i);
  return {
    ...wide,
    respacing,
    tAbove: wide.first > 0 ? (t(n - wide.first) + t(n - wide.first - 1)) / 2 : null,
    tBelow: wide.last > 0 ? (t(wide.last - 1) + t(wide.last)) / 2 : null,
    activations: 'float',
  };
}

/** Whether a step fed model time `t` runs the wide branch (the graph's own test, for one t). */
export function isWideStep(record: Pick<WideStepsRecord, 'tAbove' | 'tBelow'>, t: number): boolean {
  return (record.tAbove !== null && t > record.tAbove) || (record.tBelow !== null && t < record.tBelow);
}

/**
 * The graph with every activation QuantizeLinear -> DequantizeLinear pair removed (its consumers read the float
 * value): float activations, the same integer weights and their DequantizeLinear. Weight and bias DQs read
 * initializers and stay.
 */
export function floatActivationGraph(graph: OnnxGraph): OnnxGraph {
  const initializers = new Set(graph.initializers.map((i) => i.name));
  const producer = new Map<string, OnnxNode>();
  for (const node of graph.nodes) for (const output of node.outputs) producer.set(output, node);
  const replaced = new Map<string, string>();
  const dropped = new Set<OnnxNode>();
  for (const node of graph.nodes) {
    if (node.opType !== 'DequantizeLinear' || initializers.has(node.inputs[0])) continue;
    const quantize = producer.get(node.inputs[0]);
    if (quantize?.opType !== 'QuantizeLinear' || initializers.has(quantize.inputs[0])) continue;
    replaced.set(node.outputs[0], quantize.inputs[0]);
    dropped.add(node);
  }
  const read = (v: string) => replaced.get(v) ?? v;
  const kept = graph.nodes.filter((n) => !dropped.has(n)).map((n) => ({ ...n, inputs: n.inputs.map(read) }));
  // A QuantizeLinear whose every reader was a dropped DequantizeLinear goes too.
  const used = new Set(kept.flatMap((n) => n.inputs));
  for (const o of graph.outputs) used.add(read(o.name));
  const nodes = kept.filter((n) => n.opType !== 'QuantizeLinear' || n.outputs.some((o) => used.has(o)));
  return { ...graph, nodes, outputs: graph.outputs.map((o) => ({ ...o, name: read(o.name) })), valueInfo: [] };
}

/**
 * `model` with its steps in `record` running `floatActivationGraph(model)`: see the file comment. The branches'
 * own values are prefixed (`quantized/`, `wide/`) so neither shadows the other or the outer graph.
 */
export function withWideSteps(model: OnnxModel, record: WideStepsRecord): OnnxModel {
  const g = model.graph;
  const outer = new Set([...g.initializers.map((i) => i.name), ...g.inputs.map((i) => i.name)]);
  const branch = (graph: OnnxGraph, prefix: string): OnnxGraph => {
    const name = (v: string) => (v === '' || outer.has(v) ? v : `${prefix}${v}`);
    return {
      name: `${prefix}branch`,
      nodes: graph.nodes.map((n) => ({ ...n, inputs: n.inputs.map(name), outputs: n.outputs.map(name) })),
      initializers: [],
      inputs: [],
      outputs: graph.outputs.map((o) => ({ ...o, name: name(o.name) })),
      valueInfo: [],
    };
  };
  const t = g.inputs[1]?.name;
  if (!t || g.inputs.length !== 2) throw new WideStepsError('wide steps: the model must have inputs (x, t)');
  const scalar = (name: string, value: number) => ({
    name,
    dtype: 'float32' as const,
    dims: [],
    data: new Float32Array([value]),
  });
  const conditions: OnnxNode[] = [];
  const constants = [];
  const tests: string[] = [];
  for (const [side, reduce, compare, value] of [
    ['above', 'ReduceMax', 'Greater', record.tAbove],
    ['below', 'ReduceMin', 'Less', record.tBelow],
  ] as const) {
    if (value === null) continue;
    const at = `wide_steps/${side}`;
    constants.push(scalar(`${at}/t`, value));
    conditions.push(
      {
        name: `${at}/${reduce}`,
        opType: reduce,
        inputs: [t],
        outputs: [`${at}/t_extreme`],
        attributes: { keepdims: { type: 'int', value: 0 } },
      },
      {
        name: `${at}/${compare}`,
        opType: compare,
        inputs: [`${at}/t_extreme`, `${at}/t`],
        outputs: [`${at}/wide`],
        attributes: {},
      },
    );
    tests.push(`${at}/wide`);
  }
  if (tests.length === 0) return model;
  let wide = tests[0];
  if (tests.length === 2) {
    conditions.push({
      name: 'wide_steps/Or',
      opType: 'Or',
      inputs: tests,
      outputs: ['wide_steps/wide'],
      attributes: {},
    });
    wide = 'wide_steps/wide';
  }
  const choose: OnnxNode = {
    name: 'wide_steps/If',
    opType: 'If',
    inputs: [wide],
    outputs: g.outputs.map((o) => o.name),
    attributes: {
      then_branch: { type: 'graph', value: branch(floatActivationGraph(g), 'wide/') },
      else_branch: { type: 'graph', value: branch(g, 'quantized/') },
    },
  };
  return {
    ...model,
    graph: {
      ...g,
      nodes: [...conditions, choose],
      initializers: [...g.initializers, ...constants],
      valueInfo: [],
    },
  };
}

/** The 8-bit graph inside `model` (its If's else branch, names restored): every step on the integer kernels. */
export function withoutWideSteps(model: OnnxModel): OnnxModel {
  const choose = model.graph.nodes.find((n) => n.name === 'wide_steps/If');
  const branch = choose?.attributes.else_branch;
  if (!choose || branch?.type !== 'graph') return model;
  const prefix = 'quantized/';
  const name = (v: string) => (v.startsWith(prefix) ? v.slice(prefix.length) : v);
  const g = branch.value;
  return {
    ...model,
    graph: {
      ...model.graph,
      nodes: g.nodes.map((n) => ({ ...n, inputs: n.inputs.map(name), outputs: n.outputs.map(name) })),
      initializers: model.graph.initializers.filter((i) => !i.name.startsWith('wide_steps/')),
      valueInfo: [],
    },
  };
}
