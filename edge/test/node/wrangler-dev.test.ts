import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { folderSource } from '../../src/sources/folder.ts';
import { folderStore } from '../fixtures/folder.ts';
import { unetArtifact } from '../fixtures/unet-artifact.ts';
import { startWranglerDev, type WranglerDev } from '../fixtures/wrangler-dev.ts';
import { appOver, bytes } from './harness.ts';

// `npm run seed:r2` then `npm run dev:worker`, as a user runs them: the real wrangler.toml, local R2, local workerd.
describe('wrangler dev with a seeded local R2', () => {
  let root: string;
  let worker: WranglerDev;

  beforeAll(async () => {
    root = await folderStore(await unetArtifact());
    worker = await startWranglerDev([join(root, 'unet')]);
  }, 120_000);

  afterAll(async () => {
    await worker?.stop();
  });

  it('serves the seeded artifact with the same bytes as the Node app', async () => {
    const models = (await (await fetch(`${worker.base}/models`)).json()) as { models: { name: string }[] };
    expect(models.models.map((m) => m.name)).toEqual(['unet']);
    const query = '/sample?variant=alt&seed=99&n=2&steps=ddim5&format=png';
    const fromWorker = await fetch(worker.base + query);
    expect(fromWorker.status).toBe(200);
    expect(fromWorker.headers.get('x-qdm-model-version')).toMatch(/^\d{8}T\d{6}Z-/);
    const fromNode = await appOver(folderSource(root)).request(query);
    expect(Buffer.from(await bytes(fromWorker)).equals(Buffer.from(await bytes(fromNode)))).toBe(true);
  });

  it('serves the comparison page', async () => {
    const page = await fetch(`${worker.base}/`);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    expect(await page.text()).toContain('id="run"');
  });
});
