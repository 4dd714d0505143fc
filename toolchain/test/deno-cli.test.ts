/**
 * The toolchain on Deno (the repo's `deno` devDependency) as on Node: `toolchain demo`'s pipeline on the tiny U-Net
 * (import, build-artifact with its report, edge graphs and the edge memory probe on a worker thread, sample), each
 * command run by both runtimes from the same checkpoint. The demo itself (mnist32, 256 calibration pairs) takes
 * minutes on this machine; these commands are the ones it runs.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './cli.ts';
import { TINY_UNET_FLAGS, writeTinyUnetCheckpoint } from './fixtures/tiny-unet.ts';
import { repoRoot } from './paths.ts';

const deno = resolve(repoRoot, 'node_modules/.bin/deno');
const runtimes = { node: [process.execPath], deno: [deno, 'run', '-A'] };
type Runtime = keyof typeof runtimes;

const work = mkdtempSync(join(tmpdir(), 'qdm-deno-'));
const checkpoint = join(work, 'weights.npz');
beforeAll(() => writeTinyUnetCheckpoint(checkpoint));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const dirOf = (runtime: Runtime, ...parts: string[]) => join(work, runtime, ...parts);
const read = (runtime: Runtime, ...parts: string[]) => readFileSync(dirOf(runtime, ...parts));

async function toolchain(runtime: Runtime, ...args: string[]): Promise<string> {
  // DENO_NO_UPDATE_CHECK: Deno's own release check is the only network it could reach for here.
  const result = await runCli(args, { runtime: runtimes[runtime], env: { DENO_NO_UPDATE_CHECK: '1' } });
  if (result.code !== 0) throw new Error(`${runtime} toolchain ${args[0]} exited ${result.code}: ${result.stderr}`);
  return result.stdout;
}

// Small on purpose, as in build-cli.test.ts: this checks the runtimes agree; quality is measured by the benches.
const quick = '--calib-samples 16 --calib-trajectories 4 --calib-steps ddim8 --report-samples 2 --report-steps ddim4';

/** The demo's steps, scaled down: the fp32 import, the default int8 recipe on a small calibration, samples. */
async function pipeline(runtime: Runtime): Promise<void> {
  const fp32 = dirOf(runtime, 'fp32');
  const built = dirOf(runtime, 'built');
  await toolchain(runtime, 'import', '--checkpoint', checkpoint, '--flags', TINY_UNET_FLAGS, '--out', fp32, '--quiet');
  await toolchain(runtime, 'build-artifact', '--artifact', fp32, '--out', built, ...quick.split(' '), '--quiet');
  const grid = ['--out', dirOf(runtime, 'int8.npz'), '--grid', dirOf(runtime, 'int8.png')];
  await toolchain(runtime, 'sample', '--artifact', built, '--variant', 'int8', '--n', '4', '--steps', 'ddim4', ...grid);
}

/**
 * A manifest without what differs between any two runs: its creation time, the edge graphs' sha256 (the
 * ORT-format writer does not repeat its bytes, on Node alone either: two Node builds of mnist32 differed there) and
 * the reports' digests (a report records the build's timings; its images are compared below).
 */
function manifest(runtime: Runtime, file: string): Record<string, unknown> {
  return JSON.parse(read(runtime, file).toString('utf8'), function (this: Record<string, unknown>, key, value) {
    return key === 'createdAt' || key === 'reports' || (key === 'sha256' && this.format === 'ort') ? '-' : value;
  });
}

/** The report's embedded images (the same-seed sample grids). */
function reportImages(runtime: Runtime, file: string): string[] {
  const html = read(runtime, file).toString('utf8');
  return [...html.matchAll(/data:image\/png;base64,([A-Za-z0-9+/=]+)/g)].map((m) => m[1]);
}

describe('toolchain on Deno', () => {
  it('is the binary the npm package installs with the repo', () => {
    expect(existsSync(deno), `${deno} missing: run npm ci`).toBe(true);
  });

  it('runs the demo pipeline (import, build-artifact, sample) with the bytes Node writes', async () => {
    await Promise.all([pipeline('node'), pipeline('deno')]);
    const graphs = ['fp32/model.fp32.onnx', 'built/model.fp32.onnx', 'built/model.int8.onnx'];
    for (const file of [...graphs, 'int8.npz', 'int8.png'])
      expect(read('deno', file).equals(read('node', file)), file).toBe(true);
    expect(manifest('deno', 'fp32/manifest.json')).toEqual(manifest('node', 'fp32/manifest.json'));
    const built = manifest('deno', 'built/manifest.json');
    expect(built).toEqual(manifest('node', 'built/manifest.json'));
    // The edge memory probe (onnxruntime-web on a worker thread) ran under Deno and read the same heap.
    const variants = built.variants as Record<string, { edgeGraph?: { memory?: { heapBytes: unknown[] } } }>;
    expect(variants.int8.edgeGraph?.memory?.heapBytes.length).toBeGreaterThan(0);
    const report = 'built/report.int8.html';
    expect(reportImages('deno', report).length).toBeGreaterThan(0);
    expect(reportImages('deno', report)).toEqual(reportImages('node', report));
  }, 600_000);
});
