/**
 * The service's counters, kept in the app (per process on Node, per isolate on Workers) and exposed as the
 * Prometheus text format (`GET /metrics`, Node) or written per request to a Workers Analytics Engine dataset.
 * Label values come from closed sets (routes, statuses, the catalogue's names), never from a request's free text.
 */

type Labels = Record<string, string>;

const escapeLabel = (value: string) => value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');

function labelText(labels: Labels, extra?: [string, string]): string {
  const pairs = Object.entries(labels);
  if (extra) pairs.push(extra);
  return pairs.length === 0 ? '' : `{${pairs.map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(',')}}`;
}

const keyOf = (labels: Labels) => JSON.stringify(Object.entries(labels));

/** Numbers as Prometheus writes them. */
function num(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Number.POSITIVE_INFINITY) return '+Inf';
  if (value === Number.NEGATIVE_INFINITY) return '-Inf';
  return String(value);
}

export class Counter {
  readonly #values = new Map<string, { labels: Labels; value: number }>();
  readonly name: string;
  readonly help: string;
  constructor(name: string, help: string) {
    this.name = name;
    this.help = help;
  }

  inc(labels: Labels = {}, by = 1): void {
    const key = keyOf(labels);
    const entry = this.#values.get(key);
    if (entry) entry.value += by;
    else this.#values.set(key, { labels, value: by });
  }

  get(labels: Labels = {}): number {
    return this.#values.get(keyOf(labels))?.value ?? 0;
  }

  text(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`];
    for (const { labels, value } of this.#values.values()) lines.push(`${this.name}${labelText(labels)} ${num(value)}`);
    return lines.join('\n');
  }
}

export class Histogram {
  readonly #series = new Map<string, { labels: Labels; counts: number[]; sum: number; count: number }>();
  readonly name: string;
  readonly help: string;
  readonly buckets: readonly number[];
  constructor(name: string, help: string, buckets: readonly number[]) {
    this.name = name;
    this.help = help;
    this.buckets = buckets;
  }

  observe(labels: Labels, value: number): void {
    const key = keyOf(labels);
    let s = this.#series.get(key);
    if (!s) {
      s = { labels, counts: this.buckets.map(() => 0), sum: 0, count: 0 };
      this.#series.set(key, s);
    }
    for (let i = 0; i < this.buckets.length; i++) if (value <= this.buckets[i]) s.counts[i]++;
    s.sum += value;
    s.count++;
  }

  count(labels: Labels): number {
    return this.#series.get(keyOf(labels))?.count ?? 0;
  }

  text(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`];
    for (const { labels, counts, sum, count } of this.#series.values()) {
      this.buckets.forEach((le, i) => {
        lines.push(`${this.name}_bucket${labelText(labels, ['le', num(le)])} ${counts[i]}`);
      });
      lines.push(`${this.name}_bucket${labelText(labels, ['le', '+Inf'])} ${count}`);
      lines.push(`${this.name}_sum${labelText(labels)} ${num(sum)}`);
      lines.push(`${this.name}_count${labelText(labels)} ${count}`);
    }
    return lines.join('\n');
  }
}

/** A value read at scrape time. */
export interface Gauge {
  name: string;
  help: string;
  /** One value, or one per label set; undefined: not known on this runtime (left out). */
  value: () => number | undefined | { labels: Labels; value: number }[];
}

function gaugeText(g: Gauge): string | undefined {
  const v = g.value();
  if (v === undefined) return undefined;
  const series = typeof v === 'number' ? [{ labels: {}, value: v }] : v;
  if (series.length === 0) return undefined;
  const lines = [`# HELP ${g.name} ${g.help}`, `# TYPE ${g.name} gauge`];
  for (const s of series) lines.push(`${g.name}${labelText(s.labels)} ${num(s.value)}`);
  return lines.join('\n');
}

/** Denoiser step latencies, seconds: 1 ms (a tiny model joined) to 10 s (a large batch on a slow runtime). */
export const STEP_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** What one answered request adds to the counters (and, on Workers, one Analytics Engine data point). */
export interface RequestRecord {
  route: string;
  method: string;
  status: number;
  model?: string;
  variant?: string;
  runtime?: string;
  n?: number;
  steps?: number;
  /** Model calls done (n x steps run), not the ones asked for. */
  modelCalls?: number;
  stepMs?: number[];
  queueWaitMs?: number;
  totalMs: number;
}

export class Metrics {
  readonly requests = new Counter('qdm_http_requests_total', 'Requests answered, by route, method and status.');
  readonly modelCalls = new Counter(
    'qdm_model_calls_total',
    'Denoiser evaluations done for /sample (n x steps), by model and variant.',
  );
  readonly overloaded = new Counter('qdm_overloaded_total', 'Requests refused 503 by admission (overloaded).');
  readonly rateLimited = new Counter('qdm_rate_limited_total', 'Requests refused 429 by the per-client limit.');
  readonly unauthorized = new Counter('qdm_unauthorized_total', 'Requests refused 401 (missing or wrong API key).');
  readonly stepSeconds = new Histogram(
    'qdm_step_seconds',
    'Wall time of one denoiser step of a /sample request (its model call, joined calls included), by model, ' +
      'variant and runtime.',
    STEP_BUCKETS,
  );
  readonly #gauges: Gauge[];

  constructor(gauges: Gauge[] = []) {
    this.#gauges = gauges;
  }

  record(r: RequestRecord): void {
    this.requests.inc({ route: r.route, method: r.method, status: String(r.status) });
    if (r.status === 503 && r.route === '/sample') this.overloaded.inc();
    if (r.status === 429) this.rateLimited.inc();
    if (r.status === 401) this.unauthorized.inc();
    if (r.model !== undefined && r.variant !== undefined && r.modelCalls) {
      this.modelCalls.inc({ model: r.model, variant: r.variant }, r.modelCalls);
    }
    if (r.model !== undefined && r.variant !== undefined && r.stepMs) {
      const labels = { model: r.model, variant: r.variant, runtime: r.runtime ?? 'unknown' };
      for (const ms of r.stepMs) this.stepSeconds.observe(labels, ms / 1000);
    }
  }

  /** The Prometheus text exposition format, version 0.0.4. */
  text(): string {
    const parts = [
      this.requests.text(),
      this.modelCalls.text(),
      this.overloaded.text(),
      this.rateLimited.text(),
      this.unauthorized.text(),
      this.stepSeconds.text(),
    ];
    for (const g of this.#gauges) {
      const t = gaugeText(g);
      if (t) parts.push(t);
    }
    return `${parts.join('\n')}\n`;
  }
}

export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** The Workers Analytics Engine binding (`[[analytics_engine_datasets]]`). */
export interface AnalyticsEngineDataset {
  writeDataPoint(point: { indexes?: string[]; blobs?: string[]; doubles?: number[] }): void;
}

export function isAnalyticsEngine(value: unknown): value is AnalyticsEngineDataset {
  return typeof (value as AnalyticsEngineDataset | undefined)?.writeDataPoint === 'function';
}

/** The same columns every data point carries, in order (the README lists them for queries). */
export const ANALYTICS_BLOBS = ['route', 'method', 'status', 'model', 'variant', 'runtime'] as const;
export const ANALYTICS_DOUBLES = [
  'status',
  'modelCalls',
  'totalMs',
  'meanStepMs',
  'queueWaitMs',
  'n',
  'steps',
] as const;

export function analyticsPoint(r: RequestRecord) {
  const meanStepMs = r.stepMs?.length ? r.stepMs.reduce((a, b) => a + b, 0) / r.stepMs.length : 0;
  return {
    indexes: [r.route],
    blobs: [r.route, r.method, String(r.status), r.model ?? '', r.variant ?? '', r.runtime ?? ''],
    doubles: [r.status, r.modelCalls ?? 0, r.totalMs, meanStepMs, r.queueWaitMs ?? 0, r.n ?? 0, r.steps ?? 0],
  };
}
