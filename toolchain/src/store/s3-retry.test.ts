/**
 * Retries through a faulty proxy in front of s3rver: the first attempt of every upload request fails with a 5xx
 * or a reset connection; the SDK's retry config must resend the (buffered) bodies so the artifact arrives intact.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeFakeArtifact } from '../../test/fake-artifact.ts';
import { type S3rverHandle, startS3rver } from '../../test/s3rver.ts';
import { openStore } from './index.ts';

let server: S3rverHandle;
let tmp: string;

beforeAll(async () => {
  server = await startS3rver();
  tmp = await mkdtemp(join(tmpdir(), 'qdm-s3-retry-'));
});

afterAll(async () => {
  await server?.stop();
  await rm(tmp, { recursive: true, force: true });
});

type Fault = 'reset' | 503 | 500 | undefined;

/** A pass-through HTTP proxy to s3rver; `fault` picks what happens to each request (signature stays valid). */
async function faultyProxy(fault: (method: string, url: string) => Fault): Promise<{ url: string; server: Server }> {
  const proxy = createServer((req, res) => {
    const chosen = fault(req.method ?? '', req.url ?? '');
    if (chosen === undefined) {
      const upstream = request(
        { host: '127.0.0.1', port: server.port, method: req.method, path: req.url, headers: req.headers },
        (up) => {
          res.writeHead(up.statusCode ?? 502, up.headers);
          up.pipe(res);
        },
      );
      req.pipe(upstream);
      return;
    }
    req.resume();
    req.on('end', () => {
      if (chosen === 'reset') {
        req.socket.destroy();
        return;
      }
      const code = chosen === 503 ? 'SlowDown' : 'InternalError';
      res.writeHead(chosen, { 'content-type': 'application/xml' });
      res.end(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>injected</Message></Error>`);
    });
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`, server: proxy };
}

describe('S3 uploads through a faulty network', () => {
  it('retries 5xx and reset connections with backoff; the artifact arrives intact', async () => {
    const seen = new Map<string, number>();
    const faults: Fault[] = [503, 'reset', 500];
    let injected = 0;
    const proxy = await faultyProxy((method, url) => {
      if (method !== 'PUT') return undefined;
      const attempts = (seen.get(url) ?? 0) + 1;
      seen.set(url, attempts);
      if (attempts > 1) return undefined;
      return faults[injected++ % faults.length];
    });
    try {
      const env = { ...server.env, AWS_ENDPOINT_URL_S3: proxy.url, AWS_MAX_ATTEMPTS: '4' };
      const store = openStore(`s3://${server.bucket}/retry`, {
        env,
        upload: { partSize: 32 * 1024, multipartThreshold: 40 * 1024, concurrency: 2 },
      });
      const a = await makeFakeArtifact(join(tmp, 'a'), { variants: { fp32: 150_000, int8: 30_000 } });
      const published = await store.publish('flaky', a.dir);
      // 5 parts of fp32, int8, int8's report, the latest report, manifest, latest.json: every PUT failed once.
      expect(injected).toBe(10);
      expect([...seen.values()].every((n) => n === 2)).toBe(true);
      const dest = join(tmp, 'pulled');
      await openStore(`s3://${server.bucket}/retry`, { env: server.env }).pull('flaky', dest);
      for (const [file, bytes] of a.files) expect((await readFile(join(dest, file))).equals(bytes)).toBe(true);
      expect(published.version).toBeDefined();
    } finally {
      proxy.server.close();
    }
  });

  it('gives up after AWS_MAX_ATTEMPTS with an error naming the key and the cause; nothing becomes visible', async () => {
    const proxy = await faultyProxy((method, url) =>
      method === 'PUT' && url.includes('model.int8') ? 503 : undefined,
    );
    try {
      const env = { ...server.env, AWS_ENDPOINT_URL_S3: proxy.url, AWS_MAX_ATTEMPTS: '2' };
      const store = openStore(`s3://${server.bucket}/giveup`, { env });
      const a = await makeFakeArtifact(join(tmp, 'b'));
      const error = (await store.publish('doomed', a.dir).catch((e: unknown) => e)) as Error;
      expect(error).toBeInstanceOf(Error);
      expect(error.message).toMatch(
        /^s3:\/\/qdm-test\/giveup\/doomed\/versions\/[^/]+\/model\.int8\.onnx: uploading failed: SlowDown \(HTTP 503\): injected \(after 2 attempts\); the artifact has no published version yet$/,
      );
      expect((await store.list()).artifacts).toEqual([]);
    } finally {
      proxy.server.close();
    }
  });
});
