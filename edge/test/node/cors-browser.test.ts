/**
 * CORS and the page's key in headless Chromium: a page served from another 127.0.0.1 origin calls the API with a
 * bearer key (a preflighted request) and reads its exposed headers; a page from an origin not listed cannot read
 * the answer; the API's own page keeps the key in localStorage and sends it on its fetches.
 */
import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type ServerType, serve } from '@hono/node-server';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { productionFromEnv } from '../../src/middleware/production.ts';
import { folderSource } from '../../src/sources/folder.ts';
import { folderStore } from '../fixtures/folder.ts';
import { unetArtifact } from '../fixtures/unet-artifact.ts';
import { appOver } from './harness.ts';

const CHROMIUM = process.env.QDM_CHROMIUM ?? '/usr/bin/chromium';
const hasChromium = existsSync(CHROMIUM);
if (!hasChromium) console.warn(`CORS browser test skipped: no Chromium at ${CHROMIUM} (apt-get install chromium)`);
const KEY = 'browser-key-42';

/** A page on its own origin that calls the API at `api` with the key, and reports what it could read. */
const callerPage = (api: string) => `<!doctype html><html><body><script>
window.result = fetch(${JSON.stringify(api)} + '/sample?n=1&steps=ddim3&seed=5&format=json', {
  headers: { authorization: 'Bearer ${KEY}' },
}).then(async (res) => ({ status: res.status, seed: res.headers.get('x-qdm-seed'),
  remaining: res.headers.get('ratelimit-remaining'), images: (await res.json()).images?.length ?? null }),
  (error) => ({ error: String(error) }));
</script></body></html>`;

function pageServer(): Promise<{ server: Server; origin: string; setApi(api: string): void }> {
  let api = '';
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end(callerPage(api));
  });
  return new Promise((ready) =>
    server.listen(0, '127.0.0.1', () => {
      const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      ready({ server, origin, setApi: (a) => (api = a) });
    }),
  );
}

describe.skipIf(!hasChromium)('CORS and the page key in Chromium', () => {
  let api: ServerType;
  let base: string;
  let allowed: Awaited<ReturnType<typeof pageServer>>;
  let other: Awaited<ReturnType<typeof pageServer>>;
  let browser: Browser;
  const lines: { method: string; route: string; status: number }[] = [];

  beforeAll(async () => {
    allowed = await pageServer();
    other = await pageServer();
    const app = appOver(
      folderSource(await folderStore(await unetArtifact())),
      { defaultVariant: 'fp32' },
      {
        production: {
          ...productionFromEnv({ QDM_API_KEYS: KEY, QDM_CORS_ORIGINS: allowed.origin, QDM_RATE: '1' }),
          requestLog: (line) => lines.push(JSON.parse(line)),
        },
      },
    );
    await new Promise<void>((ready) => {
      api = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 }, () => ready());
    });
    base = `http://127.0.0.1:${(api.address() as AddressInfo).port}`;
    allowed.setApi(base);
    other.setApi(base);
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--no-first-run'],
    });
  });

  afterAll(async () => {
    await browser?.close();
    await new Promise((done) => api?.close(done));
    allowed?.server.close();
    other?.server.close();
  });

  it('lets a listed origin call the API with its key and read the exposed headers', async () => {
    const page = await browser.newPage();
    await page.goto(`${allowed.origin}/`);
    const result = await page.evaluate(() => (window as unknown as { result: Promise<unknown> }).result);
    expect(result).toEqual({ status: 200, seed: '5', remaining: '7', images: 1 });
    // The key made it a preflighted request: the API answered the OPTIONS first.
    expect(lines.map((l) => `${l.method} ${l.route} ${l.status}`)).toEqual(['OPTIONS /sample 204', 'GET /sample 200']);
  });

  it('keeps the answer from an origin that is not listed', async () => {
    const page = await browser.newPage();
    await page.goto(`${other.origin}/`);
    const result = (await page.evaluate(() => (window as unknown as { result: Promise<unknown> }).result)) as {
      error?: string;
    };
    expect(result.error).toMatch(/TypeError: Failed to fetch/);
  });

  it("keeps the page's key in localStorage and sends it with the page's own requests", async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${base}/`);
    await page.waitForSelector('#api-key');
    await page.waitForFunction(() => document.getElementById('status')?.textContent?.includes('cannot list models'));
    expect(await page.locator('#model option').count()).toBe(0); // /models needs the key
    await page.fill('#api-key', KEY);
    await page.click('#api-key-save');
    await page.waitForSelector('body[data-ready="true"]');
    expect(await page.locator('#model option').count()).toBe(1);
    expect(await page.evaluate(() => localStorage.getItem('qdm-api-key'))).toBe(KEY);
    expect(await page.inputValue('#api-key')).toBe(KEY);
    await context.close();
  });
});
