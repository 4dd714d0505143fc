/**
 * Raw storages and the strided views checkpoints define on them -> dense C-order tensors. A contiguous, aligned
 * view stays a view into the file's bytes (no copy); anything else is gathered into a fresh array.
 */
import { type DType, numel, type Tensor, type TypedArray } from '@qdm/shared';
import { CheckpointError } from './errors.ts';
import { bfloat16ToFloat32, float16ToFloat32 } from './float16.ts';

/** Element types found in checkpoints: qdm's DTypes plus bfloat16 (always widened to float32 on load). */
export type StorageDType = DType | 'bfloat16';

type ArrayMaker = (buffer: ArrayBufferLike, byteOffset: number, length: number) => TypedArray;

const ELEMENT: Record<StorageDType, { bytes: number; make: ArrayMaker }> = {
  float32: { bytes: 4, make: (b, o, n) => new Float32Array(b, o, n) },
  float64: { bytes: 8, make: (b, o, n) => new Float64Array(b, o, n) },
  float16: { bytes: 2, make: (b, o, n) => new Uint16Array(b, o, n) },
  bfloat16: { bytes: 2, make: (b, o, n) => new Uint16Array(b, o, n) },
  int8: { bytes: 1, make: (b, o, n) => new Int8Array(b, o, n) },
  uint8: { bytes: 1, make: (b, o, n) => new Uint8Array(b, o, n) },
  bool: { bytes: 1, make: (b, o, n) => new Uint8Array(b, o, n) },
  int16: { bytes: 2, make: (b, o, n) => new Int16Array(b, o, n) },
  int32: { bytes: 4, make: (b, o, n) => new Int32Array(b, o, n) },
  int64: { bytes: 8, make: (b, o, n) => new BigInt64Array(b, o, n) },
};

export function elementBytes(dtype: StorageDType): number {
  return ELEMENT[dtype].bytes;
}

/** A typed array over `bytes` (little-endian elements), viewing when aligned, copying when not. */
export function typedView(dtype: StorageDType, bytes: Uint8Array): TypedArray {
  const { bytes: size, make } = ELEMENT[dtype];
  if (bytes.length % size !== 0) throw new CheckpointError(`${bytes.length} bytes is not a whole number of ${dtype}`);
  const aligned = bytes.byteOffset % size === 0 ? bytes : new Uint8Array(bytes); // a copy, also for Buffers
  return make(aligned.buffer, aligned.byteOffset, aligned.length / size);
}

/** Reverse the bytes of every element (big-endian storages). */
export function byteSwapped(bytes: Uint8Array, width: number): Uint8Array {
  const out = new Uint8Array(bytes.length);
  for (let i = 0; i < bytes.length; i += width) {
    for (let k = 0; k < width; k++) out[i + k] = bytes[i + width - 1 - k];
  }
  return out;
}

export interface LoadOptions {
  /** Keep float16 tensors as raw bits (dtype 'float16', Uint16Array) instead of widening them to float32. */
  keepHalf?: boolean;
}

/** Widen half types for callers: float16 -> float32 unless keepHalf; bfloat16 -> float32 always. */
export function finishTensor(dtype: StorageDType, shape: number[], data: TypedArray, options: LoadOptions): Tensor {
  if (dtype === 'bfloat16') return { dtype: 'float32', shape, data: bfloat16ToFloat32(data as Uint16Array) };
  if (dtype === 'float16' && !options.keepHalf) {
    return { dtype: 'float32', shape, data: float16ToFloat32(data as Uint16Array) };
  }
  return { dtype, shape, data };
}

function isContiguous(shape: readonly number[], stride: readonly number[]): boolean {
  let expected = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    if (shape[i] !== 1 && stride[i] !== expected) return false;
    expected *= shape[i];
  }
  return true;
}

/** Copy the strided elements of `source` (starting at `offset`) into a new dense C-order array. */
function gather(source: TypedArray, offset: number, shape: readonly number[], stride: readonly number[]): TypedArray {
  const n = numel(shape);
  const out = new (source.constructor as new (length: number) => TypedArray)(n);
  const rank = shape.length;
  const index = new Array<number>(rank).fill(0);
  let at = offset;
  for (let i = 0; i < n; i++) {
    out[i] = source[at];
    for (let d = rank - 1; d >= 0; d--) {
      index[d]++;
      at += stride[d];
      if (index[d] < shape[d]) break;
      at -= stride[d] * shape[d];
      index[d] = 0;
    }
  }
  return out;
}

/**
 * The dense data of the view (offset, shape, stride; all in elements) on a storage of `dtype` elements.
 * `name` is for error messages.
 */
export function stridedData(
  name: string,
  dtype: StorageDType,
  storage: Uint8Array,
  offset: number,
  shape: readonly number[],
  stride: readonly number[],
): TypedArray {
  const size = elementBytes(dtype);
  const n = numel(shape);
  if (shape.length !== stride.length) throw new CheckpointError(`tensor "${name}": shape and stride ranks differ`);
  if (shape.some((d) => !Number.isSafeInteger(d) || d < 0) || stride.some((s) => !Number.isSafeInteger(s) || s < 0)) {
    throw new CheckpointError(`tensor "${name}": bad shape [${shape}] or stride [${stride}]`);
  }
  if (n === 0) return ELEMENT[dtype].make(new ArrayBuffer(0), 0, 0);
  let last = offset;
  for (let d = 0; d < shape.length; d++) last += (shape[d] - 1) * stride[d];
  if ((last + 1) * size > storage.length) {
    throw new CheckpointError(
      `tensor "${name}": view reaches element ${last} but its storage holds ${storage.length / size} (corrupt file?)`,
    );
  }
  if (isContiguous(shape, stride)) return typedView(dtype, storage.subarray(offset * size, (offset + n) * size));
  return gather(typedView(dtype, storage.subarray(0, (last + 1) * size)), offset, shape, stride);
}
