// Cloudflare Workers entry: artifacts from the R2 binding ARTIFACTS (versioned layout under QDM_R2_PREFIX), the
// ORT wasm imported as a compiled module (wrangler.toml). One app, and so one session cache, per isolate.

import { ortWebSessions } from '@qdm/edge-probe/ort-web';
import wasm from 'onnxruntime-web/ort-wasm-simd-threaded.wasm';
import { createApp, type EdgeApp } from './app.ts';
import { configFromEnv } from './config.ts';
import { productionFromEnv, workerMetrics } from './middleware/production.ts';
import { versionedSource } from './sources/object-store.ts';
import { type R2BucketLike, r2Store } from './sources/r2.ts';

export interface WorkerEnv {
  ARTIFACTS: R2BucketLike;
  QDM_R2_PREFIX?: string;
  [key: string]: unknown;
}

let app: EdgeApp | undefined;

/**
 * A new app over `env`: keys from the `QDM_API_KEYS` secret, the `RATE_LIMITER` binding or `QDM_RATE`, metrics to
 * the `METRICS` Analytics Engine dataset, the client's address from `CF-Connecting-IP`.
 */
export function buildWorkerApp(env: WorkerEnv): EdgeApp {
  return createApp({
    source: versionedSource(r2Store(env.ARTIFACTS, 'ARTIFACTS'), env.QDM_R2_PREFIX ?? ''),
    sessions: ortWebSessions(async () => wasm),
    config: configFromEnv(env),
    production: {
      ...productionFromEnv(env),
      ...workerMetrics(env),
      clientAddress: (c) => c.req.header('cf-connecting-ip'),
    },
  });
}

export function workerApp(env: WorkerEnv): EdgeApp {
  app ??= buildWorkerApp(env);
  return app;
}

export default {
  fetch: (request: Request, env: WorkerEnv) => workerApp(env).fetch(request),
};
