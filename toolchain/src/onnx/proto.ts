/**
 * The protobuf wire format, just what ONNX needs: varints, 32/64-bit fixed values and length-delimited fields.
 *
 * Writing is two-phase so large models cost one allocation: messages are built bottom-up as lists of parts whose
 * encoded size is known as soon as they are added, and `encodeMessage` then copies everything into one buffer.
 * Byte payloads (tensor raw_data) are kept by reference until that final copy.
 */

export const WIRE_VARINT = 0;
export const WIRE_FIXED64 = 1;
export const WIRE_BYTES = 2;
export const WIRE_FIXED32 = 5;

const TWO_POW_32 = 4294967296;
const TWO_POW_63 = 2 ** 63;
const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8', { fatal: true });

type Part =
  | { kind: 'varint'; lo: number; hi: number; size: number }
  | { kind: 'bytes'; data: Uint8Array }
  | { kind: 'message'; message: ProtoMessage }
  | { kind: 'fixed32'; value: number; float: boolean }
  | { kind: 'fixed64'; value: number };

/** Splits an int64 (a JS number, clamped to the int64 range) into two's-complement 32-bit halves. */
function int64Halves(value: number): [lo: number, hi: number] {
  if (!Number.isInteger(value)) throw new Error(`protobuf: int64 field got a non-integer ${value}`);
  // NOTE: int64 extremes (INT64_MAX in Slice ends, say) are not exact in a double; clamp so they round-trip.
  if (value >= TWO_POW_63) return [0xffffffff, 0x7fffffff];
  if (value <= -TWO_POW_63) return [0, 0x80000000];
  if (value >= 0) return [(value % TWO_POW_32) >>> 0, Math.floor(value / TWO_POW_32) >>> 0];
  const big = BigInt.asUintN(64, BigInt(value));
  return [Number(big & 0xffffffffn), Number(big >> 32n)];
}

function varintSize(lo: number, hi: number): number {
  if (hi === 0) {
    if (lo < 0x80) return 1;
    if (lo < 0x4000) return 2;
    if (lo < 0x200000) return 3;
    if (lo < 0x10000000) return 4;
    return 5;
  }
  // 32 low bits plus the significant bits of hi, 7 payload bits per byte.
  const bits = 32 + (32 - Math.clz32(hi));
  return Math.ceil(bits / 7);
}

function tagValue(field: number, wire: number): number {
  return field * 8 + wire;
}

/** A message under construction. `size` is its encoded length (without its own tag and length prefix). */
export class ProtoMessage {
  readonly parts: Part[] = [];
  size = 0;

  private tag(field: number, wire: number): void {
    this.pushVarint(tagValue(field, wire), 0);
  }

  private pushVarint(lo: number, hi: number): void {
    const size = varintSize(lo, hi);
    this.parts.push({ kind: 'varint', lo, hi, size });
    this.size += size;
  }

  /** int32/int64/uint64/enum/bool field. Negative values take 10 bytes, as protobuf requires. */
  varint(field: number, value: number | boolean): this {
    const [lo, hi] = int64Halves(typeof value === 'boolean' ? Number(value) : value);
    this.tag(field, WIRE_VARINT);
    this.pushVarint(lo, hi);
    return this;
  }

  float(field: number, value: number): this {
    this.tag(field, WIRE_FIXED32);
    this.parts.push({ kind: 'fixed32', value, float: true });
    this.size += 4;
    return this;
  }

  double(field: number, value: number): this {
    this.tag(field, WIRE_FIXED64);
    this.parts.push({ kind: 'fixed64', value });
    this.size += 8;
    return this;
  }

  /** A length-delimited payload, kept by reference until encoding. */
  bytes(field: number, data: Uint8Array): this {
    this.tag(field, WIRE_BYTES);
    this.pushVarint(data.length, 0);
    this.parts.push({ kind: 'bytes', data });
    this.size += data.length;
    return this;
  }

  string(field: number, value: string): this {
    return this.bytes(field, utf8Encoder.encode(value));
  }

  /** An embedded message; it must be complete (its size is read now). */
  message(field: number, message: ProtoMessage): this {
    this.tag(field, WIRE_BYTES);
    this.pushVarint(message.size, 0);
    this.parts.push({ kind: 'message', message });
    this.size += message.size;
    return this;
  }

  /** A packed repeated varint field (skipped when empty). */
  packedVarints(field: number, values: readonly number[]): this {
    if (values.length === 0) return this;
    const inner = new ProtoMessage();
    for (const v of values) {
      const [lo, hi] = int64Halves(v);
      inner.pushVarint(lo, hi);
    }
    return this.message(field, inner);
  }
}

/** Serializes a finished message into one exactly sized buffer. */
export function encodeMessage(message: ProtoMessage): Uint8Array {
  const out = new Uint8Array(message.size);
  const view = new DataView(out.buffer);
  const end = writeParts(message, out, view, 0);
  if (end !== out.length) throw new Error(`protobuf: wrote ${end} bytes, sized ${out.length}`);
  return out;
}

function writeParts(message: ProtoMessage, out: Uint8Array, view: DataView, start: number): number {
  let pos = start;
  for (const part of message.parts) {
    switch (part.kind) {
      case 'varint':
        pos = writeVarint(out, pos, part.lo, part.hi);
        break;
      case 'bytes':
        out.set(part.data, pos);
        pos += part.data.length;
        break;
      case 'message':
        pos = writeParts(part.message, out, view, pos);
        break;
      case 'fixed32':
        if (part.float) view.setFloat32(pos, part.value, true);
        else view.setUint32(pos, part.value, true);
        pos += 4;
        break;
      case 'fixed64':
        view.setFloat64(pos, part.value, true);
        pos += 8;
        break;
    }
  }
  return pos;
}

function writeVarint(out: Uint8Array, start: number, lo: number, hi: number): number {
  let pos = start;
  let low = lo >>> 0;
  let high = hi >>> 0;
  while (high !== 0 || low >= 0x80) {
    out[pos++] = (low & 0x7f) | 0x80;
    low = ((low >>> 7) | (high << 25)) >>> 0;
    high >>>= 7;
  }
  out[pos++] = low;
  return pos;
}

/** One decoded field: its number, wire type, and where its value lies. */
export interface ProtoField {
  field: number;
  wire: number;
}

/** A cursor over an encoded message. Byte payloads are returned as views into the input (no copy). */
export class ProtoReader {
  readonly bytes: Uint8Array;
  pos: number;
  readonly end: number;

  constructor(bytes: Uint8Array, start = 0, end = bytes.length) {
    this.bytes = bytes;
    this.pos = start;
    this.end = end;
  }

  done(): boolean {
    return this.pos >= this.end;
  }

  next(): ProtoField {
    const tag = this.uint32();
    const field = Math.floor(tag / 8);
    if (field === 0) throw new Error(`protobuf: field number 0 at byte ${this.pos}`);
    return { field, wire: tag & 7 };
  }

  /** A varint that must fit in 32 unsigned bits (tags, lengths). */
  uint32(): number {
    const [lo, hi] = this.varintHalves();
    if (hi !== 0) throw new Error(`protobuf: varint too large at byte ${this.pos}`);
    return lo;
  }

  /** An int64/int32/enum varint as a number (two's complement; |values| beyond 2^53 lose precision). */
  int64(): number {
    const [lo, hi] = this.varintHalves();
    if (hi & 0x80000000) return Number(BigInt.asIntN(64, (BigInt(hi) << 32n) | BigInt(lo)));
    return hi * TWO_POW_32 + lo;
  }

  /** A varint's 64 bits exactly, unsigned. */
  uint64Big(): bigint {
    const [lo, hi] = this.varintHalves();
    return (BigInt(hi) << 32n) | BigInt(lo);
  }

  bool(): boolean {
    return this.int64() !== 0;
  }

  float(): number {
    this.need(4);
    const v = new DataView(this.bytes.buffer, this.bytes.byteOffset + this.pos, 4).getFloat32(0, true);
    this.pos += 4;
    return v;
  }

  double(): number {
    this.need(8);
    const v = new DataView(this.bytes.buffer, this.bytes.byteOffset + this.pos, 8).getFloat64(0, true);
    this.pos += 8;
    return v;
  }

  /** A length-delimited payload as a view into the input. */
  bytesField(): Uint8Array {
    const length = this.uint32();
    this.need(length);
    const view = this.bytes.subarray(this.pos, this.pos + length);
    this.pos += length;
    return view;
  }

  string(): string {
    return utf8Decoder.decode(this.bytesField());
  }

  /** A reader over an embedded message. */
  message(): ProtoReader {
    const length = this.uint32();
    this.need(length);
    const reader = new ProtoReader(this.bytes, this.pos, this.pos + length);
    this.pos += length;
    return reader;
  }

  /** A repeated scalar field, packed or not: calls `read` once per element. */
  repeated(wire: number, read: (r: ProtoReader) => void): void {
    if (wire !== WIRE_BYTES) {
      read(this);
      return;
    }
    const inner = this.message();
    while (!inner.done()) read(inner);
  }

  skip(wire: number): void {
    switch (wire) {
      case WIRE_VARINT:
        this.varintHalves();
        return;
      case WIRE_FIXED64:
        this.need(8);
        this.pos += 8;
        return;
      case WIRE_BYTES:
        this.bytesField();
        return;
      case WIRE_FIXED32:
        this.need(4);
        this.pos += 4;
        return;
      default:
        throw new Error(`protobuf: unsupported wire type ${wire} at byte ${this.pos}`);
    }
  }

  private need(length: number): void {
    if (this.pos + length > this.end) throw new Error(`protobuf: truncated message at byte ${this.pos}`);
  }

  private varintHalves(): [number, number] {
    let lo = 0;
    let hi = 0;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new Error(`protobuf: truncated varint at byte ${this.pos}`);
      const b = this.bytes[this.pos++];
      if (i < 4) lo |= (b & 0x7f) << (7 * i);
      else if (i === 4) {
        lo |= (b & 0x0f) << 28;
        hi = (b & 0x7f) >> 4;
      } else hi |= (b & 0x7f) << (7 * i - 32);
      if (b < 0x80) return [lo >>> 0, hi >>> 0];
    }
    throw new Error(`protobuf: varint longer than 10 bytes at byte ${this.pos}`);
  }
}
