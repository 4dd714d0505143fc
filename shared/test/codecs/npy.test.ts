import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeNpy, encodeNpy } from '../../src/npy.ts';
import type { Tensor } from '../../src/tensor.ts';
import { codecFixtures, fixtureBytes } from './fixtures.ts';

interface Expected {
  descr: string;
  shape: number[];
  values: (number | string | boolean)[];
  bits?: number[];
}

const expected: Record<string, Expected> = JSON.parse(readFileSync(resolve(codecFixtures, 'npy/values.json'), 'utf8'));
const littleEndian = Object.keys(expected).filter((name) => !name.startsWith('big_endian'));

function plainValues(t: Tensor): (number | string | boolean)[] {
  if (t.dtype === 'int64') return Array.from(t.data as BigInt64Array, (v) => v.toString());
  if (t.dtype === 'bool') return Array.from(t.data as Uint8Array, (v) => v !== 0);
  return Array.from(t.data as ArrayLike<number>);
}

describe('decodeNpy reads numpy-written files', () => {
  it.each(littleEndian)('%s', (name) => {
    const want = expected[name];
    const t = decodeNpy(fixtureBytes('npy', `${name}.npy`));
    expect(t.shape).toEqual(want.shape);
    if (want.bits) expect(Array.from(t.data as Uint16Array)).toEqual(want.bits);
    else expect(plainValues(t)).toEqual(want.values);
  });

  it('byte-swaps big-endian float32 and int64', () => {
    const f = decodeNpy(fixtureBytes('npy', 'big_endian_f4.npy'));
    expect(f.dtype).toBe('float32');
    expect(Array.from(f.data as Float32Array)).toEqual(expected.big_endian_f4.values);
    const i = decodeNpy(fixtureBytes('npy', 'big_endian_i8.npy'));
    expect(plainValues(i)).toEqual(expected.big_endian_i8.values);
  });

  it('refuses Fortran order with a clear message', () => {
    expect(() => decodeNpy(fixtureBytes('npy', 'fortran_2x3.npy'))).toThrow(/Fortran-order/);
  });

  it('refuses truncated data and non-npy bytes', () => {
    const bytes = fixtureBytes('npy', 'f32_2x3.npy');
    expect(() => decodeNpy(bytes.subarray(0, bytes.length - 1))).toThrow(/truncated/);
    expect(() => decodeNpy(new TextEncoder().encode('hello world'))).toThrow(/not a \.npy/);
  });

  it('copies data that is not aligned for its element type', () => {
    const bytes = fixtureBytes('npy', 'f32_random_3x4x5.npy');
    const shifted = new Uint8Array(bytes.length + 1).subarray(1);
    shifted.set(bytes);
    const t = decodeNpy(shifted);
    expect(Array.from(t.data as Float32Array)).toEqual(expected.f32_random_3x4x5.values);
    // Node Buffers: Buffer#slice is a view, so the copy must not rely on it
    const buffer = Buffer.alloc(bytes.length + 1).subarray(1);
    buffer.set(bytes);
    expect(Array.from(decodeNpy(buffer).data as Float32Array)).toEqual(expected.f32_random_3x4x5.values);
  });
});

describe('encodeNpy writes what np.save writes', () => {
  it.each(littleEndian)('%s is byte-identical', (name) => {
    const original = fixtureBytes('npy', `${name}.npy`);
    expect(encodeNpy(decodeNpy(original))).toEqual(original);
  });

  it('rejects data that does not match the shape', () => {
    expect(() => encodeNpy({ dtype: 'float32', shape: [2, 2], data: new Float32Array(3) })).toThrow(/3 elements/);
  });

  it('switches to format 2.0 when the header passes 65535 bytes', () => {
    const shape = Array.from({ length: 25000 }, () => 1);
    const bytes = encodeNpy({ dtype: 'uint8', shape, data: new Uint8Array([7]) });
    expect(bytes[6]).toBe(2);
    expect((bytes.length - 1) % 64).toBe(0);
    const back = decodeNpy(bytes);
    expect(back.shape).toEqual(shape);
    expect(back.data[0]).toBe(7);
  });
});
