/**
 * NumPy `.npy` (format versions 1-3): the file format of samples, reference arrays and test fixtures.
 * Only C-order arrays of the DTypes qdm knows; the header we write is byte-identical to numpy 1.24's `np.save`.
 */
import { type DType, numel, type Tensor, type TypedArray } from './tensor.ts';

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // "\x93NUMPY"
const ALIGN = 64; // numpy pads the header so the data starts on a 64-byte boundary
const GROWTH_AXIS_MAX_DIGITS = 21; // numpy >= 1.23 leaves room to grow shape[0] in place

interface NpyType {
  descr: string; // little-endian (or byte-order free) numpy descr
  bytes: number;
  make: (buffer: ArrayBufferLike, byteOffset: number, length: number) => TypedArray;
}

const NPY_TYPES: Record<DType, NpyType> = {
  float32: { descr: '<f4', bytes: 4, make: (b, o, n) => new Float32Array(b, o, n) },
  float64: { descr: '<f8', bytes: 8, make: (b, o, n) => new Float64Array(b, o, n) },
  float16: { descr: '<f2', bytes: 2, make: (b, o, n) => new Uint16Array(b, o, n) },
  int8: { descr: '|i1', bytes: 1, make: (b, o, n) => new Int8Array(b, o, n) },
  uint8: { descr: '|u1', bytes: 1, make: (b, o, n) => new Uint8Array(b, o, n) },
  int16: { descr: '<i2', bytes: 2, make: (b, o, n) => new Int16Array(b, o, n) },
  int32: { descr: '<i4', bytes: 4, make: (b, o, n) => new Int32Array(b, o, n) },
  int64: { descr: '<i8', bytes: 8, make: (b, o, n) => new BigInt64Array(b, o, n) },
  bool: { descr: '|b1', bytes: 1, make: (b, o, n) => new Uint8Array(b, o, n) },
};

export class NpyError extends Error {
  override name = 'NpyError';
}

/** The numpy descr (e.g. '<f4') of a DType. */
export function npyDescr(dtype: DType): string {
  return NPY_TYPES[dtype].descr;
}

function pythonTuple(shape: readonly number[]): string {
  if (shape.length === 1) return `(${shape[0]},)`;
  return `(${shape.join(', ')})`;
}

/** The padded header bytes exactly as numpy 1.24 writes them (version 1.0, or 2.0 when it does not fit). */
function npyHeader(dtype: DType, shape: readonly number[]): Uint8Array {
  let dict = `{'descr': '${npyDescr(dtype)}', 'fortran_order': False, 'shape': ${pythonTuple(shape)}, }`;
  if (shape.length > 0) dict += ' '.repeat(Math.max(0, GROWTH_AXIS_MAX_DIGITS - String(shape[0]).length));
  const body = dict.length + 1; // + the final '\n'
  let prefix = MAGIC.length + 2 + 2;
  let padded = body + ALIGN - ((prefix + body) % ALIGN);
  const major = padded > 0xffff ? 2 : 1;
  if (major === 2) {
    prefix = MAGIC.length + 2 + 4;
    padded = body + ALIGN - ((prefix + body) % ALIGN);
  }
  const out = new Uint8Array(prefix + padded);
  out.set(MAGIC, 0);
  out[6] = major;
  out[7] = 0;
  const view = new DataView(out.buffer);
  if (major === 1) view.setUint16(8, padded, true);
  else view.setUint32(8, padded, true);
  out.fill(0x20, prefix, prefix + padded - 1);
  for (let i = 0; i < dict.length; i++) out[prefix + i] = dict.charCodeAt(i);
  out[out.length - 1] = 0x0a;
  return out;
}

/** Serialize a C-order tensor as `.npy` bytes. */
export function encodeNpy(t: Tensor): Uint8Array {
  const n = numel(t.shape);
  if (t.data.length !== n) throw new NpyError(`tensor data has ${t.data.length} elements, shape needs ${n}`);
  const header = npyHeader(t.dtype, t.shape);
  const raw = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  const out = new Uint8Array(header.length + raw.length);
  out.set(header, 0);
  out.set(raw, header.length);
  return out;
}

interface NpyHeader {
  descr: string;
  fortranOrder: boolean;
  shape: number[];
}

/** Parse numpy's header dict literal, e.g. `{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }`. */
function parseHeaderDict(text: string): NpyHeader {
  const descr = /'descr'\s*:\s*'([^']*)'/.exec(text);
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(text);
  const shape = /'shape'\s*:\s*\(([^)]*)\)/.exec(text);
  if (!descr) {
    if (/'descr'\s*:\s*\[/.test(text)) throw new NpyError('structured (record) .npy arrays are not supported');
    throw new NpyError(`.npy header has no descr: ${text.trim()}`);
  }
  if (!fortran || !shape) throw new NpyError(`malformed .npy header: ${text.trim()}`);
  const dims = shape[1]
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
    .map((s) => {
      const d = Number(s.replace(/L$/, '')); // python 2 files write longs as 3L
      if (!Number.isSafeInteger(d) || d < 0) throw new NpyError(`bad .npy shape entry "${s}"`);
      return d;
    });
  return { descr: descr[1], fortranOrder: fortran[1] === 'True', shape: dims };
}

function dtypeOfDescr(descr: string): { dtype: DType; bigEndian: boolean } {
  const order = descr[0];
  const code = descr.slice(1);
  for (const [dtype, t] of Object.entries(NPY_TYPES) as [DType, NpyType][]) {
    if (t.descr.slice(1) !== code) continue;
    if (order === '<' || order === '|' || order === '=') return { dtype, bigEndian: false };
    if (order === '>') return { dtype, bigEndian: true };
  }
  throw new NpyError(`unsupported .npy dtype "${descr}" (supported: ${Object.values(NPY_TYPES).map((t) => t.descr)})`);
}

function latin1(raw: Uint8Array): string {
  let s = '';
  for (const b of raw) s += String.fromCharCode(b);
  return s;
}

function readHeader(bytes: Uint8Array): { header: NpyHeader; dataOffset: number } {
  for (let i = 0; i < MAGIC.length; i++) {
    if (bytes[i] !== MAGIC[i]) throw new NpyError('not a .npy file (bad magic)');
  }
  const major = bytes[6];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (major !== 1 && major !== 2 && major !== 3) throw new NpyError(`unsupported .npy format version ${major}`);
  const lenBytes = major === 1 ? 2 : 4;
  if (bytes.length < 8 + lenBytes) throw new NpyError('truncated .npy header');
  const headerLength = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const start = 8 + lenBytes;
  const dataOffset = start + headerLength;
  if (dataOffset > bytes.length) throw new NpyError('truncated .npy header');
  const raw = bytes.subarray(start, dataOffset);
  const text = major === 3 ? new TextDecoder().decode(raw) : latin1(raw);
  return { header: parseHeaderDict(text), dataOffset };
}

function byteSwapped(src: Uint8Array, width: number): Uint8Array {
  const out = new Uint8Array(src.length);
  for (let i = 0; i < src.length; i += width) {
    for (let k = 0; k < width; k++) out[i + k] = src[i + width - 1 - k];
  }
  return out;
}

/**
 * Parse `.npy` bytes. The result's data is a view into `bytes` when the data is aligned and little-endian
 * (no copy), otherwise a fresh copy; copy it before mutating if `bytes` must stay intact.
 */
export function decodeNpy(bytes: Uint8Array): Tensor {
  const { header, dataOffset } = readHeader(bytes);
  if (header.fortranOrder && header.shape.length > 1) {
    throw new NpyError('Fortran-order .npy arrays are not supported: save a C-order copy (np.ascontiguousarray)');
  }
  const { dtype, bigEndian } = dtypeOfDescr(header.descr);
  const type = NPY_TYPES[dtype];
  const n = numel(header.shape);
  const byteLength = n * type.bytes;
  if (dataOffset + byteLength > bytes.length) {
    throw new NpyError(`truncated .npy data: need ${byteLength} bytes, have ${bytes.length - dataOffset}`);
  }
  let raw = bytes.subarray(dataOffset, dataOffset + byteLength);
  if (bigEndian && type.bytes > 1) raw = byteSwapped(raw, type.bytes);
  else if (raw.byteOffset % type.bytes !== 0) raw = new Uint8Array(raw); // copy (Buffer.slice would not)
  return { dtype, shape: header.shape, data: type.make(raw.buffer, raw.byteOffset, n) };
}
