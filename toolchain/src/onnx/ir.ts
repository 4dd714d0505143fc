/**
 * An in-memory ONNX model: what the graph builder produces, the quantizer rewrites and the codec (model.ts)
 * serializes. Plain data, no methods, so passes can copy and edit it freely.
 */
import type { DType, TypedArray } from '@qdm/shared';

/** A named constant tensor (initializer or attribute value). Row-major; float16 stored as raw bits. */
export interface OnnxTensor {
  name: string;
  dtype: DType | 'int4' | 'uint4';
  dims: number[];
  /** int4/uint4: one value per element in an Int8Array/Uint8Array (the codec packs two per byte). */
  data: TypedArray;
}

export type AttributeValue =
  | { type: 'float'; value: number }
  | { type: 'int'; value: number }
  | { type: 'string'; value: string }
  | { type: 'tensor'; value: OnnxTensor }
  /** A subgraph (If/Loop bodies): it reads the outer graph's values by name. */
  | { type: 'graph'; value: OnnxGraph }
  | { type: 'floats'; value: number[] }
  | { type: 'ints'; value: number[] }
  | { type: 'strings'; value: string[] };

export interface OnnxNode {
  name: string;
  opType: string;
  domain?: string; // '' (default ONNX domain) unless e.g. 'com.microsoft'
  inputs: string[]; // '' marks an omitted optional input
  outputs: string[];
  attributes: Record<string, AttributeValue>;
}

/**
 * A graph input/output/value_info: element type and shape (strings are symbolic dims such as 'N'; '' is a dim
 * of unknown size).
 */
export interface ValueInfo {
  name: string;
  dtype: DType;
  shape: (number | string)[];
  /** The type carries no shape at all (rank unknown); `shape` is then []. */
  unknownRank?: boolean;
}

export interface OnnxGraph {
  name: string;
  nodes: OnnxNode[]; // topologically sorted
  initializers: OnnxTensor[];
  inputs: ValueInfo[];
  outputs: ValueInfo[];
  valueInfo: ValueInfo[];
}

export interface OnnxModel {
  irVersion: number;
  opsetImports: { domain: string; version: number }[];
  producerName: string;
  producerVersion: string;
  graph: OnnxGraph;
  metadata: Record<string, string>;
}
