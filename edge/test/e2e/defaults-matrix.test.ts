/**
 * The defaults matrix: what a user runs, end to end, for each recipe flag on its own (and no flag at all), on a tiny
 * seeded U-Net. Every program runs as a user runs it: `toolchain import` of an .npz checkpoint, `toolchain
 * build-artifact` into a folder store, `toolchain push` to S3 (s3rver), `toolchain sample` from S3, the Node edge
 * (`npm run serve`) on native over S3 and on wasm over the folder, `wrangler dev` (workerd, local R2) and the
 * page's in-browser sampler in Chromium (`npm run seed:r2` publishes to wrangler's R2). Nothing from the toolchain's
 * sources is imported and the programs are reached by CLI and HTTP only (s3rver and wrangler are the edge tests'
 * fixtures).
 *
 * Each cell asserts: the build exits 0 with the variants the flag makes; the manifest names every file in the
 * folder, the bytes match each sha256 and size it records, and it records one for every file; every section of
 * the build report has data and no table column is empty; the edge's images for a seed equal `toolchain sample`'s (native: identical bytes; wasm: >= 36 dB PSNR) and
 * workerd's equal the wasm edge's bytes; for W8A8 and W4A8 the browser's equal the server's.
 *
 * Expensive setup is shared: one import, one s3rver, one edge per runtime and one wrangler dev serving every
 * cell's artifact, one Chromium. Cells build one after the other (the builds use both cores already).
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeNpy, decodeNpz } from '@qdm/shared';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalS3, startLocalS3 } from '../fixtures/s3rver.ts';
import { startWranglerDev, type WranglerDev } from '../fixtures/wrangler-dev.ts';
import { manifestProblems, psnrDb, readManifest, reportProblems, UNHASHED } from './checks.ts';
import { type EdgeServer, startEdge, toolchain, toolchainOk } from './processes.ts';
import { TINY_FLAGS, writeTinyCheckpoint } from './tiny-checkpoint.ts';

interface Cell {
  /** Also the artifact's name, so one edge serves every cell at once. */
  name: string;
  flags: string[];
  /** The quantized variants the flags make. */
  variants: string[];
}

const CELLS: Cell[] = [
  { name: 'defaults', flags: [], variants: ['int8'] },
  { name: 'wbits-8', flags: ['--wbits', '8'], variants: ['int8'] },
  { name: 'wbits-4', flags: ['--wbits', '4'], variants: ['w4a8'] },
  { name: 'wbits-8-4', flags: ['--wbits', '8,4'], variants: ['int8', 'w4a8'] },
  { name: 'abits-16', flags: ['--abits', '16'], variants: ['w8a16'] },
  { name: 'scheme-ptq4dm', flags: ['--scheme', 'ptq4dm'], variants: ['int8'] },
  { name: 'scheme-qdiff', flags: ['--scheme', 'qdiff'], variants: ['int8'] },
  { name: 'scheme-full', flags: ['--scheme', 'full'], variants: ['int8'] },
  { name: 'recon-gptq', flags: ['--recon', 'gptq'], variants: ['int8'] },
  { name: 'recon-adaround', flags: ['--recon', 'adaround'], variants: ['int8'] },
  { name: 'noise-correction-ptqd', flags: ['--noise-correction', 'ptqd'], variants: ['int8'] },
  { name: 'wide-steps-off', flags: ['--wide-steps', 'off'], variants: ['int8'] },
];
/** The cells whose W8A8 and W4A8 variants also run in the browser. */
const BROWSER: [cell: string, variant: string][] = [
  ['wbits-8', 'int8'],
  ['wbits-4', 'w4a8'],
];

// Small on purpose (seconds a cell): this checks that every recipe runs everywhere; quality is the benches' job.
const QUICK = ['--calib-samples', '16', '--calib-trajectories', '4', '--calib-steps', 'ddim8'];
const REPORT = ['--report-samples', '2', '--report-steps', 'ddim4'];
const SAMPLE = { n: 2, steps: 'ddim5' };
const REPORT_SECTIONS = [
  'variants',
  'samples',
  'steps',
  'ranges',
  'calibration',
  'layers',
  'float',
  'timings',
  'model',
];
const BUCKET = 'qdm-e2e';
const S3_PREFIX = `s3://${BUCKET}/artifacts`;
const CHROMIUM = process.env.QDM_CHROMIUM ?? '/usr/bin/chromium';

const work = join(process.env.QDM_EDGE_TMP ?? tmpdir(), 'defaults-matrix');
const fp32Dir = join(work, 'fp32', 'tiny');
const store = join(work, 'store');
const seedOf = (cell: Cell) => 100 + CELLS.indexOf(cell);

interface Built {
  /** `toolchain sample` of each variant (fp32 too), float32 NCHW in [-1, 1], from the S3 copy. */
  reference: Map<string, Float32Array>;
}
const built = new Map<string, Built>();
const timings = new Map<string, Record<string, number>>();
const time = (cell: string, stage: string, seconds: number) => {
  const t = timings.get(cell) ?? {};
  t[stage] = Number(((t[stage] ?? 0) + seconds).toFixed(2));
  timings.set(cell, t);
};
async function timed<T>(cell: string, stage: string, run: () => Promise<T>): Promise<T> {
  const started = performance.now();
  try {
    return await run();
  } finally {
    time(cell, stage, (performance.now() - started) / 1000);
  }
}

let s3: LocalS3;
const matrixStarted = performance.now();

beforeAll(async () => {
  await mkdir(store, { recursive: true });
  const checkpoint = join(work, 'tiny.npz');
  await writeTinyCheckpoint(checkpoint);
  await timed('setup', 'import', () =>
    toolchainOk(['import', '--checkpoint', checkpoint, '--flags', TINY_FLAGS, '--out', fp32Dir, '--quiet']),
  );
  s3 = await startLocalS3(BUCKET);
}, 120_000);

afterAll(async () => {
  await s3?.stop();
  time('setup', 'matrix total', (performance.now() - matrixStarted) / 1000);
  const rows = [...timings].map(([cell, t]) => ({ cell, ...t }));
  console.info(`defaults matrix timings (s): ${JSON.stringify(rows)}`);
});

function variantsOf(cell: Cell): string[] {
  return ['fp32', ...cell.variants];
}

function requireBuilt(cell: Cell): Built {
  const b = built.get(cell.name);
  if (!b) throw new Error(`${cell.name}: not built or not published (see its build test)`);
  return b;
}

describe('defaults matrix: build-artifact, publish, toolchain sample', () => {
  for (const cell of CELLS) {
    const dir = join(store, cell.name);

    it(`${cell.name}: build-artifact ${cell.flags.join(' ') || '(no flags)'} makes ${cell.variants.join(', ')}`, async () => {
      const args = ['build-artifact', '--artifact', fp32Dir, '--out', dir, '--name', cell.name, ...QUICK, ...REPORT];
      const result = await timed(cell.name, 'build', () => toolchain([...args, ...cell.flags, '--quiet']));
      expect(result.code, result.stderr.trim().slice(-3000)).toBe(0);
      const manifest = await readManifest(dir);
      expect(manifest.name).toBe(cell.name);
      expect(Object.keys(manifest.variants).sort()).toEqual(variantsOf(cell).sort());
    }, 300_000);

    it(`${cell.name}: the manifest names every file, and the bytes match each sha256 and size it records`, async () => {
      expect(existsSync(join(dir, 'manifest.json')), 'no manifest: the build failed').toBe(true);
      const problems = await manifestProblems(dir);
      expect(problems.filter((p) => !p.endsWith(UNHASHED))).toEqual([]);
    });

    it(`${cell.name}: the manifest records a sha256 for every file it names, the build report too`, async () => {
      expect(existsSync(join(dir, 'manifest.json')), 'no manifest: the build failed').toBe(true);
      expect((await manifestProblems(dir)).filter((p) => p.endsWith(UNHASHED))).toEqual([]);
    });

    it(`${cell.name}: every section of the build report has data, no table column is empty`, async () => {
      const manifest = await readManifest(dir);
      for (const variant of cell.variants) expect(manifest.variants[variant].report).toBe(manifest.report);
      const report = await readFile(join(dir, manifest.report ?? 'no report in the manifest'), 'utf8');
      expect(reportProblems(report, REPORT_SECTIONS)).toEqual([]);
      // Every variant of the build in the report's variant table and sample grids.
      for (const variant of variantsOf(cell)) expect(report).toContain(`<b>${variant}</b>`);
    });

    it(`${cell.name}: toolchain push to S3, then toolchain sample from S3 for each variant`, async () => {
      expect(existsSync(join(dir, 'manifest.json')), 'no manifest: the build failed').toBe(true);
      await timed(cell.name, 'push', () => toolchainOk(['push', '--from', dir, '--to', S3_PREFIX, '--quiet'], s3.env));
      const reference = new Map<string, Float32Array>();
      for (const variant of variantsOf(cell)) {
        const out = join(work, `${cell.name}.${variant}.npz`);
        const args = ['sample', '--artifact', `${S3_PREFIX}/${cell.name}`, '--variant', variant, '--seed'];
        args.push(String(seedOf(cell)), '--n', String(SAMPLE.n), '--steps', SAMPLE.steps, '--out', out, '--quiet');
        await timed(cell.name, 'toolchain sample', () => toolchainOk(args, s3.env));
        const raw = decodeNpz(new Uint8Array(await readFile(out))).raw;
        expect(raw.shape).toEqual([SAMPLE.n, 3, 8, 8]);
        reference.set(variant, raw.data as Float32Array);
      }
      built.set(cell.name, { reference });
    }, 120_000);
  }
});

describe('defaults matrix: the edge serves what toolchain sample makes', () => {
  let native: EdgeServer;
  let wasm: EdgeServer;
  let worker: WranglerDev;

  beforeAll(async () => {
    const dirs = CELLS.filter((c) => built.has(c.name)).map((c) => join(store, c.name));
    [native, wasm, worker] = await timed('setup', 'edge servers', () =>
      Promise.all([
        startEdge({ ...s3.env, QDM_ARTIFACTS: S3_PREFIX, QDM_RUNTIME: 'native' }),
        startEdge({ QDM_ARTIFACTS: store, QDM_RUNTIME: 'wasm' }),
        dirs.length > 0 ? startWranglerDev(dirs) : (undefined as unknown as WranglerDev),
      ]),
    );
  }, 180_000);

  afterAll(async () => {
    await Promise.all([native?.stop(), wasm?.stop(), worker?.stop()]);
  });

  async function sample(base: string, cell: Cell, variant: string): Promise<Response> {
    const query = new URLSearchParams({ model: cell.name, variant, seed: String(seedOf(cell)), format: 'npy' });
    query.set('n', String(SAMPLE.n));
    query.set('steps', SAMPLE.steps);
    return fetch(`${base}/sample?${query}`);
  }
  async function floats(res: Response, what: string): Promise<Float32Array> {
    const body = new Uint8Array(await res.arrayBuffer());
    expect(res.status, `${what}: ${new TextDecoder().decode(body.slice(0, 500))}`).toBe(200);
    const npy = decodeNpy(body);
    expect(npy.shape, what).toEqual([SAMPLE.n, 3, 8, 8]);
    return npy.data as Float32Array;
  }

  for (const cell of CELLS) {
    it(`${cell.name}: native (S3) = toolchain sample bytes; wasm (folder) >= 36 dB; workerd = wasm bytes`, async () => {
      const { reference } = requireBuilt(cell);
      const models = (await (await fetch(`${worker.base}/models`)).json()) as {
        models: { name: string; variants: Record<string, { servable?: boolean }> }[];
      };
      const onWorker = models.models.find((m) => m.name === cell.name);
      expect(onWorker, `workerd does not list ${cell.name}`).toBeDefined();
      const psnrs: Record<string, number> = {};
      for (const variant of variantsOf(cell)) {
        const expected = reference.get(variant)!;
        const fromNative = await timed(cell.name, 'edge native', async () =>
          floats(await sample(native.base, cell, variant), `native ${variant}`),
        );
        expect(Buffer.from(fromNative.buffer).equals(Buffer.from(expected.buffer)), `native ${variant}`).toBe(true);
        const fromWasm = await timed(cell.name, 'edge wasm', async () =>
          floats(await sample(wasm.base, cell, variant), `wasm ${variant}`),
        );
        psnrs[variant] = psnrDb(fromWasm, expected);
        expect(psnrs[variant], `wasm ${variant} vs toolchain sample`).toBeGreaterThanOrEqual(36);
        const res = await timed(cell.name, 'workerd', () => sample(worker.base, cell, variant));
        if (onWorker?.variants[variant]?.servable === false) {
          // Does not fit a Worker: refused before anything loads, with the reason.
          expect(res.status, `workerd ${variant}`).toBe(422);
          continue;
        }
        const fromWorker = await floats(res, `workerd ${variant}`);
        expect(Buffer.from(fromWorker.buffer).equals(Buffer.from(fromWasm.buffer)), `workerd ${variant}`).toBe(true);
      }
      console.info(`${cell.name}: wasm vs toolchain sample PSNR (dB) ${JSON.stringify(psnrs)}`);
    }, 120_000);
  }

  describe.skipIf(!existsSync(CHROMIUM))('in the browser (Chromium, onnxruntime-web wasm)', () => {
    let browser: Browser;
    beforeAll(async () => {
      browser = await chromium.launch({
        executablePath: CHROMIUM,
        args: ['--headless', '--no-sandbox', '--disable-background-networking', '--no-first-run', '--disable-gpu'],
      });
    }, 60_000);
    afterAll(async () => {
      await browser?.close();
    });

    for (const [name, variant] of BROWSER) {
      const cell = CELLS.find((c) => c.name === name)!;
      it(`${name}: the page samples ${variant} in the browser, the same images as the server`, async () => {
        requireBuilt(cell);
        const started = performance.now();
        const page = await browser.newPage();
        try {
          await page.goto(`${wasm.base}/`);
          await page.waitForSelector('body[data-ready="true"]');
          await page.selectOption('#model', cell.name);
          await page.selectOption('#left-variant', variant);
          await page.fill('#seed', String(seedOf(cell)));
          await page.fill('#n', String(SAMPLE.n));
          await page.fill('#steps', SAMPLE.steps);
          await page.click('#run-browser');
          await page.waitForSelector('#browser-status[data-done]', { timeout: 100_000 });
          const status = page.locator('#browser-status');
          expect(await status.getAttribute('data-done'), (await status.textContent()) ?? '').toBe('true');
          expect(await status.getAttribute('data-backend')).toBe('wasm');
          // The browser's wasm and the server's wasm: the same kernels (the browser loads the portable graph, the
          // server its pre-optimized edge graph), so the same images and floats equal up to summation order.
          // An identical image reads 100 dB, the cap of the one same-seed PSNR (@qdm/shared pixelDiff).
          expect(await status.getAttribute('data-psnr'), 'identical uint8 images').toBe('100');
          expect(Number(await status.getAttribute('data-max-abs'))).toBeLessThan(1e-3);
          const sha = (await readManifest(join(store, cell.name))).variants[variant].sha256;
          expect(await page.textContent('#browser-caption')).toContain(`sha256 ${sha.slice(0, 12)} checked`);
          console.info(`${name} ${variant} in the browser: ${await page.textContent('#server-caption')}`);
        } finally {
          await page.close();
          time(cell.name, 'browser', (performance.now() - started) / 1000);
        }
      }, 120_000);
    }
  });
});
