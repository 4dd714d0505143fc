import { describe, expect, it } from 'vitest';
import { decodeNpy } from '../../src/npy.ts';
import { decodeNpz, encodeNpz, NPZ_SAMPLES_KEY } from '../../src/npz.ts';
import { fixtureBytes } from './fixtures.ts';

const a = Array.from({ length: 12 }, (_, i) => Math.fround(Math.fround(i) / 7));

describe('decodeNpz reads numpy archives', () => {
  it.each(['stored.npz', 'deflated.npz'])('%s', (file) => {
    const arrays = decodeNpz(fixtureBytes('npz', file));
    expect(Object.keys(arrays).sort()).toEqual(['a', 'b']);
    expect(arrays.a.shape).toEqual([3, 4]);
    expect(Array.from(arrays.a.data as Float32Array)).toEqual(a);
    expect(arrays.b.dtype).toBe('int64');
    expect(Array.from(arrays.b.data as BigInt64Array)).toEqual([5n, -6n, 7n]);
  });

  it('reads the evaluator layout: arr_0 uint8 NHWC', () => {
    const arrays = decodeNpz(fixtureBytes('npz', 'samples.npz'));
    const want = decodeNpy(fixtureBytes('npz', 'samples-arr_0.npy'));
    expect(arrays[NPZ_SAMPLES_KEY].dtype).toBe('uint8');
    expect(arrays[NPZ_SAMPLES_KEY].shape).toEqual([4, 8, 8, 3]);
    expect(arrays[NPZ_SAMPLES_KEY].data).toEqual(want.data);
  });

  it('says what is wrong with a broken archive', () => {
    expect(() => decodeNpz(new Uint8Array([1, 2, 3, 4]))).toThrow(/not a readable \.npz/);
  });
});

describe('encodeNpz', () => {
  it.each([false, true])('round-trips every member (compress=%s)', (compress) => {
    const original = decodeNpz(fixtureBytes('npz', 'stored.npz'));
    const samples = decodeNpy(fixtureBytes('npz', 'samples-arr_0.npy'));
    const bytes = encodeNpz({ ...original, [NPZ_SAMPLES_KEY]: samples }, compress);
    const back = decodeNpz(bytes);
    expect(back.a).toEqual(original.a);
    expect(back.b).toEqual(original.b);
    expect(back[NPZ_SAMPLES_KEY]).toEqual(samples);
  });

  it('deflates when asked (zip method 8) and stores otherwise (method 0)', () => {
    const zeros = { z: { dtype: 'float32' as const, shape: [1000], data: new Float32Array(1000) } };
    const stored = encodeNpz(zeros, false);
    const deflated = encodeNpz(zeros, true);
    // local file header: compression method at byte 8
    expect(stored[8]).toBe(0);
    expect(deflated[8]).toBe(8);
    expect(deflated.length).toBeLessThan(stored.length / 10);
  });
});
