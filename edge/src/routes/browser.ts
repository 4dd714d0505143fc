import { Hono } from 'hono';
import { asUnavailable } from '../engine/catalog.ts';
import type { Engine } from '../engine/engine.ts';
import { notFound } from '../errors.ts';
import type { ArtifactSource } from '../sources/source.ts';
import { verifyBytes } from '../sources/verify.ts';

/** Static files the page needs to sample in the browser: the bundled sampler and onnxruntime-web's files. */
export interface BrowserAssets {
  /** `sampler.js`, or `ort/<file>`; undefined when there is no such asset. */
  get(path: string): Promise<{ body: Uint8Array; type: string } | undefined>;
}

/** A Worker deployment has no filesystem to serve them from: it says so (the page shows this message). */
const NO_ASSETS =
  'browser sampling assets (the sampler bundle and onnxruntime-web) are served by the Node server; ' +
  'a Worker deployment serves them as static assets of the same origin, and this one has none';

/**
 * Browser sampling (`/browser/...`): the manifest and a variant's model file (sha256 in `x-qdm-sha256`, which the page
 * checks with SubtleCrypto before use), and the script assets when this runtime has them.
 */
export function browserRoutes(engine: Engine, source: ArtifactSource, assets?: BrowserAssets): Hono {
  const app = new Hono();
  app.get('/manifest/:model', async (c) => {
    const { manifest } = await engine.catalog.open(c.req.param('model'));
    return c.json(manifest);
  });
  app.get('/model/:model/:variant', async (c) => {
    const snapshot = await engine.catalog.open(c.req.param('model'));
    const variant = c.req.param('variant');
    const entry = snapshot.manifest.variants[variant];
    if (!entry) throw notFound('variant', `model ${snapshot.name} has no variant ${JSON.stringify(variant)}`);
    let bytes: Uint8Array;
    try {
      bytes = await source.readFile(snapshot, entry.file);
      await verifyBytes(`${snapshot.name}/${entry.file}`, bytes, entry);
    } catch (error) {
      throw asUnavailable(error);
    }
    return c.body(bytes as Uint8Array<ArrayBuffer>, 200, {
      'content-type': 'application/octet-stream',
      'x-qdm-sha256': entry.sha256,
      'x-qdm-file': entry.file,
      'cache-control': 'no-cache',
    });
  });
  app.get('/*', async (c) => {
    const path = c.req.path.replace(/^.*?\/browser\//, '');
    if (!assets) throw notFound('path', NO_ASSETS);
    const asset = await assets.get(path);
    if (!asset) throw notFound('path', `no browser asset ${JSON.stringify(path)}`);
    return c.body(asset.body as Uint8Array<ArrayBuffer>, 200, { 'content-type': asset.type });
  });
  return app;
}
