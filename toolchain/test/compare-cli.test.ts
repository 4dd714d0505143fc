/**
 * `toolchain compare` against two real edge servers (edge/src/node.ts, Node, started here on random ports over a
 * folder holding the mnist32 artifact with its bf16-rounded `alt` variant) and one dead URL.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeNpz } from '@qdm/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './cli.ts';
import { mnist32Artifact } from './fixtures/mnist32-variants.ts';
import { repoRoot, sharedPath } from './paths.ts';

const work = mkdtempSync(join(tmpdir(), 'qdm-compare-cli-'));
const store = join(work, 'store');
const servers: ChildProcess[] = [];
const classifier = sharedPath('models/mnist-classifier/mnist_classifier.onnx');

/** Starts the Node edge server on a random port; resolves with its base URL once it listens. */
function startEdge(env: Record<string, string>): Promise<string> {
  const child = spawn(process.execPath, [join(repoRoot, 'edge/src/node.ts')], {
    env: { ...process.env, HOST: '127.0.0.1', PORT: '0', QDM_ARTIFACTS: store, ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  servers.push(child);
  return new Promise((ready, fail) => {
    let log = '';
    child.stderr!.setEncoding('utf8').on('data', (s: string) => {
      log += s;
      const m = /qdm edge on (http:\/\/[\d.]+:\d+)/.exec(log);
      if (m) ready(m[1]);
    });
    child.on('exit', (code) => fail(new Error(`edge server exited (${code}): ${log}`)));
  });
}

/** A URL nothing listens on: a port the system just handed out and took back. */
function deadUrl(): Promise<string> {
  return new Promise((done) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => done(`http://127.0.0.1:${port}`));
    });
  });
}

function arr0(path: string): Uint8Array {
  return decodeNpz(new Uint8Array(readFileSync(path))).arr_0.data as Uint8Array;
}

let a: string;
let b: string;
beforeAll(async () => {
  mkdirSync(join(store, 'mnist32'), { recursive: true });
  await mnist32Artifact(join(store, 'mnist32'));
  [a, b] = await Promise.all([startEdge({ QDM_DEFAULT_VARIANT: 'fp32' }), startEdge({})]);
}, 120_000);

afterAll(() => {
  for (const child of servers) child.kill();
  rmSync(work, { recursive: true, force: true });
});

describe('toolchain compare', () => {
  it('reports latency, same-seed agreement and FID between fp32 and alt', async () => {
    const out = join(work, 'cmp');
    const r = await runCli([
      'compare',
      '--a',
      a,
      '--b',
      `${b}/sample?model=mnist32&variant=alt`,
      '--seeds',
      '3-8',
      '--steps',
      'ddim5',
      '--concurrency',
      '2',
      '--features',
      classifier,
      '--ref',
      'mnist:9000-9199',
      '--out',
      out,
      '--json',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.seeds).toEqual([3, 4, 5, 6, 7, 8]);
    for (const [label, variant] of [
      ['a', 'fp32'],
      ['b', 'alt'],
    ]) {
      const e = report[label];
      expect(e).toMatchObject({ ok: true, n_ok: 6, n_failed: 0, errors: [] });
      expect(e.info).toMatchObject({ model: 'mnist32', variant, steps: '5 (ddim5)' });
      expect(e.cold.seed).toBe(3);
      expect(e.cold.ms).toBeGreaterThan(0);
      expect(e.cold.server_load_ms).toBeGreaterThan(0); // the first request loads the session
      expect(e.warm.count).toBe(5);
      expect(e.warm.p50).toBeLessThanOrEqual(e.warm.p95);
      expect(e.warm.p95).toBeLessThanOrEqual(e.warm.p99);
    }
    const [x, y] = [arr0(join(out, 'a.npz')), arr0(join(out, 'b.npz'))];
    // The mean of the six images' PSNR, written out here (no image is identical: none is capped).
    const size = x.length / 6;
    let mean = 0;
    for (let k = 0; k < 6; k++) {
      let sum = 0;
      for (let i = k * size; i < (k + 1) * size; i++) sum += (x[i] - y[i]) ** 2;
      mean += (10 * Math.log10((255 * 255 * size) / sum)) / 6;
    }
    expect(report.pair.n).toBe(6);
    expect(report.pair.identical).toBe(false);
    expect(report.pair.psnr).toBeCloseTo(mean, 10);
    expect(report.pair.ssim).toBeGreaterThan(0.5);
    expect(report.pair.ssim).toBeLessThan(1);
    expect(report.fid.a_b).toBeGreaterThan(0);
    expect(report.fid.a_ref).toBeGreaterThan(0);
    expect(report.fid.b_ref).toBeGreaterThan(0);
    expect(report.is.a).toBeGreaterThan(1);
    expect(JSON.parse(readFileSync(join(out, 'compare.json'), 'utf8')).pair).toEqual(report.pair);
    const html = readFileSync(join(out, 'compare.html'), 'utf8');
    for (const m of html.matchAll(/\s(?:src|href)="([^"]*)"/g)) expect(m[1]).toMatch(/^data:image\/png;base64,/);
    // Metrics in words, not compare.json's keys.
    for (const label of ['Inception Score of a', 'FID a vs b', 'FID b vs the reference']) expect(html).toContain(label);
    expect(html).not.toContain('fid_a_b');
  });

  it('reports a dead endpoint with its errors and still writes the report', async () => {
    const out = join(work, 'dead');
    const dead = await deadUrl();
    const r = await runCli(['compare', '--a', a, '--b', dead, '--n', '3', '--steps', 'ddim5', '--out', out, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.a).toMatchObject({ ok: true, n_ok: 3 });
    expect(report.b).toMatchObject({ ok: false, n_ok: 0, n_failed: 1, n_skipped: 2, cold: null, warm: null });
    expect(report.b.errors[0].attempts).toBe(3); // --retries 2
    expect(report.b.errors[0].errors[0]).toMatch(/ECONNREFUSED/);
    expect(report.pair).toMatchObject({ n: 0, psnr: null });
    expect(report.fid.a_b).toBeNull();
    expect(report.reasons.fid_a_b).toMatch(/--features/);
    const html = readFileSync(join(out, 'compare.html'), 'utf8');
    expect(html).toContain('ECONNREFUSED');
    expect(html).toContain('2 seeds not requested');
  });

  it('refuses bad flags with exit 2', async () => {
    const bad = await runCli(['compare', '--a', 'localhost', '--b', b, '--out', join(work, 'x')]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--a must be a URL/);
    const seeds = await runCli(['compare', '--a', a, '--b', b, '--seeds', '0-3', '--n', '5', '--out', join(work, 'x')]);
    expect(seeds.code).toBe(2);
    expect(seeds.stderr).toMatch(/--n 5 does not match the 4 seeds/);
  });
});
