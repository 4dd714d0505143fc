import type { AddressInfo } from 'node:net';
import { type ServerType, serve } from '@hono/node-server';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { folderSource } from '../../src/sources/folder.ts';
import { folderStore } from '../fixtures/folder.ts';
import { unetArtifact } from '../fixtures/unet-artifact.ts';
import { appOver } from './harness.ts';

let server: ServerType;
let base: string;

beforeAll(async () => {
  const app = appOver(folderSource(await folderStore(await unetArtifact())), { defaultVariant: 'fp32' });
  await new Promise<void>((ready) => {
    server = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 }, () => ready());
  });
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  await (await fetch(`${base}/sample?n=1&steps=ddim5`)).arrayBuffer(); // session loaded
});

afterAll(async () => {
  await new Promise((done) => server?.close(done));
});

it('keeps serving sockets while a queue of sampling requests runs (steps yield to the event loop)', async () => {
  const order: string[] = [];
  const samples = Array.from({ length: 6 }, async () => {
    const res = await fetch(`${base}/sample?n=1&steps=ddim50&format=npy`);
    await res.arrayBuffer();
    order.push('sample');
    return res.status;
  });
  // Issued once the sampling queue is busy: it must not wait for the whole queue.
  await new Promise((resolve) => setTimeout(resolve, 50));
  const health = fetch(`${base}/healthz`).then(async (res) => {
    await res.text();
    order.push('healthz');
    return res.status;
  });
  expect(await Promise.all([health, ...samples])).toEqual(Array(7).fill(200));
  expect(order.indexOf('healthz')).toBeLessThan(order.length - 1);
  expect(order[0]).toBe('healthz');
});
