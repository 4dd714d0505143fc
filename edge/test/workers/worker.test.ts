import { env, SELF } from 'cloudflare:test';
import { decodeNpy, versionFileKey } from '@qdm/shared';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { CROSS_RUNTIME_QUERIES, fixturesFromReference, fromBase64 } from '../fixtures/cross-runtime.ts';
import { publishVersioned } from '../fixtures/publish.ts';

const reference = inject('nodeReference');
const prefix = env.QDM_R2_PREFIX;
const put = async (key: string, bytes: Uint8Array) => {
  await env.ARTIFACTS.put(key, bytes);
};
const get = (path: string, init?: RequestInit) => SELF.fetch(`http://edge.test${path}`, init);

beforeAll(async () => {
  for (const artifact of fixturesFromReference(reference)) await publishVersioned(put, prefix, artifact, 'v1');
});

describe('the Worker inside workerd, artifacts from the R2 binding', () => {
  it('is healthy and lists the artifacts from R2', async () => {
    expect((await get('/healthz')).status).toBe(200);
    const body = (await (await get('/models')).json()) as { source: string; models: { name: string }[] };
    expect(body.source).toBe(`r2 ARTIFACTS/${prefix}`);
    expect(body.models).toMatchObject([
      { name: 'conv', version: 'v1' },
      { name: 'unet', version: 'v1' },
    ]);
  });

  it.each(CROSS_RUNTIME_QUERIES)('answers %s with the same bytes as Node', async (query) => {
    const res = await get(query);
    expect(res.status).toBe(200);
    const body = new Uint8Array(await res.arrayBuffer());
    const expected = fromBase64(reference.outputs[query]);
    expect(body.length).toBe(expected.length);
    expect(body.every((b, i) => b === expected[i])).toBe(true);
    expect(res.headers.get('server-timing')).toMatch(/step;dur=/);
  });

  it('samples the first listed artifact when no model is named', async () => {
    const res = await get('/sample?variant=fp32&seed=1&n=2&steps=ddim5&format=npy');
    expect(res.headers.get('x-qdm-model')).toBe('conv');
    expect(decodeNpy(new Uint8Array(await res.arrayBuffer())).shape).toEqual([2, 3, 8, 8]);
  });

  it('streams steps as server-sent events', async () => {
    const res = await get('/sample?variant=fp32&seed=2&n=1&steps=ddim4&format=json', {
      headers: { accept: 'text/event-stream' },
    });
    const text = await res.text();
    expect(text.match(/^event: step$/gm)).toHaveLength(4);
    expect(text).toMatch(/^event: result$/m);
  });

  it('refuses a tampered R2 object with 503 and answers bad input with 400', async () => {
    const good = fixturesFromReference(reference).find((a) => a.name === 'unet')!;
    const bad = { ...good, name: 'tampered', manifest: { ...good.manifest, name: 'tampered' } };
    await publishVersioned(put, prefix, bad, 'v1');
    const file = bad.manifest.variants.fp32.file;
    const corrupt = bad.files[file].slice();
    corrupt[20] ^= 0x55;
    await put(versionFileKey(`${prefix}/tampered`, 'v1', file), corrupt);
    const res = await get('/sample?model=tampered&variant=fp32&n=1&steps=ddim4');
    expect(res.status).toBe(503);
    expect(((await res.json()) as { message: string }).message).toContain('sha256');
    const invalid = await get('/sample?n=99');
    expect(invalid.status).toBe(400);
    expect(await invalid.json()).toMatchObject({ field: 'n' });
  });
});
