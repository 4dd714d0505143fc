import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createDiffusion, ddimSample, decodeNpy, decodePng } from '@qdm/shared';
import { beforeAll, describe, expect, it } from 'vitest';
import type { EdgeApp } from '../../src/app.ts';
import { folderSource } from '../../src/sources/folder.ts';
import { convArtifact, convGraph, type FixtureArtifact } from '../fixtures/artifact.ts';
import { folderStore } from '../fixtures/folder.ts';
import { tinyDenoiserForward } from '../fixtures/tiny-onnx.ts';
import { unetArtifact } from '../fixtures/unet-artifact.ts';
import { appOver, bytes, folderApp, json, ortSessions } from './harness.ts';

let app: EdgeApp;
let artifact: FixtureArtifact;

beforeAll(async () => {
  ({ app, artifact } = await folderApp());
});

const sample = (query: string, init?: RequestInit) => app.request(`/sample?${query}`, init);

describe('GET /healthz and /models', () => {
  it('reports health', async () => {
    const res = await app.request('/healthz');
    expect(res.status).toBe(200);
    expect(await json(res)).toMatchObject({ ok: true });
  });

  it('lists the artifact with its variants as the manifest records them', async () => {
    const body = (await json(await app.request('/models'))) as { models: Record<string, unknown>[] };
    expect(body.models).toHaveLength(1);
    const [model] = body.models;
    expect(model.name).toBe('unet');
    for (const [key, entry] of Object.entries(artifact.manifest.variants)) {
      expect((model.variants as Record<string, unknown>)[key]).toMatchObject({
        bytes: entry.bytes,
        sha256: entry.sha256,
      });
    }
  });
});

describe('GET /sample', () => {
  it('answers a PNG grid with the artifact, variant, seed and Server-Timing headers', async () => {
    const res = await sample('model=unet&variant=fp32&seed=7&n=4&steps=ddim10');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('image/png');
    expect(res.headers.get('x-qdm-model')).toBe('unet');
    expect(res.headers.get('x-qdm-sha256')).toBe(artifact.manifest.variants.fp32.sha256);
    expect(res.headers.get('x-qdm-variant')).toBe('fp32');
    expect(res.headers.get('x-qdm-seed')).toBe('7');
    const timing = res.headers.get('server-timing') ?? '';
    for (const name of ['load', 'load-read', 'load-verify', 'load-session', 'step', 'total']) {
      expect(timing).toMatch(new RegExp(`(^|, )${name};dur=[\\d.]+`));
    }
    const cached = await sample('model=unet&variant=fp32&seed=7&n=1&steps=ddim5');
    expect(cached.headers.get('server-timing')).not.toMatch(/load-session/);
    const png = decodePng(await bytes(res));
    expect([png.width, png.height, png.channels]).toEqual([2 + 2 * 10, 2 + 2 * 10, 3]); // 2x2 grid of 8px, pad 2
  });

  it.each(['fp32', 'qdq'] as const)(
    'matches DDIM over an ORT-independent JavaScript evaluation of the same graph (%s)',
    async (variant) => {
      const conv = await convArtifact();
      const convApp = appOver(folderSource(await folderStore(conv)));
      const res = await convApp.request(`/sample?variant=${variant}&seed=11&n=2&steps=ddim10&eta=0.5&format=npy`);
      const got = decodeNpy(await bytes(res));
      expect(got.shape).toEqual([2, 3, 8, 8]);
      const d = conv.manifest.diffusion;
      const expected = await ddimSample(tinyDenoiserForward(convGraph(variant, 8)), {
        diffusion: createDiffusion(d, 'ddim10'),
        shape: [3, 8, 8],
        batch: 2,
        seed: 11,
        eta: 0.5,
      });
      const x = got.data as Float32Array;
      let maxDiff = 0;
      for (let i = 0; i < x.length; i++) maxDiff = Math.max(maxDiff, Math.abs(x[i] - expected[i]));
      expect(maxDiff).toBeLessThan(1e-4);
    },
  );

  it('gives the same bytes for the same seed, and sample k the same alone or in a batch', async () => {
    const a = await bytes(await sample('variant=fp32&seed=3&n=3&steps=ddim10&format=npy'));
    const b = await bytes(await sample('variant=fp32&seed=3&n=3&steps=ddim10&format=npy'));
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true);
    const batch = decodeNpy(a).data as Float32Array;
    const alone = decodeNpy(await bytes(await sample('variant=fp32&seed=3&n=1&steps=ddim10&format=npy')))
      .data as Float32Array;
    expect(Array.from(alone)).toEqual(Array.from(batch.subarray(0, alone.length)));
  });

  it('picks and echoes a random uint32 seed when none is given', async () => {
    const res = await sample('variant=fp32&n=1&steps=ddim5&format=npy');
    const seed = Number(res.headers.get('x-qdm-seed'));
    expect(Number.isInteger(seed) && seed >= 0 && seed <= 0xffffffff).toBe(true);
    const again = await sample(`variant=fp32&n=1&steps=ddim5&format=npy&seed=${seed}`);
    expect(Buffer.from(await bytes(again)).equals(Buffer.from(await bytes(res)))).toBe(true);
  });

  it('gives different images for another variant of the same seed', async () => {
    const a = await bytes(await sample('variant=fp32&seed=5&n=1&steps=ddim5&format=npy'));
    const b = await sample('variant=alt&seed=5&n=1&steps=ddim5&format=npy');
    expect(b.headers.get('x-qdm-sha256')).toBe(artifact.manifest.variants.alt.sha256);
    expect(Buffer.from(await bytes(b)).equals(Buffer.from(a))).toBe(false);
  });

  it('answers json with one base64 PNG per sample and the metadata', async () => {
    const body = await json(await sample('variant=fp32&seed=9&n=3&steps=7&format=json'));
    expect(body).toMatchObject({ model: 'unet', variant: 'fp32', seed: 9, n: 3, steps: 7, shape: [3, 3, 8, 8] });
    const images = body.images as string[];
    expect(images).toHaveLength(3);
    for (const image of images) expect(decodePng(Buffer.from(image, 'base64'))).toMatchObject({ width: 8, height: 8 });
    expect((body.timings as { stepMs: number[] }).stepMs).toHaveLength(7);
  });

  it('takes the same fields as a JSON POST body', async () => {
    const get = await bytes(await sample('variant=fp32&seed=21&n=2&steps=ddim5&eta=0.3&format=npy'));
    const post = await app.request('/sample', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ variant: 'fp32', seed: 21, n: 2, steps: 'ddim5', eta: 0.3, format: 'npy' }),
    });
    expect(post.status).toBe(200);
    expect(Buffer.from(await bytes(post)).equals(Buffer.from(get))).toBe(true);
  });

  it('streams one progress event per step, then the result', async () => {
    const res = await sample('variant=fp32&seed=1&n=1&steps=ddim6&format=json', {
      headers: { accept: 'text/event-stream' },
    });
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const events = (await res.text())
      .split('\n\n')
      .filter((block) => block.trim() !== '')
      .map((block) => ({
        event: /^event: (.*)$/m.exec(block)?.[1],
        data: JSON.parse(/^data: (.*)$/m.exec(block)?.[1] ?? 'null'),
      }));
    const steps = events.filter((e) => e.event === 'step');
    expect(steps.map((e) => e.data.step)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(events.at(-1)?.event).toBe('result');
    expect(events.at(-1)?.data.images).toHaveLength(1);
  });
});

describe('GET /healthz after sampling', () => {
  it('lists the loaded sessions and the size of the ORT wasm heap', async () => {
    await sample('variant=fp32&n=1&steps=ddim5');
    const health = (await json(await app.request('/healthz'))) as { sessions: string[]; runtimeMemoryBytes: number };
    expect(health.sessions).toContain('unet/fp32');
    expect(health.runtimeMemoryBytes).toBeGreaterThanOrEqual(16 * 2 ** 20); // at least the initial 256 pages
  });
});

describe('refusals', () => {
  it.each([
    ['n=0', 'n'],
    ['n=17', 'n'],
    ['n=2.5', 'n'],
    ['seed=-1', 'seed'],
    ['seed=4294967296', 'seed'],
    ['seed=abc', 'seed'],
    ['eta=1.5', 'eta'],
    ['eta=x', 'eta'],
    ['format=gif', 'format'],
    ['steps=ddim0', 'steps'],
    ['steps=fast', 'steps'],
    ['steps=5000', 'steps'],
    ['variant=../x', 'variant'],
    ['colour=red', 'colour'],
    ['n=1&n=2', 'n'],
  ])('%s -> 400 naming %s', async (query, field) => {
    const res = await sample(query);
    expect(res.status).toBe(400);
    expect(await json(res)).toMatchObject({ error: 'bad_request', field });
  });

  it('refuses a POST body that is not a JSON object', async () => {
    const res = await app.request('/sample', { method: 'POST', body: '[1,2]' });
    expect(res.status).toBe(400);
    expect(await json(res)).toMatchObject({ field: 'body' });
  });

  it('answers 404 for an unknown model or variant', async () => {
    const model = await sample('model=nope&variant=fp32');
    expect(model.status).toBe(404);
    expect(await json(model)).toMatchObject({ field: 'model' });
    const variant = await sample('variant=w2a2');
    expect(variant.status).toBe(404);
    expect(((await json(variant)) as { message: string }).message).toContain('fp32, alt');
  });

  it('answers 422 for a class-conditional model (no labels in the API yet)', async () => {
    const conv = await convArtifact('labelled');
    conv.manifest.model.classCond = true;
    const res = await appOver(folderSource(await folderStore(conv))).request('/sample?variant=fp32');
    expect(res.status).toBe(422);
    expect(await json(res)).toMatchObject({ error: 'unsupported', field: 'model' });
  });

  it('answers 422 with the limit when n x steps is over the budget', async () => {
    const res = await sample('variant=fp32&n=16&steps=ddim50');
    expect(res.status).toBe(422);
    expect(((await json(res)) as { message: string }).message).toContain('budget of 400');
  });
});

describe('integrity', () => {
  it('refuses (503, with the reason) a variant whose bytes do not match the manifest sha256', async () => {
    const tampered = await unetArtifact();
    const root = await folderStore(tampered);
    const file = tampered.manifest.variants.fp32.file;
    const corrupt = tampered.files[file].slice();
    corrupt[corrupt.length - 1] ^= 1; // same length, different bytes
    await writeFile(join(root, 'unet', file), corrupt);
    const refusing = appOver(folderSource(root));
    for (let i = 0; i < 2; i++) {
      const res = await refusing.request('/sample?variant=fp32&n=1&steps=ddim5');
      expect(res.status).toBe(503);
      const body = (await json(res)) as { message: string };
      expect(body.message).toContain('sha256');
      expect(body.message).not.toMatch(/\n\s+at /);
    }
    expect((await refusing.request('/sample?variant=alt&n=1&steps=ddim5')).status).toBe(200);
  });

  it('never leaks internals: an unexpected failure is an opaque 500', async () => {
    const broken = appOver({
      location: 'broken',
      names: async () => ['unet'],
      open: async () => {
        throw new Error('secret detail');
      },
      readFile: async () => new Uint8Array(),
    });
    const res = await broken.request('/sample?model=unet');
    expect(res.status).toBe(500);
    const text = await res.text();
    expect(text).not.toContain('secret');
    expect(JSON.parse(text)).toEqual({ error: 'internal', message: 'internal error' });
  });
});

describe('memory limits', () => {
  it('refuses a variant above QDM_MAX_MODEL_BYTES with 422 and marks it in /models', async () => {
    const { fp32 } = artifact.manifest.variants;
    const limited = appOver(folderSource(await folderStore(artifact)), { maxModelBytes: fp32.bytes - 1 });
    const res = await limited.request('/sample?variant=fp32&n=1&steps=ddim5');
    expect(res.status).toBe(422);
    const body = (await json(res)) as { field: string; message: string };
    expect(body.field).toBe('variant');
    expect(body.message).toContain(`${(fp32.bytes - 1) / 1e6}`.slice(0, 3));
    const models = (await json(await limited.request('/models'))) as {
      limits: { maxModelBytes: number };
      models: { variants: Record<string, { servable: boolean }> }[];
    };
    expect(models.limits.maxModelBytes).toBe(fp32.bytes - 1);
    expect(models.models[0].variants.fp32.servable).toBe(false);
  });

  it('releases the least recently used idle session above QDM_MAX_LOADED_BYTES, never one in use', async () => {
    let released = 0;
    const counting = async (bytes: Uint8Array) => {
      const session = await ortSessions(bytes);
      const release = () => {
        released++;
        return session.release();
      };
      return { ...session, release };
    };
    const oneVariant = artifact.manifest.variants.fp32.bytes;
    const limited = appOver(
      folderSource(await folderStore(artifact)),
      { maxLoadedBytes: oneVariant },
      {
        sessions: counting,
      },
    );
    const [slow, fast] = await Promise.all([
      limited.request('/sample?variant=fp32&n=1&steps=ddim50&format=npy'),
      limited.request('/sample?variant=alt&n=1&steps=ddim5&format=npy'),
    ]);
    expect([slow.status, fast.status]).toEqual([200, 200]);
    const health = (await json(await limited.request('/healthz'))) as { sessions: string[] };
    expect(health.sessions).toHaveLength(1);
    expect(released).toBe(1);
  });
});
