import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type DownloadProgress, downloadFile } from './download.ts';

const SIZE = 300_000;
const content = Buffer.alloc(SIZE);
for (let i = 0; i < SIZE; i++) content[i] = (i * 7919 + (i >> 8)) & 0xff;
const contentSha = createHash('sha256').update(content).digest('hex');

type Mode = 'normal' | 'drop' | 'ignore-range' | 'not-found' | 'stall';
let mode: Mode = 'normal';
let drops = 0; // how many more requests to cut off midway
let ranges: (string | undefined)[] = [];

function serve(req: IncomingMessage, res: ServerResponse) {
  ranges.push(req.headers.range);
  if (mode === 'not-found') {
    res.writeHead(404).end('no such file');
    return;
  }
  const match = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
  const start = match && mode !== 'ignore-range' ? Number(match[1]) : 0;
  if (start >= SIZE && match) {
    res.writeHead(416, { 'content-range': `bytes */${SIZE}` }).end();
    return;
  }
  const body = content.subarray(start);
  const headers: Record<string, string | number> = { 'content-length': body.length };
  if (start > 0) headers['content-range'] = `bytes ${start}-${SIZE - 1}/${SIZE}`;
  res.writeHead(start > 0 ? 206 : 200, headers);
  if (mode === 'stall') {
    res.write(body.subarray(0, 1000));
    return; // never finishes: only an abort ends it
  }
  if (drops > 0) {
    drops--;
    // send part of the body, then cut the connection as a flaky network would
    res.write(body.subarray(0, Math.floor(body.length / 3)), () => setTimeout(() => res.socket?.destroy(), 20));
    return;
  }
  res.end(body);
}

let server: Server;
let base: string;
let dir: string;

beforeAll(async () => {
  server = createServer(serve);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  dir = mkdtempSync(join(tmpdir(), 'qdm-download-'));
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  rmSync(dir, { recursive: true, force: true });
});

let n = 0;
let dest: string;
beforeEach(() => {
  mode = 'normal';
  drops = 0;
  ranges = [];
  dest = join(dir, `file-${n++}`, 'model.pt');
});

describe('downloadFile', () => {
  it('downloads to dest via dest.part with progress, size and sha256', async () => {
    const progress: DownloadProgress[] = [];
    const result = await downloadFile(`${base}/model.pt`, dest, {
      onProgress: (p) => progress.push(p),
      expectedBytes: SIZE,
      sha256: contentSha,
    });
    expect(result).toEqual({ path: dest, bytes: SIZE, sha256: contentSha, resumedBytes: 0 });
    expect(readFileSync(dest).equals(content)).toBe(true);
    expect(existsSync(`${dest}.part`)).toBe(false);
    expect(progress.at(-1)).toEqual({ receivedBytes: SIZE, totalBytes: SIZE });
    expect(progress.every((p, i) => i === 0 || p.receivedBytes > progress[i - 1].receivedBytes)).toBe(true);
  });

  it('keeps the part after a dropped connection and resumes it with a Range request', async () => {
    drops = 1;
    await expect(downloadFile(`${base}/model.pt`, dest, { retries: 0 })).rejects.toThrow(/connection (lost|closed)/);
    expect(existsSync(dest)).toBe(false);
    const kept = statSync(`${dest}.part`).size;
    expect(kept).toBeGreaterThan(0);
    expect(kept).toBeLessThan(SIZE);

    const result = await downloadFile(`${base}/model.pt`, dest, { retries: 0, sha256: contentSha });
    expect(ranges.at(-1)).toBe(`bytes=${kept}-`);
    expect(result.resumedBytes).toBe(kept);
    expect(readFileSync(dest).equals(content)).toBe(true);
    expect(existsSync(`${dest}.part`)).toBe(false);
  });

  it('retries a dropped connection by itself, resuming each time', async () => {
    drops = 2;
    const result = await downloadFile(`${base}/model.pt`, dest, { expectedBytes: SIZE });
    expect(ranges).toHaveLength(3);
    expect(ranges[0]).toBeUndefined();
    expect(ranges[1]).toMatch(/^bytes=\d+-$/);
    expect(result.sha256).toBe(contentSha);
  });

  it('starts over when the server ignores the Range header', async () => {
    drops = 1;
    await expect(downloadFile(`${base}/model.pt`, dest, { retries: 0 })).rejects.toThrow(/connection/);
    expect(statSync(`${dest}.part`).size).toBeGreaterThan(0);
    mode = 'ignore-range';
    const result = await downloadFile(`${base}/model.pt`, dest, { retries: 0 });
    expect(ranges.at(-1)).toMatch(/^bytes=\d+-$/); // we asked to resume, the server sent everything
    expect(result.resumedBytes).toBe(0);
    expect(readFileSync(dest).equals(content)).toBe(true);
  });

  it('finishes a part that is already complete (416 from the server)', async () => {
    const first = await downloadFile(`${base}/model.pt`, dest);
    rmSync(dest);
    writeFileSync(`${dest}.part`, content);
    const again = await downloadFile(`${base}/model.pt`, dest);
    expect(ranges.at(-1)).toBe(`bytes=${SIZE}-`);
    expect(again.sha256).toBe(first.sha256);
    expect(again.resumedBytes).toBe(SIZE);
  });

  it('refuses a file of the wrong size before writing anything', async () => {
    await expect(downloadFile(`${base}/model.pt`, dest, { expectedBytes: SIZE + 1 })).rejects.toThrow(
      `size mismatch: ${base}/model.pt is ${SIZE} bytes, expected ${SIZE + 1}`,
    );
    expect(existsSync(dest)).toBe(false);
    expect(existsSync(`${dest}.part`)).toBe(false);
  });

  it('refuses a sha256 mismatch and drops the bad part', async () => {
    await expect(downloadFile(`${base}/model.pt`, dest, { sha256: '0'.repeat(64) })).rejects.toThrow(/sha256 mismatch/);
    expect(existsSync(dest)).toBe(false);
    expect(existsSync(`${dest}.part`)).toBe(false);
  });

  it('reports the HTTP status', async () => {
    mode = 'not-found';
    await expect(downloadFile(`${base}/missing.pt`, dest)).rejects.toThrow(`HTTP 404 Not Found for ${base}/missing.pt`);
    expect(ranges).toHaveLength(1); // a 4xx is not retried
    expect(existsSync(dest)).toBe(false);
  });

  it('stops on abort and keeps the part for later', async () => {
    mode = 'stall';
    const controller = new AbortController();
    const pending = downloadFile(`${base}/model.pt`, dest, {
      signal: controller.signal,
      onProgress: () => controller.abort(),
    });
    await expect(pending).rejects.toThrow(/abort/i);
    expect(existsSync(dest)).toBe(false);
    expect(statSync(`${dest}.part`).size).toBeGreaterThan(0);
  });

  it('reports an unreachable server', async () => {
    await expect(downloadFile('http://127.0.0.1:9/model.pt', dest, { retries: 0 })).rejects.toThrow(/cannot reach/);
  });
});
