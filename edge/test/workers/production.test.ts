// The production layer inside workerd: keys (the QDM_API_KEYS secret), 429 from the in-isolate bucket and from the
// platform's rate-limiting binding, CORS, metrics to the Analytics Engine (or absent, saying so).
import { env } from 'cloudflare:test';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { hashedKey } from '../../src/middleware/keys.ts';
import { buildWorkerApp, type WorkerEnv } from '../../src/worker.ts';
import { fixturesFromReference } from '../fixtures/cross-runtime.ts';
import { publishVersioned } from '../fixtures/publish.ts';

const reference = inject('nodeReference');
const base = env as unknown as WorkerEnv & { TEST_RATE_LIMITER: unknown; TEST_METRICS: unknown };
const SAMPLE = 'http://edge.test/sample?model=conv&variant=fp32&n=1&steps=ddim4&seed=3&format=json';

beforeAll(async () => {
  const put = async (key: string, bytes: Uint8Array) => {
    await env.ARTIFACTS.put(key, bytes);
  };
  for (const artifact of fixturesFromReference(reference))
    await publishVersioned(put, env.QDM_R2_PREFIX, artifact, 'v1');
});

const request = (
  app: ReturnType<typeof buildWorkerApp>,
  url: string,
  headers: Record<string, string> = {},
  method = 'GET',
) => app.request(url, { method, headers });

describe('the Worker as a production service (workerd)', () => {
  it('needs a key from QDM_API_KEYS (plain or sha256:) for /sample and /models; /healthz stays open', async () => {
    const app = buildWorkerApp({ ...base, QDM_API_KEYS: `plain-key,${await hashedKey('hashed-key')}` });
    const missing = await request(app, SAMPLE);
    expect(missing.status).toBe(401);
    expect(missing.headers.get('www-authenticate')).toBe('Bearer realm="qdm"');
    const wrong = await request(app, SAMPLE, { authorization: 'Bearer plain-kez' });
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get('www-authenticate')).toMatch(/error="invalid_token"/);
    expect((await request(app, SAMPLE, { authorization: 'Bearer plain-key' })).status).toBe(200);
    expect((await request(app, SAMPLE, { authorization: 'Bearer hashed-key' })).status).toBe(200);
    expect((await request(app, 'http://edge.test/models')).status).toBe(401);
    const health = await request(app, 'http://edge.test/healthz');
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ access: { keys: 2 } });
  });

  it('answers 429 with Retry-After and RateLimit-* from the in-isolate bucket (QDM_RATE), per CF-Connecting-IP', async () => {
    const app = buildWorkerApp({ ...base, QDM_RATE: '0.01', QDM_RATE_BURST: '8' });
    const from = (ip: string) => ({ 'cf-connecting-ip': ip });
    expect((await request(app, SAMPLE, from('192.0.2.1'))).headers.get('ratelimit-remaining')).toBe('4');
    expect((await request(app, SAMPLE, from('192.0.2.1'))).status).toBe(200);
    const refused = await request(app, SAMPLE, from('192.0.2.1'));
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(refused.headers.get('ratelimit-limit')).toBe('8');
    expect(await refused.json()).toMatchObject({ error: 'rate_limited' });
    expect((await request(app, SAMPLE, from('192.0.2.2'))).status).toBe(200);
  });

  it("answers 429 from the platform's rate-limiting binding where one is configured", async () => {
    const app = buildWorkerApp({ ...base, RATE_LIMITER: base.TEST_RATE_LIMITER, QDM_RATE_LIMITER_PERIOD: '60' });
    const from = { 'cf-connecting-ip': '198.51.100.7' };
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push((await request(app, SAMPLE, from)).status);
    expect(statuses).toEqual([200, 200, 429]); // the binding's limit is 2 a period (vitest.workers.config.ts)
    const refused = await request(app, SAMPLE, from);
    expect(refused.headers.get('retry-after')).toBe('60');
    expect((await request(app, SAMPLE, { 'cf-connecting-ip': '198.51.100.8' })).status).toBe(200);
    expect(await (await request(app, 'http://edge.test/healthz')).json()).toMatchObject({
      access: { rateLimit: { kind: 'workers-ratelimit-binding', periodS: 60 } },
    });
  });

  it('answers a CORS preflight from a listed origin and none from others', async () => {
    const app = buildWorkerApp({ ...base, QDM_API_KEYS: 'k', QDM_CORS_ORIGINS: 'https://app.example.com' });
    const preflight = (origin: string) =>
      request(
        app,
        'http://edge.test/sample',
        { origin, 'access-control-request-method': 'GET', 'access-control-request-headers': 'authorization' },
        'OPTIONS',
      );
    const ok = await preflight('https://app.example.com');
    expect(ok.status).toBe(204);
    expect(ok.headers.get('access-control-allow-origin')).toBe('https://app.example.com');
    expect(ok.headers.get('access-control-allow-headers')?.toLowerCase()).toContain('authorization');
    expect((await preflight('https://other.example')).headers.get('access-control-allow-origin')).toBeNull();
    const res = await request(app, SAMPLE, { origin: 'https://app.example.com', authorization: 'Bearer k' });
    expect(res.headers.get('access-control-allow-origin')).toBe('https://app.example.com');
    expect(res.headers.get('access-control-expose-headers')).toContain('X-QDM-Seed');
  });

  it('writes one Analytics Engine data point per request where METRICS is bound; else says metrics are absent', async () => {
    const points: { indexes?: string[]; blobs?: string[]; doubles?: number[] }[] = [];
    const app = buildWorkerApp({ ...base, METRICS: { writeDataPoint: (p: (typeof points)[0]) => points.push(p) } });
    await request(app, SAMPLE);
    await request(app, 'http://edge.test/sample?n=0');
    expect(points).toHaveLength(2);
    expect(points[0].blobs?.slice(0, 5)).toEqual(['/sample', 'GET', '200', 'conv', 'fp32']);
    expect(points[0].doubles?.slice(0, 2)).toEqual([200, 4]); // status, model calls
    expect(points[1].blobs?.[2]).toBe('400');
    expect(await (await request(app, 'http://edge.test/healthz')).json()).toMatchObject({
      metrics: { kind: 'analytics-engine' },
    });
    expect((await request(app, 'http://edge.test/metrics')).status).toBe(404); // Prometheus is Node's
    // The local Analytics Engine binding takes the points too.
    const bound = buildWorkerApp({ ...base, METRICS: base.TEST_METRICS });
    expect((await request(bound, SAMPLE)).status).toBe(200);
    const none = buildWorkerApp({ ...base });
    expect(await (await request(none, 'http://edge.test/healthz')).json()).toMatchObject({
      metrics: { kind: null, reason: expect.stringMatching(/no METRICS Analytics Engine binding/) },
    });
  });
});
