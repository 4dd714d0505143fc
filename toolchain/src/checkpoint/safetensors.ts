/**
 * `.safetensors`: u64 little-endian header length, a JSON header ({name: {dtype, shape, data_offsets}},
 * optional `__metadata__`), then the raw little-endian bytes. Offsets are relative to the end of the header.
 */
import type { Tensor } from '@qdm/shared';
import { CheckpointError } from './errors.ts';
import { elementBytes, finishTensor, type LoadOptions, type StorageDType, typedView } from './strided.ts';

const DTYPES: Record<string, StorageDType> = {
  F64: 'float64',
  F32: 'float32',
  F16: 'float16',
  BF16: 'bfloat16',
  I64: 'int64',
  I32: 'int32',
  I16: 'int16',
  I8: 'int8',
  U8: 'uint8',
  BOOL: 'bool',
};

const MAX_HEADER = 100 * 1024 * 1024; // the reference implementation's limit

interface HeaderEntry {
  dtype: string;
  shape: number[];
  data_offsets: [number, number];
}

/** Header length when `bytes` looks like a safetensors file, else undefined. */
export function safetensorsHeaderLength(bytes: Uint8Array): number | undefined {
  if (bytes.length < 10) return undefined;
  const length = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
  if (length < 2n || length > BigInt(Math.min(MAX_HEADER, bytes.length - 8))) return undefined;
  return bytes[8] === 0x7b ? Number(length) : undefined; // '{'
}

function parseHeader(bytes: Uint8Array, length: number): Record<string, HeaderEntry> {
  try {
    return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + length)));
  } catch (error) {
    throw new CheckpointError(`corrupt safetensors header: ${(error as Error).message}`);
  }
}

function readEntry(name: string, entry: HeaderEntry, data: Uint8Array, options: LoadOptions): Tensor {
  const dtype = DTYPES[entry?.dtype];
  if (!dtype) throw new CheckpointError(`safetensors tensor "${name}": unsupported dtype ${entry?.dtype}`);
  const { shape, data_offsets: offsets } = entry;
  const valid = (v: unknown) => Number.isSafeInteger(v) && (v as number) >= 0;
  if (!Array.isArray(shape) || !shape.every(valid) || !Array.isArray(offsets) || !offsets.every(valid)) {
    throw new CheckpointError(`safetensors tensor "${name}": bad shape or data_offsets`);
  }
  const [begin, end] = offsets;
  const expected = shape.reduce((n, d) => n * d, 1) * elementBytes(dtype);
  if (end - begin !== expected || end > data.length) {
    throw new CheckpointError(
      `safetensors tensor "${name}": bytes ${begin}..${end} do not hold ${expected} bytes within ${data.length}`,
    );
  }
  return finishTensor(dtype, [...shape], typedView(dtype, data.subarray(begin, end)), options);
}

/** Every tensor of a safetensors file, in header order. Aligned data stays a view into `bytes`. */
export function readSafetensors(bytes: Uint8Array, options: LoadOptions = {}): Map<string, Tensor> {
  const length = safetensorsHeaderLength(bytes);
  if (length === undefined) throw new CheckpointError('not a safetensors file (bad header length)');
  const header = parseHeader(bytes, length);
  const data = bytes.subarray(8 + length);
  const tensors = new Map<string, Tensor>();
  for (const [name, entry] of Object.entries(header)) {
    if (name !== '__metadata__') tensors.set(name, readEntry(name, entry, data, options));
  }
  return tensors;
}
