/**
 * Load test of the Node edge server (edge/src/node.ts) on 127.0.0.1 with autocannon, under admission control.
 *   node bench/edge-load.ts [--runtime native|wasm] [--step-batch N] [--threads N] [--max-queue-ms MS]
 *     [--model mnist32] [--variant int8] [--steps 10] [--requests 200] [--runs 3] [--allow-fixture]
 * --runtime (default native) sets QDM_RUNTIME; --step-batch, --threads and --max-queue-ms set QDM_STEP_BATCH,
 * QDM_THREADS and QDM_MAX_QUEUE_MS (unset: the server's defaults, edge/src/config.ts and all cores). Each run sends
 * `requests` requests of n=1 over as many concurrent connections, after one warm-up request (admission prices an
 * unmeasured session at 0) and 3 timed alone (a request's own work). Per run: 200 and 503 counts, whether every
 * 503 carried Retry-After, anything else (other statuses, socket errors, timeouts), p50/p99 of the served ones
 * against QDM_MAX_QUEUE_MS + own work, served images/s, /healthz latency during the load, and the server's live
 * memory (JS heap + array buffers after a full GC) and RSS after the run. Prints one JSON object; only the
 * default run writes bench/results/edge-load.json.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { defaultConfig } from '@qdm/edge/node';
import { benchArtifact, log, median, mib, quantile, repoRoot, round } from './edge-lib.ts';
import { provenance, writeResult } from './lib.ts';
import { machineInfo } from './machine.ts';

// Keys + per-client limits: the fairness case (bench/edge-load-limits.ts, its own JSON).
if (process.argv.slice(2).includes('--limits')) {
  await import('./edge-load-limits.ts');
  process.exit(process.exitCode ?? 0);
}

const machine = machineInfo();
const DEFAULTS = {
  runtime: 'native',
  'step-batch': '',
  threads: '',
  'max-queue-ms': '',
  model: 'mnist32',
  variant: 'int8',
  steps: '10',
  requests: '200',
  runs: '3',
};
const HELP = `usage: node bench/edge-load.ts [options]
  --runtime native|wasm  QDM_RUNTIME of the server (default native)
  --step-batch N         QDM_STEP_BATCH (default: the server's, ${defaultConfig.stepBatch})
  --threads N            QDM_THREADS, native only (default: the server's, all cores)
  --max-queue-ms MS      QDM_MAX_QUEUE_MS (default: the server's, ${defaultConfig.maxQueueMs})
  --model NAME           artifact under QDM_ARTIFACTS or artifacts/ (default mnist32)
  --variant NAME         variant (default int8)
  --steps N              DDIM steps per request (default 10)
  --requests N           concurrent requests per run (default 200)
  --runs N               runs (default 3)
  --allow-fixture        use the generated test artifact when the model is missing
  --limits               keys + per-client limits: a greedy client beside a polite one (bench/edge-load-limits.ts)
Only the default run writes bench/results/edge-load.json.`;

function usage(message: string): never {
  process.stderr.write(`edge-load: ${message}\n`);
  process.exit(2);
}

let parsed: ReturnType<typeof parseCli>;
function parseCli() {
  return parseArgs({
    options: {
      ...(Object.fromEntries(Object.entries(DEFAULTS).map(([k, v]) => [k, { type: 'string', default: v }])) as {
        [K in keyof typeof DEFAULTS]: { type: 'string'; default: string };
      }),
      'allow-fixture': { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
}
try {
  parsed = parseCli();
} catch (error) {
  usage((error as Error).message);
}
const { values } = parsed;
if (values.help) {
  console.log(HELP);
  process.exit(0);
}
if (values.runtime !== 'native' && values.runtime !== 'wasm') usage(`--runtime: native or wasm, got ${values.runtime}`);
for (const key of ['step-batch', 'threads', 'max-queue-ms', 'steps', 'requests', 'runs'] as const) {
  const raw = values[key];
  if (raw !== '' && !(Number.isSafeInteger(Number(raw)) && Number(raw) > 0)) {
    usage(`--${key}: a positive integer, got ${raw}`);
  }
}
if (values.threads !== '' && values.runtime === 'wasm') usage('--threads applies to --runtime native only');
const isDefaultRun =
  !values['allow-fixture'] && Object.entries(DEFAULTS).every(([k, v]) => values[k as keyof typeof DEFAULTS] === v);

interface AutocannonResult {
  requests: { total: number };
  errors: number;
  timeouts: number;
  non2xx: number;
  '2xx': number;
}
interface AutocannonInstance {
  on(event: 'reqError', listener: (error: Error) => void): void;
  on(event: 'response', listener: (client: unknown, status: number, bytes: number, ms: number) => void): void;
}
// NOTE: autocannon is CommonJS without type declarations; the callback form also gives per-request errors.
const autocannon = createRequire(import.meta.url)('autocannon') as (
  opts: object,
  done: (error: Error | null, result: AutocannonResult) => void,
) => AutocannonInstance;

interface Answered {
  status: number;
  retryAfter: string | undefined;
  ms: number;
}

/**
 * One autocannon run: every response's status, Retry-After and latency, and request errors by message.
 * NOTE: autocannon calls a request's onResponse (which sees the headers) just before it emits 'response' (which
 * has the latency), synchronously for the same response, so the two are paired by order.
 */
function load(opts: { url: string; connections: number; amount: number; timeout: number }) {
  return new Promise<{ result: AutocannonResult; answered: Answered[]; errorMessages: Record<string, number> }>(
    (done, fail) => {
      const errorMessages: Record<string, number> = {};
      const answered: Answered[] = [];
      let headers: Record<string, string> = {};
      const onResponse = (_status: number, _body: string, _context: object, h: Record<string, string>) => {
        headers = Object.fromEntries(Object.entries(h ?? {}).map(([k, v]) => [k.toLowerCase(), v]));
      };
      const { pathname, search } = new URL(opts.url);
      const instance = autocannon(
        { ...opts, requests: [{ method: 'GET', path: pathname + search, onResponse }] },
        (e, r) => (e ? fail(e) : done({ result: r, answered, errorMessages })),
      );
      instance.on('response', (_client, status, _bytes, ms) => {
        answered.push({ status, retryAfter: headers['retry-after'], ms });
        headers = {};
      });
      instance.on('reqError', (error) => {
        const key = `${(error as NodeJS.ErrnoException).code ?? error.name}: ${error.message}`;
        errorMessages[key] = (errorMessages[key] ?? 0) + 1;
      });
    },
  );
}

/**
 * /healthz polled every 250 ms until stopped: its latencies (it must stay answered while /sample is loaded) and the
 * admission queue's learned pace (wall time per priced model-call ms) at the first and last answer.
 */
function pollHealth(url: string): () => Promise<{
  answered: number;
  failed: number;
  maxMs: number;
  pace: { first: number; last: number } | null;
}> {
  const times: number[] = [];
  const paces: number[] = [];
  let failed = 0;
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      const started = performance.now();
      try {
        const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
        const body = (await res.json()) as { queue?: { pace?: number } };
        if (res.status === 200) times.push(performance.now() - started);
        else failed++;
        if (typeof body.queue?.pace === 'number') paces.push(body.queue.pace);
      } catch {
        failed++;
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  })();
  return async () => {
    stopped = true;
    await loop;
    const pace = paces.length > 0 ? { first: paces[0], last: paces[paces.length - 1] } : null;
    return { answered: times.length, failed, maxMs: round(Math.max(0, ...times), 1), pace };
  };
}

/** What the server printed after it was ready (it logs unexpected request failures). */
const serverLog: string[] = [];

function freePort(): Promise<number> {
  return new Promise((done) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => done(port));
    });
  });
}

/** The server's memory after a full GC, over IPC (see edge-load-server.ts). */
function serverMemory(child: ChildProcess): Promise<NodeJS.MemoryUsage> {
  return new Promise((done) => {
    child.once('message', (message) => done((message as { memory: NodeJS.MemoryUsage }).memory));
    child.send('memory');
  });
}

function memoryMiB(m: NodeJS.MemoryUsage) {
  return {
    live: mib(m.heapUsed + m.arrayBuffers),
    rss: mib(m.rss),
    heapUsed: mib(m.heapUsed),
    external: mib(m.external),
    arrayBuffers: mib(m.arrayBuffers),
  };
}

/** The server's environment: only the variables a flag sets, so unset flags leave the server's defaults. */
function serverEnv(root: string, port: number): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    QDM_ARTIFACTS: root,
    HOST: '127.0.0.1',
    PORT: String(port),
    QDM_RUNTIME: values.runtime,
  };
  for (const key of ['QDM_STEP_BATCH', 'QDM_THREADS', 'QDM_MAX_QUEUE_MS', 'QDM_EP']) delete env[key];
  if (values['step-batch']) env.QDM_STEP_BATCH = values['step-batch'];
  if (values.threads) env.QDM_THREADS = values.threads;
  if (values['max-queue-ms']) env.QDM_MAX_QUEUE_MS = values['max-queue-ms'];
  return env;
}

function startServer(root: string, port: number): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--expose-gc', join(repoRoot, 'bench/edge-load-server.ts')], {
    env: serverEnv(root, port),
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
  });
  return new Promise((ready, fail) => {
    let output = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('qdm edge on')) ready(child);
      else if (serverLog.length < 50) serverLog.push(chunk.toString().slice(0, 2000));
    });
    child.on('exit', (code) => fail(new Error(`server exited (${code}): ${output}`)));
  });
}

async function timedFetch(url: string): Promise<number> {
  const started = performance.now();
  const res = await fetch(url);
  const body = await res.text();
  if (res.status !== 200) throw new Error(`${res.status} ${body.slice(0, 300)}`);
  return performance.now() - started;
}

/** Live memory counts as flat when the last run is within this of the first (GC and allocator noise). */
const FLAT_MIB = 5;

async function main(): Promise<void> {
  const artifact = await benchArtifact(values.model, values['allow-fixture']);
  const variant = artifact.requested ? values.variant : 'fp32';
  const port = await freePort();
  const server = await startServer(artifact.root, port);
  const base = `http://127.0.0.1:${port}`;
  const path = `/sample?model=${artifact.name}&variant=${variant}&n=1&steps=ddim${values.steps}&seed=7&format=png`;
  try {
    const models = (await (await fetch(`${base}/models`)).json()) as {
      runtime: unknown;
      limits: { maxQueueMs: number };
    };
    const maxQueueMs = models.limits.maxQueueMs;
    const warmupMs = await timedFetch(base + path);
    // A request's own work: the median of 3 alone, after the warm-up (session loaded and measured).
    const ownWorkMs = median([
      await timedFetch(base + path),
      await timedFetch(base + path),
      await timedFetch(base + path),
    ]);
    const boundMs = maxQueueMs + ownWorkMs;
    const afterWarmup = memoryMiB(await serverMemory(server));
    const requests = Number(values.requests);
    const runs = [];
    for (let run = 0; run < Number(values.runs); run++) {
      log(`edge-load: run ${run + 1}/${values.runs}: ${requests} concurrent requests`);
      const stopHealth = pollHealth(`${base}/healthz`);
      const started = performance.now();
      const {
        result: r,
        answered,
        errorMessages,
      } = await load({
        url: base + path,
        connections: requests,
        amount: requests,
        timeout: 600,
      });
      // NOTE: autocannon's own duration counts whole seconds of its sampling ticks: too coarse for a 4 s run.
      const wallS = (performance.now() - started) / 1000;
      const healthz = await stopHealth();
      const served = answered.filter((a) => a.status === 200);
      const refused = answered.filter((a) => a.status === 503);
      const retryAfterS = refused.map((a) => Number(a.retryAfter)).filter((s) => Number.isFinite(s) && s > 0);
      const other = answered.filter((a) => a.status !== 200 && a.status !== 503);
      const p99 = quantile(
        served.map((a) => a.ms),
        0.99,
      );
      runs.push({
        requests: r.requests.total,
        served: served.length,
        refused503: refused.length,
        refused503WithRetryAfter: retryAfterS.length,
        retryAfterS: refused.length ? { min: Math.min(...retryAfterS), max: Math.max(...retryAfterS) } : null,
        otherStatuses: other.length,
        errors: r.errors,
        timeouts: r.timeouts,
        // Sent minus answered: a request that got no response at all.
        lost: requests - answered.length,
        errorMessages,
        servedLatencyMs: {
          p50: round(
            quantile(
              served.map((a) => a.ms),
              0.5,
            ),
          ),
          p99: round(p99),
          max: round(Math.max(0, ...served.map((a) => a.ms))),
        },
        refusedLatencyMsMax: round(Math.max(0, ...refused.map((a) => a.ms))),
        p99WithinBound: p99 <= boundMs,
        wallS: round(wallS, 2),
        imagesPerS: round(served.length / wallS, 2),
        healthz,
        serverMemoryMiB: memoryMiB(await serverMemory(server)),
      });
    }
    const live = runs.map((r) => r.serverMemoryMiB.live);
    const rss = runs.map((r) => r.serverMemoryMiB.rss);
    const liveGrowthMiB = round(live[live.length - 1] - live[0], 1);
    const report = {
      ...provenance('edge-load', machine),
      server: {
        entry: 'edge/src/node.ts',
        runtime: models.runtime,
        stepBatch: values['step-batch'] ? Number(values['step-batch']) : defaultConfig.stepBatch,
        threads: values.threads ? Number(values.threads) : values.runtime === 'native' ? machine.cores : 1,
        maxQueueMs,
      },
      artifact: { name: artifact.name, requested: artifact.requested },
      request: path,
      concurrency: requests,
      warmupMs: round(warmupMs, 1),
      ownWorkMs: round(ownWorkMs, 1),
      serverMemoryAfterWarmupMiB: afterWarmup,
      runs,
      serverLog,
      totals: {
        served: runs.reduce((a, r) => a + r.served, 0),
        refused503: runs.reduce((a, r) => a + r.refused503, 0),
        every503HasRetryAfter: runs.every((r) => r.refused503WithRetryAfter === r.refused503),
        // Anything that is neither a 200 nor a 503: other statuses, socket errors, timeouts, no answer.
        failures: runs.reduce((a, r) => a + r.otherStatuses + r.errors + r.timeouts + r.lost, 0),
        imagesPerS: round(median(runs.map((r) => r.imagesPerS)), 2),
        p99Ms: Math.max(...runs.map((r) => r.servedLatencyMs.p99)),
        // The target: p99 of the served ones <= QDM_MAX_QUEUE_MS + a request's own work (measured alone).
        p99BoundMs: round(boundMs, 1),
        p99WithinBound: runs.every((r) => r.p99WithinBound),
        healthzMaxMs: Math.max(...runs.map((r) => r.healthz.maxMs)),
        healthzFailed: runs.reduce((a, r) => a + r.healthz.failed, 0),
        // Live memory (JS heap + array buffers after a full GC) and RSS, last run minus first run.
        liveGrowthMiB,
        // Flat: no growth past the tolerance (the first run may hold more, released by later runs' GCs).
        liveFlat: liveGrowthMiB <= FLAT_MIB,
        liveFlatToleranceMiB: FLAT_MIB,
        liveRangeMiB: round(Math.max(...live) - Math.min(...live), 1),
        rssGrowthMiB: round(rss[rss.length - 1] - rss[0], 1),
      },
    };
    const json = JSON.stringify(report, null, 2);
    console.log(json);
    const written = writeResult('edge-load', report, { defaultRun: isDefaultRun, indent: 2 });
    if (written) log(`edge-load: wrote ${written}`);
  } finally {
    server.kill('SIGTERM');
  }
}

try {
  await main();
} catch (error) {
  process.stderr.write(`edge-load: ${(error as Error).message.split('\n')[0]}\n`);
  process.exit(1);
}
