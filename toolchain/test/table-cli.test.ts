/**
 * `toolchain table` on the real mnist32 model with three variants: fp32, `alt` (weights rounded to bfloat16,
 * labelled ptq4dm/normal) and an exact copy of fp32 with an HTML-hostile name (labelled full/uniform); MNIST
 * classifier features, held-out digits as reference, 8 samples at ddim5.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeNpz } from '@qdm/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './cli.ts';
import { mnist32Artifact } from './fixtures/mnist32-variants.ts';
import { sharedPath } from './paths.ts';

const work = mkdtempSync(join(tmpdir(), 'qdm-table-cli-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const artifact = join(work, 'mnist32');
const out = join(work, 'table');
const COPY = 'copy<b>"&|';
const classifier = sharedPath('models/mnist-classifier/mnist_classifier.onnx');
const common = ['--features', classifier, '--features-outputs', 'logits,features,-', '--ref', 'mnist:9000-9999'];

function arr0(path: string): Uint8Array {
  return decodeNpz(new Uint8Array(readFileSync(path))).arr_0.data as Uint8Array;
}

/** The mean of the images' PSNR (identical: 100 dB), written out here independently of @qdm/shared. */
function psnr(a: Uint8Array, b: Uint8Array, n: number): number {
  const size = a.length / n;
  let total = 0;
  for (let k = 0; k < n; k++) {
    let sum = 0;
    for (let i = k * size; i < (k + 1) * size; i++) sum += (a[i] - b[i]) ** 2;
    total += sum === 0 ? 100 : Math.min(100, 10 * Math.log10((255 * 255) / (sum / size)));
  }
  return total / n;
}

interface Row {
  variant: string;
  method: string;
  calibration: string;
  samples: string;
  fid: number;
  psnr_vs_fp32: number | null;
  ssim_vs_fp32: number;
  identical_to_fp32: boolean;
  [key: string]: unknown;
}

let table: { rows: Row[]; n_ref: number };
beforeAll(async () => {
  mkdirSync(artifact, { recursive: true });
  await mnist32Artifact(artifact, { copyName: COPY });
  const r = await runCli([
    'table',
    '--artifact',
    artifact,
    '--n',
    '8',
    '--steps',
    'ddim5',
    ...common,
    '--out',
    out,
    '--json',
  ]);
  expect(r.code, r.stderr).toBe(0);
  table = JSON.parse(r.stdout);
}, 120_000);

describe('toolchain table', () => {
  it('has one row per variant, fp32 first, labelled from the manifest', () => {
    expect(table.rows.map((r) => r.variant)).toEqual(['fp32', 'alt', COPY]);
    expect(table.rows.map((r) => r.method)).toEqual(['fp32', 'ptq4dm W8A8', 'full W8A8 gptq']);
    expect(table.rows.map((r) => r.calibration)).toEqual(['—', 'normal', 'uniform']);
    for (const row of table.rows) {
      for (const key of ['is', 'fid', 'sfid', 'precision', 'recall', 'psnr_vs_fp32']) expect(row).toHaveProperty(key);
      expect(row.fid).toBeGreaterThan(0);
      expect(row.sfid).toBeNull();
    }
    expect(table.n_ref).toBe(1000);
  });

  it('samples every variant with the seeds of `toolchain sample`, and compares them with fp32', async () => {
    const files = table.rows.map((r) => r.samples);
    const sampled = join(work, 'sampled.npz');
    const s = await runCli(['sample', '--artifact', artifact, '--n', '8', '--steps', 'ddim5', '--out', sampled]);
    expect(s.code, s.stderr).toBe(0);
    const [fp32, alt, copy] = files.map(arr0);
    expect(fp32).toEqual(arr0(sampled));
    expect(copy).toEqual(fp32);
    const [, altRow, copyRow] = table.rows;
    expect(copyRow).toMatchObject({ psnr_vs_fp32: 100, mse_vs_fp32: 0, identical_to_fp32: true, ssim_vs_fp32: 1 });
    expect(copyRow.fid).toBe(table.rows[0].fid);
    expect(altRow.identical_to_fp32).toBe(false);
    expect(altRow.psnr_vs_fp32).toBeCloseTo(psnr(fp32, alt, 8), 10);
    expect(altRow.ssim_vs_fp32).toBeGreaterThan(0.5);
    expect(altRow.ssim_vs_fp32).toBeLessThan(1);
  });

  it('--sampler dpmpp2m samples every variant with DPM-Solver++(2M), as `toolchain sample --sampler dpm++2m`', async () => {
    const dpmOut = join(work, 'table-dpm');
    const r = await runCli([
      'table',
      '--artifact',
      artifact,
      '--variants',
      'fp32',
      '--n',
      '4',
      '--steps',
      'ddim5',
      '--sampler',
      'dpmpp2m',
      ...common,
      '--out',
      dpmOut,
      '--json',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const dpm = JSON.parse(r.stdout);
    expect(dpm.sampler).toBe('dpm++2m');
    const sampled = join(work, 'sampled-dpm.npz');
    const args = ['sample', '--artifact', artifact, '--n', '4', '--steps', 'ddim5', '--sampler', 'dpm++2m'];
    const s = await runCli([...args, '--out', sampled]);
    expect(s.code, s.stderr).toBe(0);
    expect(arr0(dpm.rows[0].samples)).toEqual(arr0(sampled));
    expect(arr0(dpm.rows[0].samples)).not.toEqual(arr0(table.rows[0].samples).subarray(0, 4 * 32 * 32 * 3));
  });

  it('agrees with `toolchain eval` on the same samples', async () => {
    const r = await runCli(['eval', '--samples', table.rows[1].samples, ...common, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const evaluated = JSON.parse(r.stdout);
    for (const key of ['is', 'fid', 'precision', 'recall']) expect(evaluated[key]).toBe(table.rows[1][key]);
  });

  it('writes table.md, table.json and a self-contained, escaped table.html', () => {
    const md = readFileSync(join(out, 'table.md'), 'utf8');
    const lines = md.split('\n').filter((l) => l.startsWith('|'));
    expect(lines).toHaveLength(5);
    expect(lines[0]).toMatch(
      /^\| variant \| method \| calibration \| IS \| FID \| sFID \| precision \| recall \| PSNR/,
    );
    expect(lines[4]).toMatch(/^\| copy&lt;b&gt;"&amp;\\\| \| full W8A8 gptq \| uniform \|.* 100\.00 \|$/);
    expect(JSON.parse(readFileSync(join(out, 'table.json'), 'utf8')).rows).toEqual(table.rows);
    const html = readFileSync(join(out, 'table.html'), 'utf8');
    expect(html).toContain('copy&lt;b&gt;&quot;&amp;|');
    expect(html).not.toContain('<b>"');
    const refs = [...html.matchAll(/\s(?:src|href)="([^"]*)"/g)].map((m) => m[1]);
    expect(refs).toHaveLength(3); // one grid per variant
    for (const ref of refs) expect(ref).toMatch(/^data:image\/png;base64,/);
    expect(html).not.toMatch(/https?:\/\//);
  });
});
