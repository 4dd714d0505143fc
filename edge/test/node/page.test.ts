import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ServerType, serve } from '@hono/node-server';
import { decodePng } from '@qdm/shared';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { progressText, softwareAdapter } from '../../src/browser/sampler.ts';
import { folderSource } from '../../src/sources/folder.ts';
import { folderStore } from '../fixtures/folder.ts';
import { unetArtifact } from '../fixtures/unet-artifact.ts';
import { appOver } from './harness.ts';

// Debian's chromium package; CI installs it (infra/setup-ci.sh). Without it this suite is skipped, saying why.
const CHROMIUM = process.env.QDM_CHROMIUM ?? '/usr/bin/chromium';
const hasChromium = existsSync(CHROMIUM);
if (!hasChromium) console.warn(`page test skipped: no Chromium at ${CHROMIUM} (apt-get install chromium)`);

const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

/** Non-blank: the pixels are not (nearly) one colour. */
function pixelSpread(png: Uint8Array): { distinct: number; std: number } {
  const { data, channels } = decodePng(png);
  const values: number[] = [];
  const colours = new Set<string>();
  for (let i = 0; i < data.length; i += channels) {
    values.push(data[i]);
    colours.add(`${data[i]},${data[i + 1]},${data[i + 2]}`);
  }
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  const std = Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / values.length);
  return { distinct: colours.size, std };
}

describe('the page without a browser', () => {
  it('answers /favicon.ico with an icon, and the page links it', async () => {
    const app = appOver(folderSource(await folderStore(await unetArtifact())));
    const res = await app.request('/favicon.ico');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('image/svg+xml');
    expect(await res.text()).toMatch(/^<svg [^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    expect(await (await app.request('/')).text()).toContain('<link rel="icon" href="/favicon.ico"');
  });

  it('names a software WebGPU adapter, and only a software one', () => {
    expect(softwareAdapter({ vendor: 'google', architecture: 'swiftshader', description: '' })).toBe(
      'a software adapter (google swiftshader)',
    );
    expect(softwareAdapter({ vendor: '', description: 'SwiftShader Device (Subzero)' })).toMatch(/software adapter/);
    // Chrome flags SwiftShader as a fallback adapter too: it is still named as the software adapter it is.
    expect(softwareAdapter({ vendor: 'google', architecture: 'swiftshader', isFallbackAdapter: true })).toBe(
      'a software adapter (google swiftshader)',
    );
    expect(softwareAdapter({ vendor: 'nvidia', architecture: 'ampere', isFallbackAdapter: true })).toBe(
      'a fallback adapter (nvidia ampere)',
    );
    expect(softwareAdapter({ vendor: 'nvidia', architecture: 'ampere', isFallbackAdapter: false })).toBeNull();
    expect(softwareAdapter({ vendor: 'apple', architecture: 'common-3' })).toBeNull();
    expect(softwareAdapter(null)).toBeNull();
  });

  it('gives the time left once a step is timed', () => {
    expect(progressText('webgpu', [], 10)).toBe('webgpu: starting 10 steps');
    expect(progressText('wasm', [200], 10)).toBe('wasm: step 1 of 10, about 1.8 s left');
    expect(progressText('wasm', [1000, 3000], 12)).toBe('wasm: step 2 of 12, about 20 s left');
    expect(progressText('wasm', [5, 5, 5], 3)).toBe('wasm: step 3 of 3, sampling done');
  });
});

describe.skipIf(!hasChromium)('GET / in headless Chromium', () => {
  let server: ServerType;
  let base: string;
  let browser: Browser;

  beforeAll(async () => {
    const root = await folderStore(await unetArtifact());
    const app = appOver(folderSource(root));
    await new Promise<void>((ready) => {
      server = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 }, () => ready());
    });
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_FLAGS });
  });

  afterAll(async () => {
    await browser?.close();
    await new Promise((done) => server?.close(done));
  });

  it('samples both variants of the same seed side by side with their timings', async () => {
    const page = await browser.newPage({ viewport: { width: 1100, height: 800 } });
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    const failed: string[] = [];
    page.on('response', (res) => {
      if (res.status() >= 400) failed.push(`${res.status()} ${res.url()}`);
    });
    await page.goto(`${base}/`);
    await page.waitForSelector('body[data-ready="true"]');
    expect(await page.inputValue('#left-variant')).toBe('fp32');
    expect(await page.inputValue('#right-variant')).toBe('int8'); // the page puts int8 beside fp32
    await page.fill('#seed', '42');
    await page.fill('#n', '4');
    await page.fill('#steps', 'ddim8');
    await page.click('#run');
    await page.waitForSelector('#left-img[data-loaded="true"]');
    await page.waitForSelector('#right-img[data-loaded="true"]');
    expect(await page.textContent('#status')).toBe('done');

    const shot = await page.screenshot({ fullPage: true });
    await writeFile(join(tmpdir(), 'qdm-edge-page.png'), shot);
    const left = pixelSpread(await page.locator('#left-img').screenshot());
    const right = pixelSpread(await page.locator('#right-img').screenshot());
    for (const spread of [left, right]) {
      expect(spread.distinct).toBeGreaterThan(16);
      expect(spread.std).toBeGreaterThan(10);
    }
    for (const side of ['left', 'right']) {
      const caption = (await page.textContent(`#${side}-caption`)) ?? '';
      expect(caption).toContain('seed 42');
      expect(caption).toMatch(/steps 8 \(ddim8\)/);
      expect(caption).toMatch(/step [\d.]+ ms/);
    }
    expect(errors).toEqual([]);
    expect(failed).toEqual([]); // the favicon included
  });

  it('fills the form with the schedule the quantized variant was calibrated for, and says so', async () => {
    const artifact = await unetArtifact();
    artifact.manifest.variants.int8.schedule = { sampler: 'dpm++2m', steps: 'ddim6' };
    const app = appOver(folderSource(await folderStore(artifact)));
    const calibrated = await new Promise<ServerType>((ready) => {
      const s = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 }, () => ready(s));
    });
    try {
      const page = await browser.newPage();
      await page.goto(`http://127.0.0.1:${(calibrated.address() as AddressInfo).port}/`);
      await page.waitForSelector('body[data-ready="true"]');
      expect(await page.inputValue('#steps')).toBe('ddim6');
      expect(await page.inputValue('#sampler')).toBe('dpmpp2m');
      expect(await page.textContent('#schedule-note')).toBe('int8 was calibrated for dpm++2m ddim6');
      await page.fill('#seed', '7');
      await page.fill('#n', '1');
      await page.click('#run');
      await page.waitForSelector('#right-img[data-loaded="true"]');
      for (const side of ['left', 'right']) {
        expect(await page.textContent(`#${side}-caption`)).toMatch(/dpm\+\+2m steps 6 \(ddim6\)/);
      }
      await page.close();
    } finally {
      await new Promise((done) => calibrated.close(done));
    }
  });
});
