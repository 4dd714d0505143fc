import { describe, expect, it } from 'vitest';
import { encodeMessage, ProtoMessage, ProtoReader, WIRE_BYTES, WIRE_VARINT } from './proto.ts';

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');

describe('protobuf wire format (examples from the protobuf encoding guide)', () => {
  it('encodes varints: 150 in field 1 is 08 96 01', () => {
    expect(hex(encodeMessage(new ProtoMessage().varint(1, 150)))).toBe('089601');
  });

  it("encodes negative int64 as 10-byte two's complement", () => {
    expect(hex(encodeMessage(new ProtoMessage().varint(1, -1)))).toBe('08ffffffffffffffffff01');
    expect(hex(encodeMessage(new ProtoMessage().varint(1, -2)))).toBe('08feffffffffffffffff01');
  });

  it('encodes strings and embedded messages: field 2 "testing" is 12 07 74 65 73 74 69 6e 67', () => {
    expect(hex(encodeMessage(new ProtoMessage().string(2, 'testing')))).toBe('120774657374696e67');
    const inner = new ProtoMessage().varint(1, 150);
    expect(hex(encodeMessage(new ProtoMessage().message(3, inner)))).toBe('1a03089601');
  });

  it('encodes packed varints: field 4 [3, 270, 86942] is 22 06 03 8e 02 9e a7 05', () => {
    expect(hex(encodeMessage(new ProtoMessage().packedVarints(4, [3, 270, 86942])))).toBe('2206038e029ea705');
  });

  it('encodes fixed32 floats little-endian', () => {
    expect(hex(encodeMessage(new ProtoMessage().float(2, 1)))).toBe('150000803f');
  });
});

describe('ProtoReader', () => {
  const roundTrip = (values: number[]) => {
    const msg = new ProtoMessage();
    for (const v of values) msg.varint(1, v);
    const r = new ProtoReader(encodeMessage(msg));
    const out: number[] = [];
    while (!r.done()) {
      const { field, wire } = r.next();
      expect([field, wire]).toEqual([1, WIRE_VARINT]);
      out.push(r.int64());
    }
    return out;
  };

  it('reads back int64 values across the byte boundaries', () => {
    const values = [0, 1, 127, 128, 16383, 16384, 2 ** 28 - 1, 2 ** 28, 2 ** 31, 2 ** 32 + 5, 2 ** 53 - 1];
    const negatives = [-1, -128, -(2 ** 31), -(2 ** 40) - 3, -(2 ** 53) + 1];
    expect(roundTrip([...values, ...negatives])).toEqual([...values, ...negatives]);
  });

  it('clamps values beyond int64 to INT64_MAX / INT64_MIN', () => {
    const msg = new ProtoMessage().varint(1, 2 ** 63).varint(1, -(2 ** 64));
    const r = new ProtoReader(encodeMessage(msg));
    r.next();
    expect(r.uint64Big()).toBe(2n ** 63n - 1n);
    r.next();
    expect(BigInt.asIntN(64, r.uint64Big())).toBe(-(2n ** 63n));
  });

  it('reads repeated fields packed and unpacked alike', () => {
    const msg = new ProtoMessage().packedVarints(4, [5, 6]).varint(4, 7);
    const r = new ProtoReader(encodeMessage(msg));
    const out: number[] = [];
    while (!r.done()) {
      const { wire } = r.next();
      r.repeated(wire, (x) => out.push(x.int64()));
    }
    expect(out).toEqual([5, 6, 7]);
  });

  it('skips unknown fields of every wire type and reads embedded messages in place', () => {
    const msg = new ProtoMessage().varint(9, 300).double(10, 2.5).float(11, 1).string(12, 'x').string(2, 'ok');
    const r = new ProtoReader(encodeMessage(msg));
    let found = '';
    while (!r.done()) {
      const { field, wire } = r.next();
      if (field === 2) {
        expect(wire).toBe(WIRE_BYTES);
        found = r.string();
      } else r.skip(wire);
    }
    expect(found).toBe('ok');
  });

  it('rejects truncated input', () => {
    const bytes = encodeMessage(new ProtoMessage().string(1, 'hello'));
    const r = new ProtoReader(bytes.subarray(0, 4));
    r.next();
    expect(() => r.string()).toThrow(/truncated/);
    const v = new ProtoReader(Uint8Array.of(0x08, 0xff));
    v.next();
    expect(() => v.int64()).toThrow(/truncated varint/);
  });
});
