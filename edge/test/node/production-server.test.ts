// The real Node server (`src/node.ts`, spawned) with keys from a hashed keys file, per-client limits, CORS,
// Prometheus metrics and the request log on stdout; and the start-up lines and refusals of bad settings.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashedKey } from '../../src/middleware/keys.ts';
import { openServiceWarning } from '../../src/middleware/node-production.ts';
import { folderStore } from '../fixtures/folder.ts';
import { unetArtifact } from '../fixtures/unet-artifact.ts';

const entry = fileURLToPath(new URL('../../src/node.ts', import.meta.url));
const KEY = 'test-key-0123456789';

function freePort(): Promise<number> {
  return new Promise((done) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => done(port));
    });
  });
}

interface Running {
  child: ChildProcess;
  base: string;
  stdout: string[];
  stderr: string[];
}

async function start(env: Record<string, string>): Promise<Running> {
  const port = await freePort();
  const child = spawn(process.execPath, [entry], {
    env: { ...process.env, HOST: '127.0.0.1', PORT: String(port), QDM_RUNTIME: 'wasm', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const stdout: string[] = [];
  const stderr: string[] = [];
  let partial = '';
  child.stdout?.setEncoding('utf8').on('data', (s: string) => {
    const lines = (partial + s).split('\n');
    partial = lines.pop() ?? '';
    stdout.push(...lines);
  });
  await new Promise<void>((ready, fail) => {
    child.stderr?.setEncoding('utf8').on('data', (s: string) => {
      stderr.push(...s.trim().split('\n'));
      if (s.includes('qdm edge on')) ready();
    });
    child.on('exit', (code) => fail(new Error(`server exited ${code}: ${stderr.join('\n')}`)));
  });
  return { child, base: `http://127.0.0.1:${port}`, stdout, stderr };
}

let root: string;
let keysFile: string;
beforeAll(async () => {
  root = await folderStore(await unetArtifact());
  const dir = await mkdtemp(join(tmpdir(), 'qdm-keys-'));
  keysFile = join(dir, 'keys.txt');
  await writeFile(keysFile, `# one key a line, hashed\n${await hashedKey(KEY)}\n`);
});

describe('the Node server with keys, limits, CORS and metrics', () => {
  let server: Running;
  beforeAll(async () => {
    server = await start({
      QDM_ARTIFACTS: root,
      QDM_API_KEYS_FILE: keysFile,
      QDM_RATE: '0.01',
      QDM_RATE_BURST: '15',
      QDM_CORS_ORIGINS: 'http://127.0.0.1:1',
      QDM_DEFAULT_VARIANT: 'fp32',
    });
  }, 60_000);
  afterAll(() => {
    server?.child.kill('SIGTERM');
  });
  const auth = { authorization: `Bearer ${KEY}` };

  it('needs the key (401 with WWW-Authenticate), serves it, and limits it (429 with Retry-After and RateLimit-*)', async () => {
    expect(server.stderr.join('\n')).not.toMatch(/open to anyone/);
    const health = await fetch(`${server.base}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ access: { keys: 1, rateLimit: { burst: 15 } } });
    const missing = await fetch(`${server.base}/sample?n=1&steps=ddim5`);
    expect(missing.status).toBe(401);
    expect(missing.headers.get('www-authenticate')).toMatch(/^Bearer realm="qdm"/);
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) {
      const res = await fetch(`${server.base}/sample?n=1&steps=ddim5&seed=${i}`, { headers: auth });
      await res.arrayBuffer();
      statuses.push(res.status);
      if (res.status === 429) {
        expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
        expect(res.headers.get('ratelimit-limit')).toBe('15');
        expect(res.headers.get('ratelimit-remaining')).toBe('0');
      }
    }
    expect(statuses).toEqual([200, 200, 200, 429]); // 3 x 5 model calls fill the bucket of 15
  });

  it('answers a CORS preflight from the listed origin', async () => {
    const res = await fetch(`${server.base}/sample`, {
      method: 'OPTIONS',
      headers: { origin: 'http://127.0.0.1:1', 'access-control-request-method': 'GET' },
    });
    expect(res.status).toBe(204);
    expect(res.headers.get('access-control-allow-origin')).toBe('http://127.0.0.1:1');
  });

  it('serves Prometheus metrics behind the key, with process memory', async () => {
    expect((await fetch(`${server.base}/metrics`)).status).toBe(401);
    const text = await (await fetch(`${server.base}/metrics`, { headers: auth })).text();
    expect(text).toMatch(/^qdm_http_requests_total\{route="\/sample",method="GET",status="200"\} 3$/m);
    expect(text).toMatch(/^qdm_http_requests_total\{route="\/sample",method="GET",status="429"\} 1$/m);
    expect(text).toMatch(/^qdm_model_calls_total\{model="unet",variant="fp32"\} 15$/m);
    expect(text).toMatch(/^qdm_step_seconds_count\{model="unet",variant="fp32",runtime="wasm-wasm"\} 15$/m);
    expect(text).toMatch(/^qdm_process_memory_bytes\{kind="rss"\} \d+$/m);
    expect(text).toMatch(/^qdm_runtime_memory_bytes \d+$/m);
  });

  it('logs one JSON line per request on stdout, with its id and the client address, never the key', async () => {
    const res = await fetch(`${server.base}/healthz`, { headers: { 'x-request-id': 'probe-42' } });
    expect(res.headers.get('x-request-id')).toBe('probe-42');
    await new Promise((r) => setTimeout(r, 100));
    const lines = server.stdout.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
    expect(lines.find((l) => l.id === 'probe-42')).toMatchObject({ route: '/healthz', status: 200 });
    const samples = lines.filter((l) => l.route === '/sample');
    expect(samples.map((l) => l.status)).toEqual([401, 200, 200, 200, 429, 204]);
    expect(samples[0].client).toBe('addr:127.0.0.1');
    expect(samples[1]).toMatchObject({ model: 'unet', variant: 'fp32', n: 1, steps: 5 });
    expect(samples[1].client).toMatch(/^key:[0-9a-f]{8}$/);
    expect(server.stdout.join('\n')).not.toContain(KEY);
    expect(server.stderr.join('\n')).not.toContain(KEY);
  });
});

describe('the Node server without keys', () => {
  it('limits each client address and says nothing about being open on loopback', async () => {
    const server = await start({
      QDM_ARTIFACTS: root,
      QDM_RATE: '0.01',
      QDM_RATE_BURST: '5',
      QDM_DEFAULT_VARIANT: 'fp32',
    });
    try {
      expect(server.stderr.join('\n')).not.toMatch(/open to anyone/);
      const first = await fetch(`${server.base}/sample?n=1&steps=ddim5`);
      await first.arrayBuffer();
      expect(first.status).toBe(200);
      const second = await fetch(`${server.base}/sample?n=1&steps=ddim5`);
      expect(second.status).toBe(429);
    } finally {
      server.child.kill('SIGTERM');
    }
  }, 60_000);

  it('warns at start when it listens beyond loopback without keys', () => {
    expect(openServiceWarning('0.0.0.0', 8787, {})).toBe(
      'qdm edge: no QDM_API_KEYS: /sample is open to anyone who can reach 0.0.0.0:8787 (set QDM_API_KEYS or QDM_API_KEYS_FILE)',
    );
    expect(openServiceWarning('0.0.0.0', 8787, { keys: {} })).toBeUndefined();
    for (const host of ['127.0.0.1', '::1', 'localhost']) expect(openServiceWarning(host, 1, {})).toBeUndefined();
  });

  it.each([
    [{ QDM_RATE: 'fast' }, /^qdm edge: QDM_RATE must be a positive number, got fast$/],
    [{ QDM_RATE_BURST: '10' }, /^qdm edge: QDM_RATE_BURST needs QDM_RATE/],
    [
      { QDM_API_KEYS_FILE: '/nonexistent/keys' },
      /^qdm edge: QDM_API_KEYS_FILE: cannot read \/nonexistent\/keys \(ENOENT\)$/,
    ],
    [{ QDM_CORS_ORIGINS: 'example.com' }, /^qdm edge: QDM_CORS_ORIGINS: "example\.com" is not an origin/],
  ])('refuses %o in one line', async (env, message) => {
    const child = spawn(process.execPath, [entry], {
      env: { ...process.env, HOST: '127.0.0.1', PORT: '0', ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr?.setEncoding('utf8').on('data', (s: string) => {
      stderr += s;
    });
    const code = await new Promise((done) => child.on('close', done));
    expect(code).toBe(1);
    expect(stderr.trim()).toMatch(message);
    expect(stderr.trim().split('\n')).toHaveLength(1);
  });
});
