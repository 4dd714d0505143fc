// Cloudflare Workers entry: artifacts from the R2 binding ARTIFACTS (versioned layout under QDM_R2_PREFIX), the
// ORT wasm imported as a compiled module (wrangler.toml). One app, and so one session cache, per isolate.

import { ortWebSessions } from '@qdm/edge-probe/ort-web';
import wasm from 'onnxruntime-web/ort-wasm-simd-threaded.wasm';
import { createApp, type EdgeApp } from './app.ts';
import { configFromEnv } from './config.ts';
import { versionedSource } from './sources/object-store.ts';
import { type R2BucketLike, r2Store } from './sources/r2.ts';

export interface WorkerEnv {
  ARTIFACTS: R2BucketLike;
  QDM_R2_PREFIX?: string;
  [key: string]: unknown;
}

let app: EdgeApp | undefined;

export function workerApp(env: WorkerEnv): EdgeApp {
  app ??= createApp({
    source: versionedSource(r2Store(env.ARTIFACTS, 'ARTIFACTS'), env.QDM_R2_PREFIX ?? ''),
    sessions: ortWebSessions(async () => wasm),
    config: configFromEnv(env),
  });
  return app;
}

export default {
  fetch: (request: Request, env: WorkerEnv) => workerApp(env).fetch(request),
};
