/**
 * What turns the app into a service others can reach: API keys, per-client limits, CORS, metrics and one JSON log
 * line per request. Read from the environment (Node) or the Worker's vars, secrets and bindings; everything is off
 * when unset, which keeps a local server as open as before.
 */
import type { Context, Hono, MiddlewareHandler } from 'hono';
import { cors } from 'hono/cors';
import { requestId } from 'hono/request-id';
import type { Charge, Engine, PreparedSample, SampleResult } from '../engine/engine.ts';
import type { SessionFactory } from '../engine/session.ts';
import { type ApiKeys, authenticatedClient, mergeKeys, parseApiKeys, requireKey } from './keys.ts';
import {
  type AnalyticsEngineDataset,
  analyticsPoint,
  isAnalyticsEngine,
  Metrics,
  PROMETHEUS_CONTENT_TYPE,
  type RequestRecord,
} from './metrics.ts';
import { allOf, BindingLimiter, isRateLimitBinding, type RateLimiter, TokenBuckets } from './rate-limit.ts';

export interface ProductionOptions {
  /** Keys that `Authorization: Bearer` must carry for everything but the page, its static files and `/healthz`. */
  keys?: ApiKeys;
  /** Per-client limits on `/sample`. */
  limiter?: RateLimiter;
  /** Origins other pages may call the API from (`*`: any); unset: the same origin only (no CORS headers). */
  corsOrigins?: readonly string[] | '*';
  /** `prometheus`: `GET /metrics` (Node); a dataset: one data point per request (Workers); unset: no metrics. */
  metrics?: 'prometheus' | AnalyticsEngineDataset;
  /** Why there are no metrics (what `/healthz` says). */
  metricsAbsent?: string;
  /** Where the request log goes, one JSON line per request (default: stdout); null: nowhere. */
  requestLog?: ((line: string) => void) | null;
  /** The client's address (the per-client limit's key when keys are off). */
  clientAddress?: (c: Context) => string | undefined;
  /** The process's memory (Node), for `/metrics`. */
  processMemory?: () => { rss: number; heapUsed: number; external: number; arrayBuffers: number };
}

type Env = Record<string, unknown>;

function positiveNumber(env: Env, key: string): number | undefined {
  const raw = env[key];
  if (raw === undefined || raw === '') return undefined;
  const value = Number(raw);
  if (typeof raw !== 'string' || !Number.isFinite(value) || value <= 0) {
    throw new Error(`${key} must be a positive number, got ${String(raw)}`);
  }
  return value;
}

function corsOrigins(raw: unknown): readonly string[] | '*' | undefined {
  if (typeof raw !== 'string' || raw.trim() === '') return undefined;
  if (raw.trim() === '*') return '*';
  return raw.split(',').map((entry) => {
    const origin = entry.trim();
    let parsed: URL | undefined;
    try {
      parsed = new URL(origin);
    } catch {}
    if (!parsed || parsed.origin !== origin || !/^https?:$/.test(parsed.protocol)) {
      throw new Error(
        `QDM_CORS_ORIGINS: "${origin}" is not an origin such as https://app.example.com (scheme, host, port only)`,
      );
    }
    return origin;
  });
}

/**
 * `QDM_API_KEYS` (plus `keysFile`, the text of `QDM_API_KEYS_FILE` on Node), `QDM_RATE`, `QDM_RATE_BURST`,
 * `QDM_CORS_ORIGINS`, and on Workers the `RATE_LIMITER` binding (`QDM_RATE_LIMITER_PERIOD`, its period in seconds).
 * A bad value throws one line naming the variable.
 */
export function productionFromEnv(
  env: Env,
  options: { keysFile?: string; now?: () => number } = {},
): Pick<ProductionOptions, 'keys' | 'limiter' | 'corsOrigins'> {
  const keys = mergeKeys(
    typeof env.QDM_API_KEYS === 'string' ? parseApiKeys(env.QDM_API_KEYS, 'QDM_API_KEYS') : undefined,
    options.keysFile === undefined ? undefined : parseApiKeys(options.keysFile, 'QDM_API_KEYS_FILE'),
  );
  const rate = positiveNumber(env, 'QDM_RATE');
  const burst = positiveNumber(env, 'QDM_RATE_BURST');
  if (burst !== undefined && rate === undefined)
    throw new Error('QDM_RATE_BURST needs QDM_RATE (model calls per second)');
  const limiters: RateLimiter[] = [];
  if (rate !== undefined) limiters.push(new TokenBuckets(rate, burst ?? 10 * rate, options.now));
  if (isRateLimitBinding(env.RATE_LIMITER)) {
    const period = env.QDM_RATE_LIMITER_PERIOD === undefined ? 60 : Number(env.QDM_RATE_LIMITER_PERIOD);
    if (period !== 10 && period !== 60) {
      throw new Error(
        `QDM_RATE_LIMITER_PERIOD must be 10 or 60 (the binding's period), got ${env.QDM_RATE_LIMITER_PERIOD}`,
      );
    }
    limiters.push(new BindingLimiter(env.RATE_LIMITER, period));
  }
  return { keys, limiter: allOf(limiters), corsOrigins: corsOrigins(env.QDM_CORS_ORIGINS) };
}

/** Metrics on Workers: the Analytics Engine dataset bound as `METRICS`, else none (and `/healthz` says so). */
export function workerMetrics(env: Env): Pick<ProductionOptions, 'metrics' | 'metricsAbsent'> {
  return isAnalyticsEngine(env.METRICS)
    ? { metrics: env.METRICS }
    : { metricsAbsent: 'no METRICS Analytics Engine binding in wrangler.toml: metrics are off' };
}

/** The route a path belongs to: a closed set, so metric labels and log lines never carry free text. */
export function routeOf(path: string): string {
  if (path === '/' || path === '/healthz' || path === '/models' || path === '/metrics' || path === '/favicon.ico') {
    return path;
  }
  if (path === '/sample' || path.startsWith('/sample/')) return '/sample';
  if (path.startsWith('/browser/model/')) return '/browser/model';
  if (path.startsWith('/browser/manifest/')) return '/browser/manifest';
  if (path.startsWith('/browser/')) return '/browser/asset';
  return 'other';
}

/** Paths anyone may fetch when keys are on: the page, its icon and scripts, the health check. The rest needs a key. */
const isOpen = (route: string) =>
  route === '/' || route === '/favicon.ico' || route === '/healthz' || route === '/browser/asset';

/** Everything one request's log line and metrics need, filled in as it goes. */
interface Trace {
  prepared?: PreparedSample;
  result?: SampleResult;
  /** The answer is a stream: the line is written when it ends. */
  streamed?: Promise<void>;
}
const traces = new WeakMap<Request, Trace>();

/** What `/sample` tells the production layer (charging before admission, what it ran). */
export interface SampleHooks {
  charge?: (c: Context) => Charge;
  prepared(c: Context, prepared: PreparedSample): void;
  finished(c: Context, result: SampleResult): void;
  /** An event stream's answer: the log line waits for it. */
  streaming(c: Context, done: Promise<void>): void;
}

const EXPOSED = [
  'X-Request-Id',
  'X-QDM-Model',
  'X-QDM-Model-Version',
  'X-QDM-Sha256',
  'X-QDM-Variant',
  'X-QDM-Seed',
  'X-QDM-Steps',
  'Server-Timing',
  'Retry-After',
  'RateLimit-Limit',
  'RateLimit-Remaining',
  'RateLimit-Reset',
];

const round1 = (ms: number) => Math.round(ms * 10) / 10;

export interface Production {
  hooks: SampleHooks;
  metrics: Metrics;
  /** What `/healthz` adds. */
  health(): Record<string, unknown>;
}

/**
 * Installs the middleware on `app` (before its routes): request id, the request log and metrics, CORS, keys, and
 * `GET /metrics` when Prometheus is on. Returns the hooks `/sample` calls.
 */
export function installProduction(
  app: Hono,
  engine: Engine,
  factory: SessionFactory,
  options: ProductionOptions,
  now: () => number,
): Production {
  const runtime = factory.info ? `${factory.info.runtime}-${factory.info.ep}` : 'unknown';
  const metrics = new Metrics([
    { name: 'qdm_queue_requests', help: 'Requests admitted and not finished.', value: () => engine.queue.size },
    {
      name: 'qdm_queue_expected_wait_seconds',
      help: 'The wait admission prices a new request at.',
      value: () => engine.queue.expectedWaitMs() / 1000,
    },
    {
      name: 'qdm_queue_pace',
      help: 'Wall time the queue takes per priced millisecond of model calls.',
      value: () => engine.queue.pace,
    },
    { name: 'qdm_sessions_loaded', help: 'Model sessions loaded.', value: () => engine.sessions.loaded().length },
    {
      name: 'qdm_runtime_memory_bytes',
      help: "The inference runtime's own memory (the onnxruntime-web heap; absent for native sessions).",
      value: () => factory.memoryBytes?.(),
    },
    {
      name: 'qdm_process_memory_bytes',
      help: 'The server process memory, by kind (Node).',
      value: () => {
        const m = options.processMemory?.();
        return m && Object.entries(m).map(([kind, value]) => ({ labels: { kind }, value }));
      },
    },
  ]);
  const log = options.requestLog === undefined ? (line: string) => console.log(line) : options.requestLog;
  const analytics = typeof options.metrics === 'object' ? options.metrics : undefined;
  const client = (c: Context) => {
    const key = authenticatedClient(c);
    if (key) return key;
    let address: string | undefined;
    try {
      address = options.clientAddress?.(c);
    } catch {}
    return `addr:${address ?? 'unknown'}`;
  };

  const observe: MiddlewareHandler = async (c, next) => {
    const started = now();
    const trace: Trace = {};
    traces.set(c.req.raw, trace);
    await next();
    const status = c.res.status;
    const retryAfter = c.res.headers.get('retry-after');
    const finish = () => {
      const p = trace.prepared;
      const r = trace.result;
      const stepMs = r?.timings.stepMs;
      const record: RequestRecord = {
        route: routeOf(c.req.path),
        method: c.req.method,
        status,
        model: p?.request.model,
        variant: p?.request.variant,
        runtime: p ? runtime : undefined,
        n: p?.request.n,
        steps: p?.plan.steps,
        modelCalls: stepMs && p ? stepMs.length * p.request.n : undefined,
        stepMs,
        queueWaitMs: p?.queueWaitMs,
        totalMs: now() - started,
      };
      metrics.record(record);
      analytics?.writeDataPoint(analyticsPoint(record));
      if (!log) return;
      const modelMs = stepMs?.reduce((a, b) => a + b, 0);
      log(
        JSON.stringify({
          time: new Date().toISOString(),
          id: c.get('requestId' as never) as string,
          method: record.method,
          route: record.route,
          status,
          client: client(c),
          model: record.model,
          variant: record.variant,
          n: record.n,
          steps: record.steps,
          queueWaitMs: p ? round1(p.queueWaitMs) : undefined,
          readyMs: p ? round1(p.readyMs) : undefined,
          modelMs: modelMs === undefined ? undefined : round1(modelMs),
          totalMs: round1(record.totalMs),
          retryAfterS: retryAfter === null ? undefined : Number(retryAfter),
        }),
      );
    };
    if (trace.streamed) void trace.streamed.finally(finish);
    else finish();
  };

  app.use('*', requestId());
  app.use('*', observe);
  if (options.corsOrigins) {
    const allowed = options.corsOrigins;
    app.use(
      '*',
      cors({
        origin: allowed === '*' ? '*' : (origin) => (allowed.includes(origin) ? origin : null),
        allowMethods: ['GET', 'POST', 'OPTIONS'],
        allowHeaders: ['Authorization', 'Content-Type', 'Accept'],
        exposeHeaders: EXPOSED,
        maxAge: 600,
      }),
    );
  }
  const keys = options.keys;
  if (keys) {
    const guard = requireKey(keys);
    app.use('*', (c, next) => (isOpen(routeOf(c.req.path)) ? next() : guard(c, next)));
  }
  if (options.metrics === 'prometheus') {
    app.get('/metrics', (c) => c.body(metrics.text(), 200, { 'Content-Type': PROMETHEUS_CONTENT_TYPE }));
  }

  const limiter = options.limiter;
  const hooks: SampleHooks = {
    charge: limiter
      ? (c) => async (modelCalls) => {
          const charged = await limiter.charge(client(c), modelCalls);
          for (const [k, v] of Object.entries(charged.headers)) c.header(k, v);
          return charged.refund;
        }
      : undefined,
    prepared: (c, prepared) => {
      const trace = traces.get(c.req.raw);
      if (trace) trace.prepared = prepared;
    },
    finished: (c, result) => {
      const trace = traces.get(c.req.raw);
      if (trace) trace.result = result;
    },
    streaming: (c, done) => {
      const trace = traces.get(c.req.raw);
      if (trace) trace.streamed = done;
    },
  };

  return {
    hooks,
    metrics,
    health: () => ({
      access: {
        keys: keys ? keys.size : 0,
        rateLimit: limiter?.describe ?? null,
        cors: options.corsOrigins ?? 'same-origin',
      },
      metrics:
        options.metrics === 'prometheus'
          ? { kind: 'prometheus', path: '/metrics' }
          : analytics
            ? { kind: 'analytics-engine', binding: 'METRICS' }
            : { kind: null, reason: options.metricsAbsent ?? 'metrics are off' },
    }),
  };
}
