/**
 * TensorProto <-> OnnxTensor. Writing always uses raw_data (little-endian bytes, one copy at the final encode);
 * reading accepts raw_data and the typed repeated fields (float_data, int32_data, int64_data, ...).
 */
import type { TypedArray } from '@qdm/shared';
import { numel } from '@qdm/shared';
import type { OnnxTensor } from './ir.ts';
import { ProtoMessage, type ProtoReader } from './proto.ts';

export type TensorDType = OnnxTensor['dtype'];

/** TensorProto.DataType codes (onnx.proto). */
export const DATA_TYPE_CODES: Record<TensorDType, number> = {
  float32: 1,
  uint8: 2,
  int8: 3,
  int16: 5,
  int32: 6,
  int64: 7,
  bool: 9,
  float16: 10,
  float64: 11,
  uint4: 21,
  int4: 22,
};

const DTYPE_BY_CODE = new Map<number, TensorDType>(
  Object.entries(DATA_TYPE_CODES).map(([dtype, code]) => [code, dtype as TensorDType]),
);

const BYTES_PER_ELEMENT: Record<TensorDType, number> = {
  float32: 4,
  uint8: 1,
  int8: 1,
  int16: 2,
  int32: 4,
  int64: 8,
  bool: 1,
  float16: 2,
  float64: 8,
  uint4: 1,
  int4: 1,
};

type ArrayCtor = { new (buffer: ArrayBuffer): TypedArray; new (length: number): TypedArray; name: string };

const ARRAY_TYPES: Record<TensorDType, ArrayCtor> = {
  float32: Float32Array,
  uint8: Uint8Array,
  int8: Int8Array,
  int16: Int16Array,
  int32: Int32Array,
  int64: BigInt64Array,
  bool: Uint8Array,
  float16: Uint16Array,
  float64: Float64Array,
  uint4: Uint8Array,
  int4: Int8Array,
};

// NOTE: raw_data is little-endian; typed arrays use the host order. Every platform Node ships on is little-endian.
if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) throw new Error('onnx codec needs a little-endian host');

export function dtypeFromCode(code: number, what: string): TensorDType {
  const dtype = DTYPE_BY_CODE.get(code);
  if (!dtype) throw new Error(`onnx: ${what} has unsupported data type ${code}`);
  return dtype;
}

export function isFourBit(dtype: TensorDType): boolean {
  return dtype === 'int4' || dtype === 'uint4';
}

/** Two 4-bit values per byte, element 0 in the low nibble; an odd count leaves the last high nibble zero. */
export function packFourBit(values: Int8Array | Uint8Array, signed: boolean): Uint8Array {
  const lo = signed ? -8 : 0;
  const hi = signed ? 7 : 15;
  const out = new Uint8Array(Math.ceil(values.length / 2));
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v < lo || v > hi) throw new Error(`onnx: ${signed ? 'int4' : 'uint4'} value ${v} out of range`);
    out[i >> 1] |= (v & 0x0f) << ((i & 1) * 4);
  }
  return out;
}

export function unpackFourBit(packed: Uint8Array, count: number, signed: boolean): Int8Array | Uint8Array {
  const out = signed ? new Int8Array(count) : new Uint8Array(count);
  for (let i = 0; i < count; i++) {
    const nibble = (packed[i >> 1] >> ((i & 1) * 4)) & 0x0f;
    out[i] = signed && nibble >= 8 ? nibble - 16 : nibble;
  }
  return out;
}

function checkTensor(tensor: OnnxTensor): void {
  const ctor = ARRAY_TYPES[tensor.dtype];
  if (!ctor) throw new Error(`onnx: tensor ${tensor.name} has unknown dtype ${tensor.dtype}`);
  if (!(tensor.data instanceof ctor)) {
    throw new Error(`onnx: tensor ${tensor.name} (${tensor.dtype}) holds a ${tensor.data.constructor.name}`);
  }
  const expected = numel(tensor.dims);
  if (tensor.data.length !== expected) {
    throw new Error(`onnx: tensor ${tensor.name} has ${tensor.data.length} values for dims [${tensor.dims}]`);
  }
}

export function encodeTensor(tensor: OnnxTensor): ProtoMessage {
  checkTensor(tensor);
  const msg = new ProtoMessage();
  for (const d of tensor.dims) msg.varint(1, d);
  msg.varint(2, DATA_TYPE_CODES[tensor.dtype]);
  msg.string(8, tensor.name);
  const { data } = tensor;
  const raw = isFourBit(tensor.dtype)
    ? packFourBit(data as Int8Array | Uint8Array, tensor.dtype === 'int4')
    : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  msg.bytes(9, raw);
  return msg;
}

/** Copies bytes into a fresh (aligned) buffer and views them as the dtype's array. */
function arrayFromRaw(raw: Uint8Array, dtype: TensorDType, count: number, name: string): TypedArray {
  if (isFourBit(dtype)) {
    if (raw.length !== Math.ceil(count / 2)) throw new Error(`onnx: tensor ${name} raw_data has ${raw.length} bytes`);
    return unpackFourBit(raw, count, dtype === 'int4');
  }
  const size = BYTES_PER_ELEMENT[dtype];
  if (raw.length !== count * size) {
    throw new Error(`onnx: tensor ${name} raw_data has ${raw.length} bytes, expected ${count * size}`);
  }
  // NOTE: Uint8Array's slice copies; a Node Buffer's slice is a view of the whole file, so call it explicitly.
  return new ARRAY_TYPES[dtype](Uint8Array.prototype.slice.call(raw).buffer);
}

function arrayFromValues(values: (number | bigint)[], dtype: TensorDType, name: string): TypedArray {
  if (isFourBit(dtype)) throw new Error(`onnx: tensor ${name}: 4-bit data outside raw_data is not supported`);
  const out = new ARRAY_TYPES[dtype](values.length);
  if (out instanceof BigInt64Array) for (let i = 0; i < values.length; i++) out[i] = BigInt(values[i]);
  else for (let i = 0; i < values.length; i++) out[i] = Number(values[i]);
  return out;
}

export function decodeTensor(r: ProtoReader): OnnxTensor {
  const dims: number[] = [];
  let code = 0;
  let name = '';
  let raw: Uint8Array | undefined;
  const values: (number | bigint)[] = [];
  while (!r.done()) {
    const { field, wire } = r.next();
    switch (field) {
      case 1:
        r.repeated(wire, (x) => dims.push(x.int64()));
        break;
      case 2:
        code = r.int64();
        break;
      case 8:
        name = r.string();
        break;
      case 9:
        raw = r.bytesField();
        break;
      case 4:
        r.repeated(wire, (x) => values.push(x.float()));
        break;
      case 5:
        r.repeated(wire, (x) => values.push(x.int64()));
        break;
      case 7:
        r.repeated(wire, (x) => values.push(bigintVarint(x)));
        break;
      case 10:
        r.repeated(wire, (x) => values.push(x.double()));
        break;
      case 13:
      case 14:
        throw new Error(`onnx: tensor ${name || '(unnamed)'} uses external data, which is not supported`);
      default:
        r.skip(wire);
    }
  }
  const dtype = dtypeFromCode(code, `tensor ${name || '(unnamed)'}`);
  const count = numel(dims);
  const data = raw ? arrayFromRaw(raw, dtype, count, name) : arrayFromValues(values, dtype, name);
  if (data.length !== count) throw new Error(`onnx: tensor ${name} has ${data.length} values for dims [${dims}]`);
  return { name, dtype, dims, data };
}

/** int64_data elements exactly (they may exceed 2^53). */
function bigintVarint(r: ProtoReader): bigint {
  return BigInt.asIntN(64, r.uint64Big());
}
