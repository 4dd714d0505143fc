// `toolchain sample --sampler dpm++2m` on the real mnist32: sample k of a seed is the same alone or batched, both
// spellings give the same bytes, and the JSON names the sampler.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeNpz } from '@qdm/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importMnist32, runCli } from './cli.ts';

const work = mkdtempSync(join(tmpdir(), 'qdm-sampler-cli-'));
const artifact = join(work, 'mnist32');

beforeAll(() => importMnist32(artifact));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const base = ['sample', '--artifact', artifact, '--seed', '9', '--steps', 'ddim5', '--quiet'];

describe('toolchain sample --sampler dpm++2m', () => {
  it('batched and alone give the same samples; dpmpp2m is the same sampler', async () => {
    const batched = await runCli([
      ...base,
      '--n',
      '3',
      '--batch',
      '3',
      '--sampler',
      'dpm++2m',
      '--json',
      '--out',
      join(work, 'b.npz'),
    ]);
    expect(batched.code, batched.stderr).toBe(0);
    expect(JSON.parse(batched.stdout)).toMatchObject({ sampler: 'dpm++2m', steps: 5 });
    const alone = await runCli([
      ...base,
      '--n',
      '3',
      '--batch',
      '1',
      '--sampler',
      'dpmpp2m',
      '--out',
      join(work, 'a.npz'),
    ]);
    expect(alone.code, alone.stderr).toBe(0);
    expect(readFileSync(join(work, 'a.npz')).equals(readFileSync(join(work, 'b.npz')))).toBe(true);
    const ddim = await runCli([...base, '--n', '3', '--batch', '3', '--out', join(work, 'd.npz')]);
    expect(ddim.code, ddim.stderr).toBe(0);
    const raw = (file: string) => decodeNpz(readFileSync(join(work, file))).raw.data as Float32Array;
    expect(raw('d.npz')).not.toEqual(raw('b.npz'));
  });
});
