/**
 * Read-only lookups over an OnnxGraph that the quantization passes share: which node produces a value, which
 * nodes (and which input slots) read it, and which values are initializers.
 */
import type { OnnxGraph, OnnxNode, OnnxTensor } from '../onnx/ir.ts';

/** One reading of a value: `node.inputs[input] === value`. */
export interface ValueUse {
  node: string;
  input: number;
}

export interface GraphIndex {
  graph: OnnxGraph;
  node(name: string): OnnxNode | undefined;
  producer(value: string): OnnxNode | undefined;
  uses(value: string): ValueUse[];
  initializer(name: string): OnnxTensor | undefined;
  isGraphOutput(value: string): boolean;
}

export function indexGraph(graph: OnnxGraph): GraphIndex {
  const byName = new Map<string, OnnxNode>();
  const producers = new Map<string, OnnxNode>();
  const uses = new Map<string, ValueUse[]>();
  for (const node of graph.nodes) {
    byName.set(node.name, node);
    for (const out of node.outputs) if (out) producers.set(out, node);
    node.inputs.forEach((value, input) => {
      if (!value) return;
      const list = uses.get(value);
      if (list) list.push({ node: node.name, input });
      else uses.set(value, [{ node: node.name, input }]);
    });
  }
  const initializers = new Map(graph.initializers.map((t) => [t.name, t]));
  const outputs = new Set(graph.outputs.map((o) => o.name));
  return {
    graph,
    node: (name) => byName.get(name),
    producer: (value) => producers.get(value),
    uses: (value) => uses.get(value) ?? [],
    initializer: (name) => initializers.get(name),
    isGraphOutput: (value) => outputs.has(value),
  };
}

/**
 * A key per value such that equal keys mean equal tensors: the same op with the same attributes over equal inputs
 * (initializers and graph inputs by name). The U-Net recomputes SiLU(emb) in every ResBlock, for example.
 */
export function valueKeys(index: GraphIndex): (value: string) => number {
  const ids = new Map<string, number>(); // structural description -> id
  const memo = new Map<string, number>();
  const key = (value: string): number => {
    const known = memo.get(value);
    if (known !== undefined) return known;
    const node = index.producer(value);
    let description: string;
    if (!node) description = `=${value}`;
    else {
      const attrs = JSON.stringify(Object.entries(node.attributes).sort(([a], [b]) => (a < b ? -1 : 1)));
      const inputs = node.inputs.map((i) => (i ? key(i) : -1)).join(',');
      description = `${node.domain ?? ''}:${node.opType}${attrs}(${inputs})#${node.outputs.indexOf(value)}`;
    }
    let id = ids.get(description);
    if (id === undefined) {
      id = ids.size;
      ids.set(description, id);
    }
    memo.set(value, id);
    return id;
  };
  return key;
}
