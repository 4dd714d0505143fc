/**
 * The page samples in the browser (headless Chromium via playwright-core): onnxruntime-web on WebGPU through
 * SwiftShader, the same seed as the server, the images compared; a second browser without WebGPU falls back to
 * wasm and says so; bad input is named as the server's 400 names it. Also the model-file route itself.
 */
import { existsSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { type ServerType, serve } from '@hono/node-server';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nodeBrowserAssets } from '../../src/browser/node-assets.ts';
import { folderSource } from '../../src/sources/folder.ts';
import { sha256Hex } from '../../src/sources/verify.ts';
import { folderStore } from '../fixtures/folder.ts';
import { unetArtifact } from '../fixtures/unet-artifact.ts';
import { appOver } from './harness.ts';

const CHROMIUM = process.env.QDM_CHROMIUM ?? '/usr/bin/chromium';
const hasChromium = existsSync(CHROMIUM);
const BASE_FLAGS = ['--headless', '--no-sandbox', '--disable-background-networking', '--no-first-run'];
// SwiftShader (shipped with Debian's chromium) gives WebGPU an adapter on a machine without a GPU.
const WEBGPU_FLAGS = [
  '--enable-unsafe-webgpu',
  '--enable-features=Vulkan',
  '--use-vulkan=swiftshader',
  '--use-webgpu-adapter=swiftshader',
];

let server: ServerType;
let base: string;

beforeAll(async () => {
  const root = await folderStore(await unetArtifact());
  const app = appOver(folderSource(root), undefined, { browserAssets: nodeBrowserAssets() });
  await new Promise<void>((ready) => {
    server = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 }, () => ready());
  });
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise((done) => server?.close(done)));

describe('GET /browser/model/:model/:variant', () => {
  it('serves the variant file with the sha256 the manifest records', async () => {
    const res = await fetch(`${base}/browser/model/unet/fp32`);
    expect(res.status).toBe(200);
    const bytes = new Uint8Array(await res.arrayBuffer());
    const manifest = await (await fetch(`${base}/browser/manifest/unet`)).json();
    expect(res.headers.get('x-qdm-sha256')).toBe(manifest.variants.fp32.sha256);
    expect(await sha256Hex(bytes)).toBe(manifest.variants.fp32.sha256);
    const missing = await fetch(`${base}/browser/model/unet/int4`);
    expect(missing.status).toBe(404);
    expect((await missing.json()).field).toBe('variant');
  });

  it('without browser assets (a Worker deployment) answers the asset paths with a 404 that says why', async () => {
    const app = appOver(folderSource(await folderStore(await unetArtifact())));
    const res = await app.request('/browser/sampler.js');
    expect(res.status).toBe(404);
    expect((await res.json()).message).toMatch(
      /served by the Node server; a Worker deployment serves them as static assets/,
    );
    expect((await app.request('/browser/model/unet/fp32')).status).toBe(200); // the model route works everywhere
  });

  it('serves only onnxruntime-web files by name', async () => {
    expect((await fetch(`${base}/browser/ort/ort.webgpu.bundle.min.mjs`)).status).toBe(200);
    expect((await fetch(`${base}/browser/ort/..%2Fpackage.json`)).status).toBe(404);
  });
});

async function statusLog(page: Page): Promise<string[]> {
  return page.evaluate(() => (window as unknown as { statusLog: string[] }).statusLog);
}

async function runInPage(
  browser: Browser,
  inputs: Record<string, string>,
  selects: Record<string, string> = {},
): Promise<Page> {
  const page = await browser.newPage();
  await page.goto(`${base}/`);
  await page.waitForSelector('body[data-ready="true"]');
  for (const [id, value] of Object.entries(inputs)) await page.fill(`#${id}`, value);
  for (const [id, value] of Object.entries(selects)) await page.selectOption(`#${id}`, value);
  // Every status line the run shows, in order (the progress lines pass too fast to poll for).
  await page.evaluate(() => {
    const status = document.getElementById('browser-status') as HTMLElement;
    const log: string[] = [];
    (window as unknown as { statusLog: string[] }).statusLog = log;
    new MutationObserver(() => log.push(status.textContent ?? '')).observe(status, { childList: true, subtree: true });
  });
  await page.click('#run-browser');
  await page.waitForSelector('#browser-status[data-done]', { timeout: 150_000 });
  return page;
}

describe.skipIf(!hasChromium)('sampling in the browser', () => {
  let webgpu: Browser;
  let plain: Browser;
  beforeAll(async () => {
    webgpu = await chromium.launch({ executablePath: CHROMIUM, args: [...BASE_FLAGS, ...WEBGPU_FLAGS] });
    plain = await chromium.launch({ executablePath: CHROMIUM, args: [...BASE_FLAGS, '--disable-gpu'] });
  });
  afterAll(async () => {
    await webgpu?.close();
    await plain?.close();
  });

  it('runs on webgpu and matches the server for the same seed', async () => {
    const page = await runInPage(webgpu, { seed: '42', n: '2', steps: 'ddim4' });
    const status = page.locator('#browser-status');
    expect(await status.getAttribute('data-done'), (await status.textContent()) ?? '').toBe('true');
    expect(await status.getAttribute('data-backend')).toBe('webgpu');
    expect(Number(await status.getAttribute('data-max-abs'))).toBeLessThan(1e-3);
    const psnr = Number(await status.getAttribute('data-psnr'));
    expect(psnr).toBeGreaterThanOrEqual(40); // 100 when identical (the PSNR cap)
    expect(await page.textContent('#browser-caption')).toMatch(/browser, webgpu\nseed 42, steps 4 .* step [\d.]+ ms/);
    expect(await page.textContent('#server-caption')).toContain('PSNR browser vs server');
    // SwiftShader is a software adapter: the page names it and suggests fewer steps.
    expect(await status.getAttribute('data-software')).toMatch(/software adapter \(.*swiftshader.*\)/i);
    expect(await status.textContent()).toMatch(/^done on webgpu: WebGPU runs on a software adapter .* try fewer steps/);
    const log = await statusLog(page);
    expect(log).toContainEqual(expect.stringMatching(/^webgpu on a software adapter .*: starting 4 steps$/));
    expect(log).toContainEqual(expect.stringMatching(/: step 1 of 4, about [\d.]+ s left$/));
    console.info(`browser webgpu vs server: ${await page.textContent('#server-caption')}`);
    await page.close();
  }, 180_000);

  it('without WebGPU falls back to wasm and says so', async () => {
    const page = await runInPage(plain, { seed: '42', n: '1', steps: 'ddim4' });
    const status = page.locator('#browser-status');
    expect(await status.getAttribute('data-done'), (await status.textContent()) ?? '').toBe('true');
    expect(await status.getAttribute('data-backend')).toBe('wasm');
    expect(await status.textContent()).toMatch(/WebGPU unavailable \(.+\), fell back to wasm/);
    expect(await status.getAttribute('data-software')).toBe('');
    expect(await statusLog(page)).toContainEqual(expect.stringMatching(/^wasm: step 1 of 4, about [\d.]+ s left$/));
    console.info(`${await status.textContent()}; ${await page.textContent('#server-caption')}`);
    expect(Number(await status.getAttribute('data-max-abs'))).toBeLessThan(1e-3);
    await page.close();
    // DPM-Solver++(2M) in the browser: the page's sampler, the server asked for the same one
    const dpm = await runInPage(plain, { seed: '43', n: '1', steps: 'ddim4' }, { sampler: 'dpmpp2m' });
    const dpmStatus = dpm.locator('#browser-status');
    expect(await dpmStatus.getAttribute('data-done'), (await dpmStatus.textContent()) ?? '').toBe('true');
    expect(await dpm.textContent('#browser-caption')).toMatch(/seed 43, steps 4 \(ddim4\) dpm\+\+2m, step/);
    expect(Number(await dpmStatus.getAttribute('data-max-abs'))).toBeLessThan(1e-3);
    await dpm.close();
  }, 120_000);

  it('runs the int8 graph with wide steps (an If on t) as the server does', async () => {
    const page = await runInPage(plain, { seed: '7', n: '1', steps: 'ddim4' }, { 'left-variant': 'int8' });
    const status = page.locator('#browser-status');
    expect(await status.getAttribute('data-done'), (await status.textContent()) ?? '').toBe('true');
    const sha = (await fetch(`${base}/browser/model/unet/int8`)).headers.get('x-qdm-sha256')!;
    expect(await page.textContent('#browser-caption')).toContain(`sha256 ${sha.slice(0, 12)} checked`);
    expect(Number(await status.getAttribute('data-max-abs'))).toBeLessThan(1e-3);
    await page.close();
  }, 120_000);

  it('names bad input as the server does', async () => {
    for (const [field, inputs, query] of [
      ['seed', { seed: '4294967296' }, 'seed=4294967296'],
      ['steps', { seed: '1', steps: 'ddimx' }, 'steps=ddimx'],
    ] as const) {
      const server = await (await fetch(`${base}/sample?model=unet&variant=fp32&${query}`)).json();
      expect(server.field).toBe(field);
      const page = await runInPage(plain, inputs);
      expect(await page.locator('#browser-status').getAttribute('data-done')).toBe('error');
      expect(await page.textContent('#browser-status')).toBe(`400 bad_request (${field}): ${server.message}`);
      await page.close();
    }
  }, 60_000);
});
