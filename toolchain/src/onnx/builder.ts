/**
 * A small graph builder. Nodes are appended in execution order and every input must already exist, so the graph
 * it builds is topologically sorted by construction; names are checked for uniqueness as they are added.
 */
import type { DType, TypedArray } from '@qdm/shared';
import type { AttributeValue, OnnxGraph, OnnxModel, OnnxNode, OnnxTensor, ValueInfo } from './ir.ts';

/** Attribute value constructors: `attr.ints([1, 1])`. */
export const attr = {
  float: (value: number): AttributeValue => ({ type: 'float', value }),
  int: (value: number): AttributeValue => ({ type: 'int', value }),
  string: (value: string): AttributeValue => ({ type: 'string', value }),
  tensor: (value: OnnxTensor): AttributeValue => ({ type: 'tensor', value }),
  floats: (value: number[]): AttributeValue => ({ type: 'floats', value }),
  ints: (value: number[]): AttributeValue => ({ type: 'ints', value }),
  strings: (value: string[]): AttributeValue => ({ type: 'strings', value }),
};

export interface ModelOptions {
  opsetImports?: { domain: string; version: number }[];
  irVersion?: number;
  producerName?: string;
  producerVersion?: string;
  metadata?: Record<string, string>;
}

export class GraphBuilder {
  readonly name: string;
  readonly nodes: OnnxNode[] = [];
  readonly initializers: OnnxTensor[] = [];
  readonly inputs: ValueInfo[] = [];
  readonly outputs: ValueInfo[] = [];
  readonly valueInfo: ValueInfo[] = [];
  private readonly values = new Set<string>();
  private readonly nodeNames = new Set<string>();
  private readonly constants = new Map<string, OnnxTensor>();

  constructor(name: string) {
    this.name = name;
  }

  has(value: string): boolean {
    return this.values.has(value);
  }

  input(name: string, dtype: DType, shape: (number | string)[]): string {
    this.define(name);
    this.inputs.push({ name, dtype, shape });
    return name;
  }

  /** Marks an existing value as a graph output. */
  output(value: string, dtype: DType, shape: (number | string)[]): void {
    if (!this.values.has(value)) throw new Error(`graph ${this.name}: output ${value} is not defined`);
    this.outputs.push({ name: value, dtype, shape });
  }

  initializer(tensor: OnnxTensor): string {
    this.define(tensor.name);
    this.initializers.push(tensor);
    return tensor.name;
  }

  /**
   * A small constant initializer, shared by name: asking again for the same name with the same contents returns
   * the existing one (so helper constants such as reshape targets are stored once).
   */
  constant(name: string, dtype: OnnxTensor['dtype'], dims: number[], data: TypedArray): string {
    const existing = this.constants.get(name);
    if (existing) {
      if (!sameTensor(existing, dtype, dims, data)) throw new Error(`graph ${this.name}: constant ${name} redefined`);
      return name;
    }
    const tensor: OnnxTensor = { name, dtype, dims, data };
    this.constants.set(name, tensor);
    return this.initializer(tensor);
  }

  int64s(name: string, values: number[]): string {
    return this.constant(
      name,
      'int64',
      [values.length],
      BigInt64Array.from(values, (v) => BigInt(v)),
    );
  }

  float32Scalar(name: string, value: number): string {
    return this.constant(name, 'float32', [], Float32Array.of(value));
  }

  /** Appends a node with one output, named like the node unless `output` is given; returns the output name. */
  op(
    name: string,
    opType: string,
    inputs: string[],
    attributes: Record<string, AttributeValue> = {},
    output = name,
  ): string {
    return this.opMulti(name, opType, inputs, [output], attributes)[0];
  }

  opMulti(
    name: string,
    opType: string,
    inputs: string[],
    outputs: string[],
    attributes: Record<string, AttributeValue> = {},
    domain = '',
  ): string[] {
    if (this.nodeNames.has(name)) throw new Error(`graph ${this.name}: duplicate node name ${name}`);
    for (const input of inputs) {
      if (input !== '' && !this.values.has(input)) {
        throw new Error(`graph ${this.name}: node ${name} reads ${input}, which is not defined yet`);
      }
    }
    for (const output of outputs) this.define(output);
    this.nodeNames.add(name);
    const node: OnnxNode = { name, opType, inputs, outputs, attributes };
    if (domain) node.domain = domain;
    this.nodes.push(node);
    return outputs;
  }

  graph(): OnnxGraph {
    return {
      name: this.name,
      nodes: this.nodes,
      initializers: this.initializers,
      inputs: this.inputs,
      outputs: this.outputs,
      valueInfo: this.valueInfo,
    };
  }

  model(options: ModelOptions = {}): OnnxModel {
    return {
      irVersion: options.irVersion ?? 8,
      opsetImports: options.opsetImports ?? [{ domain: '', version: 17 }],
      producerName: options.producerName ?? 'qdm',
      producerVersion: options.producerVersion ?? '',
      graph: this.graph(),
      metadata: options.metadata ?? {},
    };
  }

  private define(value: string): void {
    if (value === '') throw new Error(`graph ${this.name}: empty value name`);
    if (this.values.has(value)) throw new Error(`graph ${this.name}: value ${value} defined twice`);
    this.values.add(value);
  }
}

function sameTensor(t: OnnxTensor, dtype: OnnxTensor['dtype'], dims: number[], data: TypedArray): boolean {
  if (t.dtype !== dtype || t.dims.join() !== dims.join() || t.data.length !== data.length) return false;
  for (let i = 0; i < data.length; i++) if (t.data[i] !== data[i]) return false;
  return true;
}
