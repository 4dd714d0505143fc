import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './cli.ts';

const payload = randomBytes(300_000);
const work = mkdtempSync(join(tmpdir(), 'qdm-fetch-'));
let server: Server;
let base: string;
let requests: string[] = [];

beforeAll(async () => {
  let dropped = false;
  server = createServer((req, res) => {
    requests.push(req.headers.range ?? 'full');
    if (req.url !== '/ckpt.pt') {
      res.writeHead(404).end('not found');
      return;
    }
    const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    const start = range ? Number(range[1]) : 0;
    const body = payload.subarray(start);
    res.writeHead(range ? 206 : 200, {
      'content-length': body.length,
      ...(range ? { 'content-range': `bytes ${start}-${payload.length - 1}/${payload.length}` } : {}),
    });
    if (!dropped) {
      // First answer: half the bytes, then the connection drops; the client must resume with Range.
      dropped = true;
      res.write(body.subarray(0, 150_000), () => res.destroy());
      return;
    }
    res.end(body);
  });
  await new Promise<void>((ready) => server.listen(0, '127.0.0.1', ready));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((closed) => server.close(closed));
  rmSync(work, { recursive: true, force: true });
});

describe('toolchain fetch-model', () => {
  it('downloads with resume after a dropped connection and writes the flags', async () => {
    requests = [];
    const out = join(work, 'models');
    const result = await runCli(['fetch-model', 'cifar10', '--out', out, '--url', `${base}/ckpt.pt`, '--json']);
    expect(result.code, result.stderr).toBe(0);
    const json = JSON.parse(result.stdout);
    expect(json.bytes).toBe(payload.length);
    expect(readFileSync(join(out, 'cifar10_uncond_50M_500K.pt')).equals(payload)).toBe(true);
    expect(requests[0]).toBe('full');
    expect(requests.some((r) => r.startsWith('bytes='))).toBe(true);
    const flags = JSON.parse(readFileSync(join(out, 'cifar10.flags.json'), 'utf8'));
    expect(flags).toMatchObject({ image_size: 32, num_channels: 128, num_res_blocks: 3, learn_sigma: true });
  });

  it('fails cleanly on HTTP errors and unknown models, leaving no checkpoint', async () => {
    const out = join(work, 'bad');
    const missing = await runCli(['fetch-model', 'imagenet64', '--out', out, '--url', `${base}/nope.pt`]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/404/);
    expect(existsSync(join(out, 'imagenet64_uncond_100M_1500K.pt'))).toBe(false);
    const unknown = await runCli(['fetch-model', 'lsun']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/unknown model "lsun"/);
  });
});
