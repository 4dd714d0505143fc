import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeNpz, decodePng } from '@qdm/shared';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from './cli.ts';
import { sharedPath } from './paths.ts';

const work = mkdtempSync(join(tmpdir(), 'qdm-cli-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('toolchain CLI', () => {
  it('lists its commands and explains each one', async () => {
    const root = await runCli(['--help']);
    expect(root.code).toBe(0);
    for (const command of ['import', 'sample', 'build-artifact', 'eval', 'push', 'pull', 'ls']) {
      expect(root.stdout).toContain(command);
    }
    const sample = await runCli(['sample', '--help']);
    expect(sample.code).toBe(0);
    expect(sample.stdout).toMatch(/--init-noise/);
    expect(sample.stdout).toMatch(/--steps/);
  });

  it('refuses unknown options and bad values with exit 2 and the flag named', async () => {
    const typo = await runCli(['sample', '--artifact', work, '--step', 'ddim5', '--out', join(work, 'x.npz')]);
    expect(typo.code).toBe(2);
    expect(typo.stderr).toMatch(/unknown option --step\b/);
    const bad = await runCli(['sample', '--artifact', work, '--n', 'many', '--out', join(work, 'x.npz')]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--n must be an integer/);
    expect(bad.stderr).not.toMatch(/\n\s+at /); // no stack trace
  });

  it('reports a missing artifact in one line, as JSON with --json', async () => {
    const missing = await runCli(['sample', '--artifact', join(work, 'nope'), '--out', join(work, 'x.npz'), '--json']);
    expect(missing.code).toBe(1);
    expect(JSON.parse(missing.stdout)).toMatchObject({ ok: false, command: 'sample' });
    expect(missing.stderr.trim().split('\n')).toHaveLength(1);
    expect(missing.stderr).toMatch(/not an artifact folder/);
  });

  it('imports mnist32 and samples digits from it', async () => {
    const artifact = join(work, 'mnist32');
    const flagsText = readFileSync(sharedPath('models/mnist32/flags.json'), 'utf8');
    writeFileSync(join(work, 'flags.json'), flagsText);
    const imported = await runCli([
      'import',
      '--checkpoint',
      sharedPath('models/mnist32/ema.pt'),
      '--flags',
      join(work, 'flags.json'),
      '--out',
      artifact,
      '--json',
    ]);
    expect(imported.code, imported.stderr).toBe(0);
    const manifest = JSON.parse(imported.stdout).manifest;
    expect(manifest.model.parameters).toBe(1_629_478);
    expect(manifest.variants.fp32.file).toBe('model.fp32.onnx');

    const out = join(work, 'samples.npz');
    const grid = join(work, 'grid.png');
    const sampled = await runCli([
      'sample',
      '--artifact',
      artifact,
      '--n',
      '3',
      '--seed',
      '7',
      '--steps',
      'ddim5',
      '--batch',
      '2',
      '--out',
      out,
      '--grid',
      grid,
      '--json',
    ]);
    expect(sampled.code, sampled.stderr).toBe(0);
    expect(JSON.parse(sampled.stdout)).toMatchObject({ ok: true, n: 3, steps: 5, seed: 7 });
    const arrays = decodeNpz(new Uint8Array(readFileSync(out)));
    expect(arrays.arr_0.shape).toEqual([3, 32, 32, 3]);
    expect(arrays.raw.shape).toEqual([3, 3, 32, 32]);
    const raw = arrays.raw.data as Float32Array;
    expect(Math.max(...raw)).toBeLessThanOrEqual(1);
    expect(Math.min(...raw)).toBeGreaterThanOrEqual(-1);
    const png = decodePng(new Uint8Array(readFileSync(grid)));
    expect(png.width).toBeGreaterThan(64);
  });
});

describe('toolchain import --winograd', () => {
  it('writes fp32-winograd on the convs its timings chose; it samples the same images as fp32', async () => {
    const artifact = join(work, 'mnist32-winograd');
    const flags = sharedPath('models/mnist32/flags.json');
    const checkpoint = sharedPath('models/mnist32/ema.pt');
    const importArgs = ['import', '--checkpoint', checkpoint, '--flags', flags, '--out', artifact];
    const bad = await runCli([...importArgs, '--winograd', '3']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--winograd must be one of 2, 4/);
    const lonely = await runCli([...importArgs, '--winograd-timings', 'x.json']);
    expect(lonely.code).toBe(2);
    expect(lonely.stderr).toMatch(/--winograd-timings needs --winograd/);

    // Real mnist32 timings (Winograd lost at batch 16 on every shape): no variant, and the reason says so.
    const recorded = join(import.meta.dirname, 'fixtures/winograd/mnist32-f4-epyc.json');
    const timings = JSON.parse(readFileSync(recorded, 'utf8')).timings;
    const slowFile = join(work, 'slow-timings.json');
    writeFileSync(slowFile, JSON.stringify(timings));
    const slow = await runCli([...importArgs, '--winograd', '4', '--winograd-timings', slowFile, '--json']);
    expect(slow.code, slow.stderr).toBe(0);
    const slowResult = JSON.parse(slow.stdout);
    expect(slowResult.manifest.variants['fp32-winograd']).toBeUndefined();
    expect(slowResult.winograd).toMatchObject({ written: false, convs: [] });

    // Replayed timings where the 32 px shapes and the whole graph were faster: exactly those convs are rewritten.
    const fast = {
      ...timings,
      convs: timings.convs.map((t: { size: number; plainMs: number }) => ({
        ...t,
        winogradMs: t.size === 32 ? 0.5 * t.plainMs : 2 * t.plainMs,
      })),
      graph: [{ batch: 1, threads: 1, plainMs: 10, winogradMs: 8 }],
    };
    const fastFile = join(work, 'fast-timings.json');
    writeFileSync(fastFile, JSON.stringify(fast));
    const imported = await runCli([...importArgs, '--winograd', '4', '--winograd-timings', fastFile, '--json']);
    expect(imported.code, imported.stderr).toBe(0);
    const result = JSON.parse(imported.stdout);
    const variant = result.manifest.variants['fp32-winograd'];
    expect(variant).toMatchObject({ precision: 'fp32', winograd: { tile: 4 }, file: 'model.fp32-winograd.onnx' });
    expect(result.winograd.written).toBe(true);
    expect(result.winograd.convs.length).toBeGreaterThan(0);
    expect(result.winograd.convs).toContain('input_blocks.1.0.in_layers.2'); // 32 px
    expect(result.winograd.convs).not.toContain('input_blocks.3.0.in_layers.2'); // 16 px

    const raw = async (name: string) => {
      const out = join(work, `${name}.npz`);
      const sample = ['sample', '--artifact', artifact, '--variant', name, '--n', '2', '--steps', 'ddim4'];
      const sampled = await runCli([...sample, '--seed', '3', '--out', out, '--quiet']);
      expect(sampled.code, sampled.stderr).toBe(0);
      return decodeNpz(new Uint8Array(readFileSync(out))).raw.data as Float32Array;
    };
    const plain = await raw('fp32');
    const winograd = await raw('fp32-winograd');
    let maxAbs = 0;
    for (let i = 0; i < plain.length; i++) maxAbs = Math.max(maxAbs, Math.abs(plain[i] - winograd[i]));
    expect(maxAbs).toBeGreaterThan(0); // a different graph ran
    expect(maxAbs).toBeLessThan(1e-3);
  });
});
