import type { Tensor } from '@qdm/shared';
import { describe, expect, it } from 'vitest';
import { parseCheckpoint } from './index.ts';
import { fixtureBytes, fixtureJson, storedZip } from './test-fixtures.ts';
import { readZipEntries, readZipEntry } from './zip.ts';

interface Expected {
  dtype: string;
  shape: number[];
  values: (number | string | boolean)[];
  bits?: number[];
}
const expected = fixtureJson<Record<string, Record<string, Expected>>>('expected.json');

function plain(t: Tensor): (number | string | boolean)[] {
  if (t.dtype === 'int64') return Array.from(t.data as BigInt64Array, String);
  if (t.dtype === 'bool') return Array.from(t.data as Uint8Array, (v) => v !== 0);
  return Array.from(t.data as ArrayLike<number>, (v) => (Number.isFinite(v) ? v : String(v)));
}

/** Widened dtype a caller sees for each torch dtype. */
const widened: Record<string, string> = { float16: 'float32', bfloat16: 'float32' };

function expectTensors(tensors: Map<string, Tensor>, want: Record<string, Expected>) {
  expect([...tensors.keys()]).toEqual(Object.keys(want));
  for (const [name, w] of Object.entries(want)) {
    const t = tensors.get(name)!;
    expect({ name, dtype: t.dtype, shape: t.shape }).toEqual({
      name,
      dtype: widened[w.dtype] ?? w.dtype,
      shape: w.shape,
    });
    expect(plain(t), name).toEqual(w.values);
  }
}

describe('torch.save zip checkpoints', () => {
  it.each(['float32.pt', 'dtypes.pt', 'views.pt', 'parameters.pt'])('%s matches torch', (file) => {
    const { tensors, format, wrapperPath } = parseCheckpoint(fixtureBytes(file));
    expect(format).toBe('torch-zip');
    expect(wrapperPath).toEqual([]);
    expectTensors(tensors, expected[file]);
  });

  it.each(['protocol4.pt', 'protocol5.pt'])('%s (FRAME, MEMOIZE, STACK_GLOBAL) matches torch', (file) => {
    expectTensors(parseCheckpoint(fixtureBytes(file)).tensors, expected['float32.pt']);
  });

  it('keeps float16 bits on request', () => {
    const { tensors } = parseCheckpoint(fixtureBytes('dtypes.pt'), { keepHalf: true });
    for (const name of ['f16', 'f16_special']) {
      expect(tensors.get(name)!.dtype).toBe('float16');
      expect(Array.from(tensors.get(name)!.data as Uint16Array)).toEqual(expected['dtypes.pt'][name].bits);
    }
    expect(tensors.get('bf16')!.dtype).toBe('float32'); // no bfloat16 DType: always widened
  });

  it('returns views into the file for contiguous tensors, one storage shared by aliases', () => {
    const bytes = fixtureBytes('views.pt');
    const { tensors } = parseCheckpoint(bytes);
    const base = tensors.get('base')!.data;
    const alias = tensors.get('flat_alias')!.data;
    const tail = tensors.get('tail_rows')!.data;
    expect(base.buffer).toBe(bytes.buffer);
    expect(alias.byteOffset).toBe(base.byteOffset);
    expect(tail.byteOffset).toBe(base.byteOffset + 12 * 4); // storage offset 12 elements
    expect(tensors.get('transposed')!.data.buffer).not.toBe(bytes.buffer); // gathered copy
  });

  it('strips the DataParallel module. prefix', () => {
    const result = parseCheckpoint(fixtureBytes('dataparallel.pt'));
    expect(result.strippedPrefix).toBe('module.');
    expectTensors(result.tensors, expected['float32.pt']);
  });

  it('unwraps {"model": state_dict, "step", "optimizer"}', () => {
    const result = parseCheckpoint(fixtureBytes('wrapped-model.pt'));
    expect(result.wrapperPath).toEqual(['model']);
    expectTensors(result.tensors, expected['float32.pt']);
  });

  it('prefers "ema" over "model", and follows an explicit key', () => {
    const ema = parseCheckpoint(fixtureBytes('wrapped-ema.pt'));
    expect(ema.wrapperPath).toEqual(['ema']);
    expectTensors(ema.tensors, expected['ema-of-wrapped-ema.pt']);
    const model = parseCheckpoint(fixtureBytes('wrapped-ema.pt'), { key: 'model' });
    expectTensors(model.tensors, expected['float32.pt']);
    expect(() => parseCheckpoint(fixtureBytes('wrapped-ema.pt'), { key: 'nope' })).toThrow(/no entry "nope"/);
  });

  it('refuses the legacy (pre-1.6) format with a way out', () => {
    expect(() => parseCheckpoint(fixtureBytes('legacy.pt'))).toThrow(/legacy.*re-save it with torch>=1\.6/);
  });

  it('reads any top folder name and unaligned, re-zipped storages', () => {
    const original = fixtureBytes('float32.pt');
    const entries = readZipEntries(original);
    const files: Record<string, Uint8Array> = {};
    for (const [name, entry] of entries)
      files[name.replace(/^float32\//, 'some-other.name/')] = readZipEntry(original, entry);
    expectTensors(parseCheckpoint(storedZip(files)).tensors, expected['float32.pt']);
  });

  it('byte-swaps storages of a big-endian file (byteorder = big)', () => {
    const original = fixtureBytes('dtypes.pt');
    const width: Record<string, number> = {};
    // element width per storage key, from the expected dtypes in file order
    const sizes: Record<string, number> = { float16: 2, bfloat16: 2, float64: 8, int64: 8, int32: 4, int16: 2 };
    Object.values(expected['dtypes.pt']).forEach((e, i) => {
      width[String(i)] = sizes[e.dtype] ?? 1;
    });
    const files: Record<string, Uint8Array> = { 'dtypes/byteorder': new TextEncoder().encode('big') };
    for (const [name, entry] of readZipEntries(original)) {
      const data = readZipEntry(original, entry).slice();
      const key = /\/data\/(\d+)$/.exec(name)?.[1];
      if (key !== undefined) {
        const w = width[key];
        for (let i = 0; i < data.length; i += w) data.subarray(i, i + w).reverse();
      }
      files[name] = data;
    }
    expectTensors(parseCheckpoint(storedZip(files)).tensors, expected['dtypes.pt']);
  });

  it('names a missing storage and a truncated file', () => {
    const original = fixtureBytes('float32.pt');
    const files: Record<string, Uint8Array> = {};
    for (const [name, entry] of readZipEntries(original)) {
      if (!name.endsWith('/data/1')) files[name] = readZipEntry(original, entry);
    }
    expect(() => parseCheckpoint(storedZip(files))).toThrow(/storage float32\/data\/1 is missing/);
    expect(() => parseCheckpoint(original.subarray(0, original.length - 30))).toThrow(/corrupt zip/);
  });
});
