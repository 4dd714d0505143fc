import { Hono } from 'hono';
import { type Clock, systemClock } from './clock.ts';
import { defaultConfig, type EdgeConfig } from './config.ts';
import { createEngine, type Engine } from './engine/engine.ts';
import type { SessionFactory } from './engine/session.ts';
import { HttpError, toHttpError } from './errors.ts';
import { FAVICON_SVG } from './favicon.ts';
import { withKeyField } from './middleware/page-key.ts';
import { installProduction, type ProductionOptions } from './middleware/production.ts';
import { pageHtml } from './page-html.ts';
import { type BrowserAssets, browserRoutes } from './routes/browser.ts';
import { modelRoutes } from './routes/models.ts';
import { sampleRoutes } from './routes/sample.ts';
import { randomUint32 } from './sample-request.ts';
import type { ArtifactSource } from './sources/source.ts';

/** What differs between runtimes (and tests): where artifacts come from, how sessions are made, the clock. */
export interface AppDeps {
  source: ArtifactSource;
  sessions: SessionFactory;
  clock?: Clock;
  config?: Partial<EdgeConfig>;
  randomSeed?: () => number;
  /** Where unexpected errors are reported (never the client). */
  log?: (message: string, error: unknown) => void;
  /** The browser sampler bundle and onnxruntime-web files (Node serves them; a Worker without them says so). */
  browserAssets?: BrowserAssets;
  /** API keys, per-client limits, CORS, metrics and the request log (all off when absent; see middleware/). */
  production?: ProductionOptions;
}

export type EdgeApp = Hono & { engine: Engine };

/** The one app every runtime serves: `app.fetch` is the whole contract, `app.request` the test harness. */
export function createApp(deps: AppDeps): EdgeApp {
  const config: EdgeConfig = { ...defaultConfig, ...deps.config };
  const clock = deps.clock ?? systemClock;
  const engine = createEngine(deps.source, deps.sessions, clock, config);
  const log = deps.log ?? ((message, error) => console.error(message, error));

  const app = new Hono();
  app.onError((error, c) => {
    const http = toHttpError(error);
    // A client that went away aborts its sampling loop: nothing to report.
    const aborted = (error as Error)?.name === 'AbortError' || c.req.raw.signal?.aborted;
    if (!(error instanceof HttpError) && !aborted) log(`${c.req.method} ${c.req.path} failed`, error);
    return c.json(http.toJSON(), http.status, http.headers);
  });
  app.notFound((c) => c.json({ error: 'not_found', message: `no route ${c.req.method} ${c.req.path}` }, 404));

  const production = installProduction(app, engine, deps.sessions, deps.production ?? { requestLog: null }, () =>
    clock.now(),
  );
  const page = deps.production?.keys ? withKeyField(pageHtml) : pageHtml;
  app.get('/', (c) => c.html(page));
  app.get('/favicon.ico', (c) =>
    c.body(FAVICON_SVG, 200, { 'content-type': 'image/svg+xml', 'cache-control': 'public, max-age=86400' }),
  );
  app.get('/healthz', (c) =>
    c.json({
      ok: true,
      source: deps.source.location,
      sessions: engine.sessions.loaded(),
      runtime: deps.sessions.info ?? null,
      runtimeMemoryBytes: deps.sessions.memoryBytes?.() ?? null,
      queue: {
        requests: engine.queue.size,
        expectedWaitMs: Math.round(engine.queue.expectedWaitMs()),
        pace: Math.round(engine.queue.pace * 100) / 100,
      },
      ...production.health(),
    }),
  );
  app.route('/models', modelRoutes(engine, deps.source.location, config, deps.sessions));
  app.route('/browser', browserRoutes(engine, deps.source, deps.browserAssets));
  app.route('/sample', sampleRoutes(engine, config, deps.randomSeed ?? randomUint32, log, production.hooks));
  return Object.assign(app, { engine });
}
