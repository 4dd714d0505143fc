/**
 * The order of sequential reconstruction and the pieces of graph it runs.
 *
 * Stages: the weight sites in graph order, grouped by module (time_embed, input_blocks.k, middle_block,
 * output_blocks.k, out) and split further wherever a layer reads a value that depends on another layer of the
 * same stage (a ResBlock's out conv reads what its in conv wrote). All layers of a stage are solved from one
 * forward pass, and every layer's input is computed with the integer weights of all earlier stages.
 *
 * Segments: the graph is run forward once in total, one segment per stage: the nodes needed for the stage's
 * layer inputs that no earlier segment ran. Values that cross segments (the live set: the block output, pending
 * U-Net skips, the time embedding) are kept between segments, so no stage re-runs the prefix of the network.
 */
import type { OnnxGraph, OnnxModel, OnnxNode, ValueInfo } from '../../onnx/ir.ts';
import type { WeightSite } from '../plan/plan.ts';

export interface ReconStage {
  index: number;
  /** The module (see `moduleOf`) all of the stage's layers belong to. */
  module: string;
  /** In graph order. */
  sites: WeightSite[];
}

const MODULE = /^(input_blocks\.\d+|output_blocks\.\d+|middle_block|time_embed|label_emb|out)(?=[./]|$)/;

/** `input_blocks.3.0.in_layers.2` -> `input_blocks.3`; `middle_block.1.qkv` -> `middle_block`; `out.2` -> `out`. */
export function moduleOf(node: string): string {
  return MODULE.exec(node)?.[1] ?? node.split(/[./]/)[0];
}

/** Groups `sites` into stages (see the file comment). Throws when a site's node is not in the graph. */
export function reconstructionStages(graph: OnnxGraph, sites: readonly WeightSite[]): ReconStage[] {
  const position = new Map(graph.nodes.map((n, i) => [n.name, i]));
  const producer = producers(graph);
  const ordered = [...sites].sort((a, b) => positionOf(position, a.node) - positionOf(position, b.node));
  const stages: ReconStage[] = [];
  let current: ReconStage | undefined;
  for (const site of ordered) {
    const module = moduleOf(site.node);
    const joins =
      current?.module === module &&
      !dependsOnAny(graph, producer, position, site.node, new Set(current.sites.map((s) => s.node)));
    if (current && joins) current.sites.push(site);
    else {
      current = { index: stages.length, module, sites: [site] };
      stages.push(current);
    }
  }
  return stages;
}

function positionOf(position: Map<string, number>, node: string): number {
  const p = position.get(node);
  if (p === undefined) throw new Error(`reconstruction: the graph has no node ${node}`);
  return p;
}

function producers(graph: OnnxGraph): Map<string, number> {
  const out = new Map<string, number>();
  graph.nodes.forEach((n, i) => {
    for (const o of n.outputs) if (o) out.set(o, i);
  });
  return out;
}

/** Whether any of `node`'s inputs is computed from one of `targets` (a backward walk, bounded by their positions). */
function dependsOnAny(
  graph: OnnxGraph,
  producer: Map<string, number>,
  position: Map<string, number>,
  node: string,
  targets: Set<string>,
): boolean {
  const floor = Math.min(...[...targets].map((t) => positionOf(position, t)));
  const seen = new Set<number>();
  const stack = [positionOf(position, node)];
  while (stack.length > 0) {
    for (const input of graph.nodes[stack.pop()!].inputs) {
      const p = producer.get(input);
      if (p === undefined || p < floor || seen.has(p)) continue;
      if (targets.has(graph.nodes[p].name)) return true;
      seen.add(p);
      stack.push(p);
    }
  }
  return false;
}

/** One forward piece: run `nodes` on the stored `inputs`, keep `outputs`. */
export interface Segment {
  /** In graph order; constant helpers (nodes on initializers only) are repeated in every segment that reads them. */
  nodes: OnnxNode[];
  inputs: string[];
  outputs: string[];
}

/**
 * Walks a graph forward in segments. `next(targets)` returns the nodes still to run for `targets` and marks them
 * run; `live` is then the set of values a later segment may still read (graph inputs included until their
 * last reader has run), which is all the caller needs to keep.
 */
export class SegmentCursor {
  readonly graph: OnnxGraph;
  private readonly producer: Map<string, number>;
  private readonly constant: Set<string>;
  private readonly ran: boolean[];
  /** Per value: reads still to come (nodes not yet run that some target needs, and unserved target requests). */
  private readonly pendingReaders = new Map<string, number>();
  private readonly liveValues = new Set<string>();

  /** `allTargets`: every value any future `next` will ask for (bounds which readers keep a value live). */
  constructor(graph: OnnxGraph, allTargets: Iterable<string>) {
    this.graph = graph;
    this.producer = producers(graph);
    this.constant = constantValues(graph);
    this.ran = graph.nodes.map(() => false);
    const targets = [...allTargets].filter((v) => !this.constant.has(v));
    for (const i of this.closure(targets)) {
      for (const v of graph.nodes[i].inputs) if (v && !this.constant.has(v)) this.bump(v, 1);
    }
    // A target counts as one more read until it is served: the last layers' inputs may have no later reader.
    for (const v of targets) this.bump(v, 1);
    for (const input of graph.inputs) if (this.pendingReaders.get(input.name)) this.liveValues.add(input.name);
  }

  get live(): ReadonlySet<string> {
    return this.liveValues;
  }

  next(targets: readonly string[]): Segment {
    const run = this.closure(targets);
    const runSet = new Set(run);
    const produced = new Set<string>();
    const inputs = new Set<string>();
    const constants = new Set<number>();
    for (const i of run) {
      for (const v of this.graph.nodes[i].inputs) {
        if (!v) continue;
        if (this.constant.has(v)) this.addConstant(v, constants);
        else if (!produced.has(v)) inputs.add(v);
      }
      for (const o of this.graph.nodes[i].outputs) if (o) produced.add(o);
    }
    for (const i of run) {
      this.ran[i] = true;
      for (const v of this.graph.nodes[i].inputs) if (v && !this.constant.has(v)) this.bump(v, -1);
    }
    for (const v of targets) if (!this.constant.has(v)) this.bump(v, -1);
    for (const v of produced) if (this.pendingReaders.get(v)) this.liveValues.add(v);
    for (const v of [...this.liveValues]) if (!this.pendingReaders.get(v)) this.liveValues.delete(v);
    const outputs = [...produced].filter((v) => this.liveValues.has(v) || targets.includes(v));
    const order = [...new Set([...constants, ...runSet])].sort((a, b) => a - b);
    return { nodes: order.map((i) => this.graph.nodes[i]), inputs: [...inputs], outputs };
  }

  /** Non-constant nodes not yet run that `targets` need, in graph order. */
  private closure(targets: readonly string[]): number[] {
    const seen = new Set<number>();
    const stack = targets.filter((v) => !this.constant.has(v));
    while (stack.length > 0) {
      const p = this.producer.get(stack.pop()!);
      if (p === undefined || this.ran[p] || seen.has(p)) continue;
      seen.add(p);
      for (const v of this.graph.nodes[p].inputs) if (v && !this.constant.has(v)) stack.push(v);
    }
    return [...seen].sort((a, b) => a - b);
  }

  private addConstant(value: string, into: Set<number>): void {
    const p = this.producer.get(value);
    if (p === undefined || into.has(p)) return; // an initializer
    into.add(p);
    for (const v of this.graph.nodes[p].inputs) if (v) this.addConstant(v, into);
  }

  private bump(value: string, by: number): void {
    this.pendingReaders.set(value, (this.pendingReaders.get(value) ?? 0) + by);
  }
}

/** Initializers and the outputs of nodes that read nothing else. */
function constantValues(graph: OnnxGraph): Set<string> {
  const out = new Set(graph.initializers.map((t) => t.name));
  for (const n of graph.nodes) {
    if (n.inputs.every((v) => !v || out.has(v))) for (const o of n.outputs) if (o) out.add(o);
  }
  return out;
}

/**
 * The segment as a model of its own. Inputs get the element types of the stored values; outputs are float32
 * except what a QuantizeLinear writes (its zero point's type), which is all a QDQ U-Net graph produces.
 */
export function segmentModel(
  model: OnnxModel,
  segment: Segment,
  inputType: (value: string) => ValueInfo['dtype'],
): OnnxModel {
  const used = new Set(segment.nodes.flatMap((n) => n.inputs));
  const initializers = model.graph.initializers.filter((t) => used.has(t.name));
  const zeroPointType = new Map(initializers.map((t) => [t.name, t.dtype]));
  const outputType = new Map<string, ValueInfo['dtype']>();
  for (const n of segment.nodes) {
    if (n.opType !== 'QuantizeLinear') continue;
    const zp = zeroPointType.get(n.inputs[2]);
    if (zp && zp !== 'int4' && zp !== 'uint4') outputType.set(n.outputs[0], zp);
  }
  const info = (name: string, dtype: ValueInfo['dtype']): ValueInfo => ({ name, dtype, shape: [], unknownRank: true });
  return {
    ...model,
    graph: {
      name: `${model.graph.name}/segment`,
      nodes: segment.nodes,
      initializers,
      inputs: segment.inputs.map((v) => info(v, inputType(v))),
      outputs: segment.outputs.map((v) => info(v, outputType.get(v) ?? 'float32')),
      valueInfo: [],
    },
  };
}
