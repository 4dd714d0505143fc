import { encodeNpy } from '@qdm/shared';
import { describe, expect, it } from 'vitest';
import { endpointReport, pairAgreement, parseSeeds, runEndpoint } from './compare.ts';
import { fetchSample, parseServerTiming, sampleUrl } from './endpoint.ts';
import { PSNR_CAP_DB } from './pixel-metrics.ts';

const IMAGE: [number, number, number] = [3, 16, 16];

/** A fake /sample answer: a seed-dependent image as .npy, with the edge's headers. */
function npyResponse(seed: number, offset = 0): Response {
  const data = new Float32Array(IMAGE[0] * IMAGE[1] * IMAGE[2]).map((_, i) => Math.sin(seed + i / 7) * 0.8 + offset);
  const body = encodeNpy({ dtype: 'float32', shape: [1, ...IMAGE], data });
  return new Response(body as Uint8Array<ArrayBuffer>, {
    headers: {
      'X-QDM-Seed': String(seed),
      'X-QDM-Variant': 'fp32',
      'Server-Timing': 'load;dur=12.5;desc="read+verify+session", step;dur=2, total;dur=40',
    },
  });
}

/** A fetch that answers from `script(seed, attempt)`; records the URLs asked. */
function fakeFetch(script: (seed: number, attempt: number) => Response | Error) {
  const attempts = new Map<number, number>();
  const urls: string[] = [];
  const fn = (async (input: string | URL | Request) => {
    const url = new URL(String(input));
    urls.push(url.toString());
    const seed = Number(url.searchParams.get('seed'));
    const n = (attempts.get(seed) ?? 0) + 1;
    attempts.set(seed, n);
    const answer = script(seed, n);
    if (answer instanceof Error) throw answer;
    return answer;
  }) as typeof fetch;
  return { fn, urls, attempts };
}

const options = { steps: 'ddim5', eta: 0, timeoutMs: 1000, retries: 2, backoffMs: 1 };

describe('sampleUrl', () => {
  it('adds /sample to a server URL and keeps fixed fields of a /sample URL', () => {
    const plain = new URL(sampleUrl('http://127.0.0.1:8787', 7, options));
    expect(plain.pathname).toBe('/sample');
    expect(Object.fromEntries(plain.searchParams)).toEqual({
      seed: '7',
      n: '1',
      steps: 'ddim5',
      eta: '0',
      format: 'npy',
    });
    const fixed = new URL(sampleUrl('http://h/edge/sample?variant=int8&seed=99', 3, options));
    expect(fixed.pathname).toBe('/edge/sample');
    expect(fixed.searchParams.get('variant')).toBe('int8');
    expect(fixed.searchParams.getAll('seed')).toEqual(['3']);
    const dpm = new URL(sampleUrl('http://127.0.0.1:8787', 7, { ...options, sampler: 'dpm++2m' }));
    expect(dpm.searchParams.get('sampler')).toBe('dpm++2m');
  });

  it('parses Server-Timing durations', () => {
    expect(parseServerTiming('load;dur=12.5;desc="a, b", step;dur=2, total;dur=40')).toMatchObject({
      load: 12.5,
      total: 40,
    });
    expect(parseServerTiming(null)).toEqual({});
  });
});

describe('fetchSample', () => {
  it('retries 503 and network errors with backoff, then succeeds', async () => {
    const fake = fakeFetch((seed, attempt) =>
      attempt === 1
        ? new Response('{"error":"busy","message":"try later"}', { status: 503 })
        : attempt === 2
          ? new TypeError('fetch failed')
          : npyResponse(seed),
    );
    const got = await fetchSample('http://x', 5, { ...options, fetch: fake.fn });
    expect(got.ok).toBe(true);
    expect(got.attempts).toBe(3);
    expect(got.errors).toEqual(['HTTP 503: try later', 'request failed: fetch failed']);
    if (got.ok) {
      expect(got.shape).toEqual(IMAGE);
      expect(got.serverTiming.load).toBe(12.5);
      expect(got.info.variant).toBe('fp32');
    }
  });

  it('does not retry a 400, and gives up after the retries', async () => {
    const bad = fakeFetch(() => new Response('{"error":"bad_request","message":"steps too large"}', { status: 400 }));
    const refused = await fetchSample('http://x', 1, { ...options, fetch: bad.fn });
    expect(refused).toMatchObject({ ok: false, attempts: 1, errors: ['HTTP 400: steps too large'] });
    const down = fakeFetch(() => new Response('oops', { status: 502 }));
    const failed = await fetchSample('http://x', 1, { ...options, fetch: down.fn });
    expect(failed).toMatchObject({ ok: false, attempts: 3 });
  });

  it('refuses an answer for another seed or that is not .npy', async () => {
    const wrongSeed = fakeFetch(() => npyResponse(4));
    expect(await fetchSample('http://x', 1, { ...options, fetch: wrongSeed.fn })).toMatchObject({
      ok: false,
      errors: ['answered seed 4, not 1'],
    });
    const png = fakeFetch(() => new Response(new Uint8Array([0x89, 0x50, 0x4e, 0x47])));
    const got = await fetchSample('http://x', 1, { ...options, fetch: png.fn });
    expect(got.ok).toBe(false);
    expect(got.errors[0]).toMatch(/not \.npy/);
  });

  it('times out a request that hangs', async () => {
    const hang = (async (_: unknown, init?: RequestInit) =>
      new Promise((_, fail) =>
        init?.signal?.addEventListener('abort', () => fail(init.signal?.reason)),
      )) as typeof fetch;
    const got = await fetchSample('http://x', 1, { ...options, timeoutMs: 20, retries: 0, fetch: hang });
    expect(got).toMatchObject({ ok: false, errors: ['request failed: timed out after 20 ms'] });
  });
});

describe('runEndpoint', () => {
  it('sends the cold request alone first, then the rest, and reports every error', async () => {
    const fake = fakeFetch((seed, attempt) =>
      seed === 3 && attempt === 1 ? new Response('', { status: 500 }) : npyResponse(seed),
    );
    const run = await runEndpoint('http://x', [0, 1, 2, 3, 4, 5], { ...options, concurrency: 3, fetch: fake.fn });
    expect(new URL(fake.urls[0]).searchParams.get('seed')).toBe('0');
    expect(run.cold?.seed).toBe(0);
    expect(run.fetched.map((s) => s.seed)).toEqual([0, 1, 2, 3, 4, 5]);
    const report = endpointReport(run);
    expect(report).toMatchObject({ ok: true, n_ok: 6, retried: 1 });
    expect(report.warm?.count).toBe(5);
    expect(report.errors).toEqual([{ seed: 3, attempts: 2, errors: ['HTTP 500: '] }]);
    expect(report.cold?.server_load_ms).toBe(12.5);
  });

  it('skips the other seeds of an endpoint whose first request fails', async () => {
    const dead = fakeFetch(() => new TypeError('fetch failed'));
    const run = await runEndpoint('http://x', [0, 1, 2], { ...options, concurrency: 2, fetch: dead.fn });
    expect(dead.urls).toHaveLength(3); // the cold request and its two retries
    const report = endpointReport(run);
    expect(report).toMatchObject({ ok: false, n_ok: 0, n_failed: 1, n_skipped: 2, cold: null, warm: null });
    const live = await runEndpoint('http://x', [0, 1, 2], {
      ...options,
      concurrency: 2,
      fetch: fakeFetch((seed) => npyResponse(seed)).fn,
    });
    expect(pairAgreement(live, run)).toMatchObject({
      n: 0,
      psnr: null,
      reason: 'no seed was answered by both endpoints',
    });
  });

  it('compares the seeds both endpoints answered', async () => {
    const a = await runEndpoint('http://a', [0, 1, 2], {
      ...options,
      concurrency: 2,
      fetch: fakeFetch((seed) => npyResponse(seed)).fn,
    });
    const same = await runEndpoint('http://b', [0, 1, 2], {
      ...options,
      concurrency: 2,
      fetch: fakeFetch((seed) => npyResponse(seed)).fn,
    });
    expect(pairAgreement(a, same)).toMatchObject({
      n: 3,
      identical: true,
      identical_images: 3,
      psnr: PSNR_CAP_DB,
      mse: 0,
      ssim: 1,
      max_abs: 0,
    });
    const shifted = fakeFetch((seed) => (seed === 1 ? new Response('', { status: 404 }) : npyResponse(seed, 0.05)));
    const b = await runEndpoint('http://b', [0, 1, 2], { ...options, concurrency: 2, fetch: shifted.fn });
    const pair = pairAgreement(a, b);
    expect(pair.n).toBe(2);
    expect(pair.identical).toBe(false);
    // +0.05 in [-1, 1] is +6.375 levels before truncation: every value moves by 6 or 7
    expect(pair.max_abs).toBe(7);
    expect(pair.psnr).toBeGreaterThan(10 * Math.log10(255 ** 2 / 49));
    expect(pair.psnr).toBeLessThan(10 * Math.log10(255 ** 2 / 36));
    expect(pair.ssim).toBeLessThan(1);
  });
});

describe('parseSeeds', () => {
  it('reads seeds and ranges and refuses repeats', () => {
    expect(parseSeeds('0-3,7, 10-11')).toEqual([0, 1, 2, 3, 7, 10, 11]);
    expect(() => parseSeeds('1,1')).toThrow(/repeat/);
    expect(() => parseSeeds('5-2')).toThrow(/bad range/);
    expect(() => parseSeeds('a')).toThrow(/not a seed/);
  });
});
