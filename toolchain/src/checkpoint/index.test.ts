import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Tensor } from '@qdm/shared';
import { afterAll, describe, expect, it } from 'vitest';
import { sharedPath } from '../../test/paths.ts';
import { CheckpointError, countParameters, parseCheckpoint, readCheckpoint } from './index.ts';
import { fixtureBytes, fixtureJson, fixturePath } from './test-fixtures.ts';
import { readZipEntries } from './zip.ts';

interface Expected {
  dtype: string;
  shape: number[];
  values: (number | string)[];
}
const expected = fixtureJson<Record<string, Record<string, Expected>>>('expected.json');
const scratch = mkdtempSync(join(tmpdir(), 'qdm-ckpt-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function plain(t: Tensor): (number | string)[] {
  if (t.dtype === 'int64') return Array.from(t.data as BigInt64Array, String);
  return Array.from(t.data as ArrayLike<number>, (v) => (Number.isFinite(v) ? v : String(v)));
}

function expectMatches(tensors: Map<string, Tensor>, want: Record<string, Expected>) {
  expect([...tensors.keys()].sort()).toEqual(Object.keys(want).sort());
  for (const [name, w] of Object.entries(want)) {
    const t = tensors.get(name)!;
    expect(t.shape, name).toEqual(w.shape);
    expect(plain(t), name).toEqual(w.values);
  }
}

describe('readCheckpoint dispatches on content', () => {
  it('reads safetensors (F32 F16 BF16 F64 I64 I32 I8 U8)', async () => {
    const result = await readCheckpoint(fixturePath('model.safetensors'));
    expect(result.format).toBe('safetensors');
    expectMatches(result.tensors, expected['model.safetensors']);
    expect(result.tensors.get('f16')!.dtype).toBe('float32');
  });

  it('reads an .npz state dict', async () => {
    const result = await readCheckpoint(fixturePath('state.npz'));
    expect(result.format).toBe('npz');
    expectMatches(result.tensors, expected['state.npz']);
  });

  it('does not trust the file name', async () => {
    const renamed = join(scratch, 'weights.safetensors');
    writeFileSync(renamed, fixtureBytes('float32.pt'));
    expect((await readCheckpoint(renamed)).format).toBe('torch-zip');
  });

  it('reports sha256 and size of the file', async () => {
    const result = await readCheckpoint(fixturePath('float32.pt'));
    expect(result.bytes).toBe(fixtureBytes('float32.pt').length);
    expect(result.sha256).toMatch(/^[0-9a-f]{64}$/);
  });

  it('gives clear errors for missing, empty, corrupt and foreign files', async () => {
    await expect(readCheckpoint(join(scratch, 'nope.pt'))).rejects.toThrow(/checkpoint not found: .*nope\.pt/);
    await expect(readCheckpoint(scratch)).rejects.toThrow(/is a directory/);
    const empty = join(scratch, 'empty.pt');
    writeFileSync(empty, '');
    await expect(readCheckpoint(empty)).rejects.toThrow(/empty/);
    const text = join(scratch, 'notes.txt');
    writeFileSync(text, 'hello, not a checkpoint');
    await expect(readCheckpoint(text)).rejects.toThrow(/unrecognized checkpoint format/);
    const st = fixtureBytes('model.safetensors');
    expect(() => parseCheckpoint(st.subarray(0, st.length - 4))).toThrow(CheckpointError);
  });
});

interface Mnist32Reference {
  sha256: string;
  bytes: number;
  tensors: number;
  parameters: number;
  firstKeys: string[];
  lastKey: string;
  picks: Record<string, { shape: number[]; first: number[]; last: number; sum: number }>;
}

describe('the real mnist32 improved-diffusion checkpoint', () => {
  const reference = fixtureJson<Mnist32Reference>('mnist32-ema.json');

  it('matches the numbers torch.load printed', async () => {
    const path = sharedPath('models/mnist32/ema.pt');
    const result = await readCheckpoint(path);
    expect(result.format).toBe('torch-zip');
    expect(result.sha256).toBe(reference.sha256);
    expect(result.bytes).toBe(reference.bytes);
    expect(result.tensors.size).toBe(204);
    expect(countParameters(result.tensors)).toBe(1_629_478);
    const keys = [...result.tensors.keys()];
    expect(keys.slice(0, 3)).toEqual(reference.firstKeys);
    expect(keys[keys.length - 1]).toBe(reference.lastKey);
    for (const [name, pick] of Object.entries(reference.picks)) {
      const t = result.tensors.get(name)!;
      const data = t.data as Float32Array;
      expect(t.dtype).toBe('float32');
      expect(t.shape).toEqual(pick.shape);
      expect(Array.from(data.subarray(0, 4))).toEqual(pick.first);
      expect(data[data.length - 1]).toBe(pick.last);
      let sum = 0;
      for (const v of data) sum += v;
      expect(sum).toBeCloseTo(pick.sum, 9);
    }
  });

  it('lives under the top folder ema/', async () => {
    const { readFile } = await import('node:fs/promises');
    const names = [...readZipEntries(await readFile(sharedPath('models/mnist32/ema.pt'))).keys()];
    expect(names).toContain('ema/data.pkl');
    expect(names.every((n) => n.startsWith('ema/'))).toBe(true);
  });
});
