// The production layer through app.request: API keys, per-client limits (and fairness under a burst), CORS,
// metrics, the request log.
import type { Context } from 'hono';
import { beforeAll, describe, expect, it } from 'vitest';
import type { AppDeps, EdgeApp } from '../../src/app.ts';
import type { EdgeConfig } from '../../src/config.ts';
import type { ModelSession, SessionFactory } from '../../src/engine/session.ts';
import { hashedKey, parseApiKeys } from '../../src/middleware/keys.ts';
import { type ProductionOptions, productionFromEnv } from '../../src/middleware/production.ts';
import { TokenBuckets } from '../../src/middleware/rate-limit.ts';
import { folderSource } from '../../src/sources/folder.ts';
import type { ArtifactSource } from '../../src/sources/source.ts';
import { convArtifact } from '../fixtures/artifact.ts';
import { folderStore } from '../fixtures/folder.ts';
import { appOver, json } from './harness.ts';

let source: ArtifactSource;
let outPerIn: number;
beforeAll(async () => {
  const artifact = await convArtifact();
  source = folderSource(await folderStore(artifact));
  outPerIn = artifact.manifest.model.outChannels / artifact.manifest.model.inChannels;
});

/** A denoiser taking `ms` per call whatever its batch (a joined call costs about one), returning zeros. */
function slowSessions(ms: number): SessionFactory {
  const factory: SessionFactory = async () => {
    const session: ModelSession = {
      run: (x) => new Promise((done) => setTimeout(() => done(new Float32Array(x.length * outPerIn)), ms)),
      release: async () => undefined,
    };
    return session;
  };
  factory.info = { runtime: 'native', ep: 'cpu', threads: 1 };
  return factory;
}

/** The test's client address: a header, as a proxy would set one (app.request has no socket). */
const byHeader = (c: Context) => c.req.header('x-test-client');

function prodApp(
  env: Record<string, string>,
  extra: Partial<ProductionOptions> = {},
  config: Partial<EdgeConfig> = {},
  deps: Partial<AppDeps> = {},
): EdgeApp & { lines: string[] } {
  const lines: string[] = [];
  const production: ProductionOptions = {
    ...productionFromEnv(env),
    clientAddress: byHeader,
    metrics: 'prometheus',
    requestLog: (line) => lines.push(line),
    ...extra,
  };
  const app = appOver(source, { defaultVariant: 'fp32', ...config }, { production, ...deps });
  return Object.assign(app, { lines });
}

const SAMPLE = '/sample?n=1&steps=ddim4&seed=1&format=json';
const bearer = (key: string) => ({ headers: { authorization: `Bearer ${key}` } });

describe('API keys (QDM_API_KEYS)', () => {
  let app: ReturnType<typeof prodApp>;
  beforeAll(async () => {
    app = prodApp({ QDM_API_KEYS: `alpha-key-1, beta-key-2,${await hashedKey('gamma-key-3')}` });
  });

  it('answers 401 with WWW-Authenticate when the key is missing or wrong, and serves a listed key', async () => {
    const missing = await app.request(SAMPLE);
    expect(missing.status).toBe(401);
    expect(missing.headers.get('www-authenticate')).toBe('Bearer realm="qdm"');
    expect(await json(missing)).toMatchObject({ error: 'unauthorized' });
    for (const wrong of ['alpha-key-', 'alpha-key-1x', 'ALPHA-KEY-1', 'sha256:00']) {
      const res = await app.request(SAMPLE, bearer(wrong));
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toBe('Bearer realm="qdm", error="invalid_token"');
    }
    for (const malformed of ['Basic YWxwaGEta2V5LTE6', 'Bearer alpha-key-1 extra', 'Bearer']) {
      const res = await app.request(SAMPLE, { headers: { authorization: malformed } });
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toBe('Bearer realm="qdm", error="invalid_request"');
    }
    for (const key of ['alpha-key-1', 'beta-key-2', 'gamma-key-3']) {
      expect((await app.request(SAMPLE, bearer(key))).status).toBe(200);
    }
  });

  it('guards /models, /browser/model, /browser/manifest and /metrics; /healthz, the page and its scripts stay open', async () => {
    for (const path of ['/models', '/browser/model/conv/fp32', '/browser/manifest/conv', '/metrics', '/%73ample']) {
      expect((await app.request(path)).status, path).toBe(401);
      expect((await app.request(path, bearer('beta-key-2'))).status, path).not.toBe(401);
    }
    const health = await app.request('/healthz');
    expect(health.status).toBe(200);
    expect(await json(health)).toMatchObject({ access: { keys: 3, rateLimit: null, cors: 'same-origin' } });
    const page = await app.request('/');
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('api-key');
    expect((await app.request('/browser/sampler.js')).status).toBe(404); // open (no assets here), not 401
  });

  it('never writes a key into the request log; the client is named by its key id', async () => {
    app.lines.length = 0;
    await app.request(SAMPLE, bearer('alpha-key-1'));
    await app.request(SAMPLE, bearer('not-a-key-at-all'));
    expect(app.lines).toHaveLength(2);
    const joined = app.lines.join('\n');
    expect(joined).not.toMatch(/alpha-key-1|not-a-key-at-all/);
    const [ok, refused] = app.lines.map((l) => JSON.parse(l));
    expect(ok.client).toMatch(/^key:[0-9a-f]{8}$/);
    expect(refused).toMatchObject({ status: 401, client: 'addr:unknown' });
  });

  it('keeps today’s open behaviour when unset, without the key field on the page', async () => {
    const open = prodApp({});
    expect((await open.request(SAMPLE)).status).toBe(200);
    expect(await (await open.request('/')).text()).not.toContain('api-key');
    expect(await json(await open.request('/healthz'))).toMatchObject({ access: { keys: 0 } });
  });

  it('refuses malformed key settings in one line that never quotes an entry', () => {
    expect(() => parseApiKeys('good-key,sha256:abc', 'QDM_API_KEYS')).toThrow(
      /^QDM_API_KEYS: entry 2 starts with sha256: but is not followed by 64 hex digits$/,
    );
    expect(() => parseApiKeys('secret key', 'QDM_API_KEYS_FILE')).toThrow(/^QDM_API_KEYS_FILE: entry 1 is not/);
    expect(() => parseApiKeys('secret key', 'X')).not.toThrow(/secret/);
    expect(parseApiKeys(' , ,\n# none, really', 'QDM_API_KEYS')).toBeUndefined();
    expect(parseApiKeys('# keys, one a line\nk1\n k2 ,k3', 'QDM_API_KEYS_FILE')?.size).toBe(3);
  });

  it('tells keys apart by their digest: a prefix, a longer key or another key is not a match', async () => {
    const keys = parseApiKeys(`k-one,k-two,${await hashedKey('k-three')}`, 'QDM_API_KEYS');
    const ids = await Promise.all(['k-one', 'k-two', 'k-three'].map((k) => keys?.verify(k)));
    expect(new Set(ids).size).toBe(3);
    for (const id of ids) expect(id).toMatch(/^[0-9a-f]{8}$/);
    for (const other of ['k-on', 'k-one ', 'k-threee', '']) expect(await keys?.verify(other)).toBeUndefined();
  });
});

describe('per-client limits (QDM_RATE, QDM_RATE_BURST)', () => {
  /** A clock the test moves by hand, so refills are exact. */
  function manual() {
    let t = 0;
    return { now: () => t, advance: (ms: number) => (t += ms) };
  }

  it('answers 429 with Retry-After and RateLimit-* past the bucket, charging n x steps; it refills at the rate', async () => {
    const clock = manual();
    const app = prodApp({}, { limiter: new TokenBuckets(10, 20, clock.now) });
    const remaining: string[] = [];
    for (let i = 0; i < 5; i++) {
      const res = await app.request(SAMPLE, { headers: { 'x-test-client': 'a' } }); // 1 x 4 model calls
      if (res.status !== 200) {
        expect(res.status).toBe(429);
        expect(res.headers.get('retry-after')).toBe('1'); // 4 calls at 10/s
        expect(res.headers.get('ratelimit-limit')).toBe('20');
        expect(res.headers.get('ratelimit-remaining')).toBe('0');
        expect(res.headers.get('ratelimit-reset')).toBe('2');
        expect(await json(res)).toMatchObject({ error: 'rate_limited' });
        expect((await json(await app.request('/healthz'))).access).toMatchObject({
          rateLimit: { modelCallsPerS: 10, burst: 20 },
        });
        break;
      }
      remaining.push(res.headers.get('ratelimit-remaining') ?? '');
    }
    expect(remaining).toEqual(['16', '12', '8', '4', '0']);
    expect((await app.request(SAMPLE, { headers: { 'x-test-client': 'a' } })).status).toBe(429);
    // Another client has its own bucket.
    expect((await app.request(SAMPLE, { headers: { 'x-test-client': 'b' } })).status).toBe(200);
    // 0.4 s later, 4 calls have been refilled: one request passes, the next does not.
    clock.advance(400);
    expect((await app.request(SAMPLE, { headers: { 'x-test-client': 'a' } })).status).toBe(200);
    expect((await app.request(SAMPLE, { headers: { 'x-test-client': 'a' } })).status).toBe(429);
    // n=2 x 4 steps costs 8: it waits for 8 calls' worth.
    clock.advance(400);
    const two = await app.request('/sample?n=2&steps=ddim4&format=json', { headers: { 'x-test-client': 'a' } });
    expect(two.status).toBe(429);
    expect(two.headers.get('retry-after')).toBe('1');
    expect((await json(two)).message).toMatch(/this request costs 8/);
  });

  it('refuses a request that can never fit the bucket with 422 naming n, not a 429 to retry forever', async () => {
    const app = prodApp({ QDM_RATE: '1', QDM_RATE_BURST: '6' });
    const res = await app.request('/sample?n=2&steps=ddim4&format=json');
    expect(res.status).toBe(422);
    expect((await json(res)).message).toMatch(/= 8 model calls is above .* burst of 6 \(QDM_RATE_BURST\)/);
  });

  it('limits by key when keys are on (one key from two addresses shares one bucket)', async () => {
    const app = prodApp({ QDM_API_KEYS: 'key-a,key-b', QDM_RATE: '0.001', QDM_RATE_BURST: '4' });
    const as = (key: string, address: string) => ({
      headers: { authorization: `Bearer ${key}`, 'x-test-client': address },
    });
    expect((await app.request(SAMPLE, as('key-a', '10.0.0.1'))).status).toBe(200);
    expect((await app.request(SAMPLE, as('key-a', '10.0.0.2'))).status).toBe(429);
    expect((await app.request(SAMPLE, as('key-b', '10.0.0.1'))).status).toBe(200);
  });

  it('gives the calls back when admission refuses the request (503)', async () => {
    const clock = manual();
    const app = prodApp({}, { limiter: new TokenBuckets(1, 8, clock.now) }, { maxQueueMs: 1 }, {});
    const headers = { 'x-test-client': 'c' };
    expect((await app.request(SAMPLE, { headers })).headers.get('ratelimit-remaining')).toBe('4'); // measured
    // Hold the queue: a second client's long request (not charged to c).
    const slow = prodApp(
      {},
      { limiter: new TokenBuckets(1, 400, clock.now) },
      { maxQueueMs: 1 },
      {
        sessions: slowSessions(20),
      },
    );
    expect((await slow.request(SAMPLE, { headers: { 'x-test-client': 'warm' } })).status).toBe(200);
    const long = slow.request('/sample?n=4&steps=ddim25&format=json', { headers: { 'x-test-client': 'other' } });
    while (slow.engine.queue.expectedWaitMs() < 10) await new Promise((r) => setTimeout(r, 5));
    const refused = await slow.request(SAMPLE, { headers });
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).not.toBeNull();
    await long;
    const after = await slow.request(SAMPLE, { headers });
    expect(after.status).toBe(200);
    expect(after.headers.get('ratelimit-remaining')).toBe('396'); // charged once (this request), not twice
  });

  it('a client over its share cannot crowd another out: 200 requests of one, 5 of another', async () => {
    const CALL_MS = 40;
    const STEPS = 4;
    const path = `/sample?n=1&steps=ddim${STEPS}&format=json`;
    async function run(limits: Record<string, string>) {
      const app = prodApp(
        { QDM_API_KEYS: 'greedy,polite', ...limits },
        {},
        { maxQueueMs: 1000 },
        {
          sessions: slowSessions(CALL_MS),
        },
      );
      const as = (key: string) => ({ headers: { authorization: `Bearer ${key}` } });
      await app.request(path, as('polite')); // loads and measures the session
      const alone: number[] = [];
      for (let i = 0; i < 3; i++) {
        const t0 = performance.now();
        await app.request(path, as('polite'));
        alone.push(performance.now() - t0);
      }
      await new Promise((r) => setTimeout(r, 1000)); // buckets full again
      const ownWorkMs = alone.sort((a, b) => a - b)[1];
      // The greedy client: 200 concurrent requests, each sent again 1-2x a refusal's Retry-After later (jittered,
      // as clients retry), until the polite one is done.
      let done = false;
      const greedy: number[] = [];
      const burst = Array.from({ length: 200 }, async () => {
        while (!done) {
          const res = await app.request(path, as('greedy'));
          greedy.push(res.status);
          await res.arrayBuffer();
          const retryS = Number(res.headers.get('retry-after') ?? 0);
          if (res.status !== 200) await new Promise((r) => setTimeout(r, retryS * (1000 + 1000 * Math.random())));
        }
      });
      await new Promise((r) => setTimeout(r, 300)); // the burst has been answered: its share runs
      const polite: { status: number; ms: number }[] = [];
      for (let i = 0; i < 5; i++) {
        const t0 = performance.now();
        const res = await app.request(path, as('polite'));
        polite.push({ status: res.status, ms: performance.now() - t0 });
      }
      done = true;
      await Promise.all(burst);
      return { ownWorkMs, polite, greedy };
    }

    // The bound: the polite client's own work (measured alone) plus one call already running when it arrives, 25%
    // over it for timers running late on a shared machine; a single request may meet a second call (its step
    // missed a joined call while the greedy client's retries were answered), never the greedy client's queue.
    // Limits: 40 model calls/s, bucket 12 (3 requests): the greedy client's admitted requests plus the polite
    // one's fit one joined call (QDM_STEP_BATCH 8).
    const limited = await run({ QDM_RATE: '40', QDM_RATE_BURST: '12' });
    const bound = (limited.ownWorkMs + CALL_MS) * 1.25;
    const worst = (limited.ownWorkMs + 2 * CALL_MS) * 1.25;
    const ms = (r: typeof limited) => r.polite.map((p) => p.ms).sort((a, b) => a - b);
    expect(limited.polite.map((p) => p.status)).toEqual([200, 200, 200, 200, 200]);
    expect(ms(limited)[2]).toBeLessThanOrEqual(bound);
    expect(ms(limited)[4]).toBeLessThanOrEqual(worst);
    expect(limited.greedy.filter((s) => s === 429).length).toBeGreaterThan(100);
    expect(limited.greedy.every((s) => s === 200 || s === 429 || s === 503)).toBe(true);
    // Without limits the same burst fills the admission queue: the polite client is refused or waits far longer.
    const open = await run({});
    expect(open.polite.some((p) => p.status === 503) || ms(open)[4] > 2 * worst).toBe(true);
    console.log(
      `fairness: own work ${limited.ownWorkMs.toFixed(0)} ms, bound ${bound.toFixed(0)} ms; limited: polite ` +
        `${limited.polite.map((p) => `${p.status}/${p.ms.toFixed(0)}`).join(' ')}; open: polite ` +
        `${open.polite.map((p) => `${p.status}/${p.ms.toFixed(0)}`).join(' ')}`,
    );
  }, 60_000);
});

describe('CORS (QDM_CORS_ORIGINS)', () => {
  it('answers a preflight from a listed origin and exposes the headers a page reads; other origins get none', async () => {
    const app = prodApp({ QDM_API_KEYS: 'k', QDM_CORS_ORIGINS: 'https://app.example.com,http://127.0.0.1:9' });
    const preflight = await app.request('/sample', {
      method: 'OPTIONS',
      headers: {
        origin: 'https://app.example.com',
        'access-control-request-method': 'GET',
        'access-control-request-headers': 'authorization',
      },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-origin')).toBe('https://app.example.com');
    expect(preflight.headers.get('access-control-allow-headers')?.toLowerCase()).toContain('authorization');
    const res = await app.request(SAMPLE, {
      headers: { origin: 'https://app.example.com', authorization: 'Bearer k' },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('access-control-allow-origin')).toBe('https://app.example.com');
    expect(res.headers.get('access-control-expose-headers')).toMatch(/X-QDM-Seed.*RateLimit-Remaining/);
    // A refusal carries the CORS headers too, so the page can read the 401.
    const refused = await app.request(SAMPLE, { headers: { origin: 'https://app.example.com' } });
    expect(refused.status).toBe(401);
    expect(refused.headers.get('access-control-allow-origin')).toBe('https://app.example.com');
    const other = await app.request(SAMPLE, { headers: { origin: 'https://evil.example', authorization: 'Bearer k' } });
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('sends no CORS headers by default (same origin only), and refuses a malformed origin setting', async () => {
    const app = prodApp({});
    const res = await app.request(SAMPLE, { headers: { origin: 'https://app.example.com' } });
    expect(res.status).toBe(200);
    expect(res.headers.get('access-control-allow-origin')).toBeNull();
    expect(() => productionFromEnv({ QDM_CORS_ORIGINS: 'app.example.com' })).toThrow(
      /^QDM_CORS_ORIGINS: "app\.example\.com" is not an origin/,
    );
    expect(() => productionFromEnv({ QDM_CORS_ORIGINS: 'https://a.example/path' })).toThrow(/QDM_CORS_ORIGINS/);
  });
});

describe('GET /metrics and the request log', () => {
  it('counts requests by route and status, model calls, step latencies, refusals and the queue', async () => {
    const app = prodApp({ QDM_RATE: '0.001', QDM_RATE_BURST: '8' });
    await app.request(SAMPLE); // 4 calls
    await app.request('/sample?n=1&steps=ddim4&format=npy'); // 4 calls: the bucket is empty now
    expect((await app.request(SAMPLE)).status).toBe(429);
    await app.request('/sample?n=99');
    await app.request('/models');
    const res = await app.request('/metrics');
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    const value = (series: string) => {
      const line = text.split('\n').find((l) => l.startsWith(`${series} `));
      return line === undefined ? undefined : Number(line.slice(series.length + 1));
    };
    expect(value('qdm_http_requests_total{route="/sample",method="GET",status="200"}')).toBe(2);
    expect(value('qdm_http_requests_total{route="/sample",method="GET",status="429"}')).toBe(1);
    expect(value('qdm_http_requests_total{route="/sample",method="GET",status="400"}')).toBe(1);
    expect(value('qdm_http_requests_total{route="/models",method="GET",status="200"}')).toBe(1);
    expect(value('qdm_model_calls_total{model="conv",variant="fp32"}')).toBe(8);
    expect(value('qdm_rate_limited_total')).toBe(1);
    expect(value('qdm_step_seconds_count{model="conv",variant="fp32",runtime="wasm-wasm"}')).toBe(8);
    expect(value('qdm_step_seconds_bucket{model="conv",variant="fp32",runtime="wasm-wasm",le="+Inf"}')).toBe(8);
    expect(value('qdm_queue_requests')).toBe(0);
    expect(value('qdm_sessions_loaded')).toBe(1);
    expect(text).toMatch(/^# TYPE qdm_step_seconds histogram$/m);
    expect(text).toMatch(/^qdm_queue_expected_wait_seconds \d/m);
    expect(text).toMatch(/^qdm_runtime_memory_bytes \d+$/m);
    expect(await json(await app.request('/healthz'))).toMatchObject({
      metrics: { kind: 'prometheus', path: '/metrics' },
    });
  });

  it('writes one JSON line per request with its id, route, model, variant, n, steps, status and times', async () => {
    const app = prodApp({});
    app.lines.length = 0;
    const res = await app.request('/sample?n=2&steps=ddim4&format=json', { headers: { 'x-request-id': 'abc-123' } });
    expect(res.headers.get('x-request-id')).toBe('abc-123');
    const generated = await app.request('/healthz');
    const id = generated.headers.get('x-request-id');
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    await app.request('/sample?n=1&steps=ddim4&format=json', {
      method: 'POST',
      body: JSON.stringify({ n: 1, steps: 'ddim4', format: 'json' }),
    });
    const events = await app.request('/sample?n=1&steps=ddim3&format=json', {
      headers: { accept: 'text/event-stream' },
    });
    await events.text();
    await new Promise((r) => setTimeout(r, 10));
    expect(app.lines).toHaveLength(4);
    const [sample, health, post, stream] = app.lines.map((l) => JSON.parse(l));
    expect(sample).toMatchObject({ id: 'abc-123', method: 'GET', route: '/sample', status: 200, model: 'conv' });
    expect(sample).toMatchObject({ variant: 'fp32', n: 2, steps: 4 });
    for (const k of ['queueWaitMs', 'readyMs', 'modelMs', 'totalMs']) expect(typeof sample[k]).toBe('number');
    expect(sample.totalMs).toBeGreaterThanOrEqual(sample.modelMs);
    expect(health).toMatchObject({ id, route: '/healthz', status: 200 });
    expect(health.model).toBeUndefined();
    expect(post).toMatchObject({ method: 'POST', n: 1, steps: 4 });
    expect(JSON.stringify(post)).not.toContain('format'); // never the body
    expect(stream).toMatchObject({ steps: 3, status: 200 });
    expect(typeof stream.modelMs).toBe('number');
  });
});
