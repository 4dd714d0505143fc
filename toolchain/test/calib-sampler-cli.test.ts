// build-artifact --calib-sampler: the calibration pairs come from that sampler's fp32 trajectory, the manifest
// records the serving schedule, and `toolchain sample` uses it when the command line names no sampler or steps.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_SCHEDULE, parseManifest } from '@qdm/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importMnist32, runCli } from './cli.ts';

const work = mkdtempSync(join(tmpdir(), 'qdm-calib-sampler-'));
const fp32 = join(work, 'mnist32');
const built = join(work, 'built');
// Small on purpose: this checks the wiring.
const quick = ['--calib-samples', '12', '--calib-trajectories', '3', '--report-samples', '0', '--quiet'];

beforeAll(() => importMnist32(fp32));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('build-artifact --calib-sampler', () => {
  it('records the schedule, and toolchain sample serves it by default', async () => {
    const build = await runCli([
      'build-artifact',
      '--artifact',
      fp32,
      '--out',
      built,
      '--calib-sampler',
      'dpmpp2m',
      '--calib-steps',
      'ddim6',
      '--wide-steps',
      '1,1',
      ...quick,
    ]);
    expect(build.code, build.stderr).toBe(0);
    const manifest = parseManifest(JSON.parse(readFileSync(join(built, 'manifest.json'), 'utf8')));
    expect(manifest.variants.int8.schedule).toEqual({ sampler: 'dpm++2m', steps: 'ddim6' });
    expect(manifest.variants.int8.quantization?.calibration).toMatchObject({ sampler: 'dpm++2m', steps: 'ddim6' });
    expect(manifest.variants.fp32.schedule).toBeUndefined();

    const sample = (out: string, ...extra: string[]) =>
      runCli(['sample', '--artifact', built, '--variant', 'int8', '--n', '2', '--out', join(work, out), ...extra]);
    const implicit = await sample('implicit.npz', '--json');
    expect(implicit.code, implicit.stderr).toBe(0);
    expect(JSON.parse(implicit.stdout)).toMatchObject({
      sampler: 'dpm++2m',
      respacing: 'ddim6',
      steps: 6,
      schedule: 'variant',
    });
    const explicit = await sample('explicit.npz', '--sampler', 'dpm++2m', '--steps', 'ddim6', '--quiet');
    expect(explicit.code, explicit.stderr).toBe(0);
    expect(readFileSync(join(work, 'implicit.npz')).equals(readFileSync(join(work, 'explicit.npz')))).toBe(true);
    // a named field wins; an eta needs --sampler ddim named
    const ddim = await sample('ddim.npz', '--sampler', 'ddim', '--json');
    expect(JSON.parse(ddim.stdout)).toMatchObject({ sampler: 'ddim', respacing: 'ddim6', schedule: 'variant' });
    const eta = await sample('eta.npz', '--eta', '0.5');
    expect(eta.code).toBe(2);
    expect(eta.stderr).toMatch(/this variant serves dpm\+\+2m \(its calibration schedule\): add --sampler ddim/);
    const fp32Run = await runCli(['sample', '--artifact', built, '--n', '1', '--out', join(work, 'f.npz'), '--json']);
    expect(JSON.parse(fp32Run.stdout)).toMatchObject({
      sampler: 'ddim',
      respacing: DEFAULT_SCHEDULE.steps,
      schedule: 'default',
    });
  });

  it('refuses a sampler that cannot calibrate', async () => {
    const r = await runCli(['build-artifact', '--artifact', fp32, '--out', join(work, 'x'), '--calib-sampler', 'ddpm']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--calib-sampler must be ddim or dpm\+\+2m/);
  });
});
