/** The element types qdm moves between files, graphs and runtimes. */
export type DType = 'float32' | 'float64' | 'float16' | 'int8' | 'uint8' | 'int16' | 'int32' | 'int64' | 'bool';

export type TypedArray =
  | Float32Array
  | Float64Array
  | Uint16Array // float16 bits
  | Int8Array
  | Uint8Array
  | Int16Array
  | Int32Array
  | BigInt64Array;

/** A dense row-major (C order) tensor. */
export interface Tensor<A extends TypedArray = TypedArray> {
  dtype: DType;
  shape: number[];
  data: A;
}

export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function formatShape(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}
