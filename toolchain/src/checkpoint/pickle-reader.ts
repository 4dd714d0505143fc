/** Byte-level reading for the pickle VM: bounds-checked primitives and Python's integer/text encodings. */
import { CheckpointError } from './errors.ts';

/** Little-endian two's complement bytes -> number (or bigint when not a safe integer). */
export function decodeLong(bytes: Uint8Array): number | bigint {
  if (bytes.length === 0) return 0;
  let value = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) value = (value << 8n) | BigInt(bytes[i]);
  if (bytes[bytes.length - 1] & 0x80) value -= 1n << BigInt(8 * bytes.length);
  return safeNumber(value);
}

export function safeNumber(value: bigint): number | bigint {
  return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value;
}

/** raw-unicode-escape (protocol-0 UNICODE lines): only \\uXXXX and \\UXXXXXXXX are escapes. */
export function rawUnicodeUnescape(text: string): string {
  return text.replace(/\\(u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8})/g, (_, esc: string) =>
    String.fromCodePoint(Number.parseInt(esc.slice(1), 16)),
  );
}

/** Python string-literal escapes used by protocol-0 STRING lines (\\n, \\xNN, ...). */
export function unescapePython(text: string): string {
  return text.replace(/\\(x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|.)/g, (_, esc: string) => {
    if (esc.length > 1) return String.fromCodePoint(Number.parseInt(esc.slice(1), 16));
    return { n: '\n', r: '\r', t: '\t', '0': '\0' }[esc] ?? esc;
  });
}

export class PickleReader {
  pos = 0;
  readonly bytes: Uint8Array;
  readonly view: DataView;
  constructor(bytes: Uint8Array) {
    this.bytes = bytes;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  need(n: number): number {
    const at = this.pos;
    if (n < 0 || at + n > this.bytes.length) throw new CheckpointError('corrupt pickle: truncated data');
    this.pos += n;
    return at;
  }
  u8(): number {
    return this.bytes[this.need(1)];
  }
  u16(): number {
    return this.view.getUint16(this.need(2), true);
  }
  i32(): number {
    return this.view.getInt32(this.need(4), true);
  }
  u32(): number {
    return this.view.getUint32(this.need(4), true);
  }
  u64(): number {
    const value = this.view.getBigUint64(this.need(8), true);
    if (value > BigInt(this.bytes.length)) throw new CheckpointError('corrupt pickle: length past end of data');
    return Number(value);
  }
  f64be(): number {
    return this.view.getFloat64(this.need(8), false);
  }
  take(n: number): Uint8Array {
    const at = this.need(n);
    return this.bytes.subarray(at, at + n);
  }
  utf8(n: number): string {
    return new TextDecoder('utf-8', { fatal: true }).decode(this.take(n));
  }
  /** A protocol-0 argument: bytes up to the next newline, as latin-1/ASCII text. */
  line(): string {
    const end = this.bytes.indexOf(0x0a, this.pos);
    if (end < 0) throw new CheckpointError('corrupt pickle: unterminated text argument');
    let text = '';
    for (let i = this.pos; i < end; i++) text += String.fromCharCode(this.bytes[i]);
    this.pos = end + 1;
    return text;
  }
}
