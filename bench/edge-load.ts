// Load test of the Node edge server (`npm run serve`) on 127.0.0.1 with autocannon, bounded:
//   node bench/edge-load.ts [--model mnist32] [--variant int8] [--steps 10] [--requests 200] [--runs 3] [--allow-fixture]
// Each run sends `requests` requests of n=1 over as many concurrent connections. Prints JSON: errors, non-2xx,
// latency percentiles per run, and the server's resident memory after each run (growth across runs).
import { type ChildProcess, spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { benchArtifact, log, mib, repoRoot, round } from './edge-lib.ts';

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: 'mnist32' },
    variant: { type: 'string', default: 'int8' },
    steps: { type: 'string', default: '10' },
    requests: { type: 'string', default: '200' },
    runs: { type: 'string', default: '3' },
    'allow-fixture': { type: 'boolean', default: false },
  },
});

interface AutocannonResult {
  latency: { p50: number; p90: number; p99: number; max: number; average: number };
  requests: { total: number; average: number };
  errors: number;
  timeouts: number;
  non2xx: number;
  '2xx': number;
  duration: number;
}
interface AutocannonInstance {
  on(event: 'reqError', listener: (error: Error) => void): void;
}
// NOTE: autocannon is CommonJS without type declarations; the callback form also gives per-request errors.
const autocannon = createRequire(import.meta.url)('autocannon') as (
  opts: object,
  done: (error: Error | null, result: AutocannonResult) => void,
) => AutocannonInstance;

/** One autocannon run; request errors are collected by message. */
function load(opts: object): Promise<{ result: AutocannonResult; errorMessages: Record<string, number> }> {
  return new Promise((done, fail) => {
    const errorMessages: Record<string, number> = {};
    const instance = autocannon(opts, (error, result) => (error ? fail(error) : done({ result, errorMessages })));
    instance.on('reqError', (error) => {
      const key = `${(error as NodeJS.ErrnoException).code ?? error.name}: ${error.message}`;
      errorMessages[key] = (errorMessages[key] ?? 0) + 1;
    });
  });
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
  return { rss: mib(m.rss), heapUsed: mib(m.heapUsed), external: mib(m.external), arrayBuffers: mib(m.arrayBuffers) };
}

function startServer(root: string, port: number): Promise<ChildProcess> {
  const env = { ...process.env, QDM_ARTIFACTS: root, HOST: '127.0.0.1', PORT: String(port) };
  const child = spawn(process.execPath, ['--expose-gc', join(repoRoot, 'bench/edge-load-server.ts')], {
    env,
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

const artifact = await benchArtifact(values.model, values['allow-fixture']);
const variant = artifact.requested ? values.variant : 'fp32';
const port = await freePort();
const server = await startServer(artifact.root, port);
const path = `/sample?model=${artifact.name}&variant=${variant}&n=1&steps=ddim${values.steps}&seed=7&format=png`;
const url = `http://127.0.0.1:${port}${path}`;

try {
  const warm = await fetch(url);
  if (warm.status !== 200) throw new Error(`warm-up: ${warm.status} ${await warm.text()}`);
  await warm.arrayBuffer();
  const afterWarmup = memoryMiB(await serverMemory(server));
  const runs = [];
  for (let run = 0; run < Number(values.runs); run++) {
    log(`edge-load: run ${run + 1}/${values.runs}: ${values.requests} concurrent requests`);
    const { result: r, errorMessages } = await load({
      url,
      connections: Number(values.requests),
      amount: Number(values.requests),
      timeout: 600,
    });
    runs.push({
      requests: r.requests.total,
      ok: r['2xx'],
      errors: r.errors,
      timeouts: r.timeouts,
      non2xx: r.non2xx,
      errorMessages,
      latencyMs: { p50: r.latency.p50, p90: r.latency.p90, p99: r.latency.p99, max: r.latency.max },
      durationS: round(r.duration, 1),
      serverMemoryMiB: memoryMiB(await serverMemory(server)),
    });
  }
  const heap = runs.map((r) => r.serverMemoryMiB.heapUsed + r.serverMemoryMiB.arrayBuffers);
  const rss = runs.map((r) => r.serverMemoryMiB.rss);
  console.log(
    JSON.stringify(
      {
        bench: 'edge-load',
        server: 'node edge/src/node.ts (onnxruntime-web wasm, 1 thread)',
        artifact: { name: artifact.name, requested: artifact.requested },
        request: path,
        concurrency: Number(values.requests),
        serverMemoryAfterWarmupMiB: afterWarmup,
        runs,
        serverLog,
        totals: {
          errors: runs.reduce((a, r) => a + r.errors + r.timeouts + r.non2xx, 0),
          p99Ms: Math.max(...runs.map((r) => r.latencyMs.p99)),
          // Live memory (heap + array buffers after a full GC) and RSS, last run minus first run.
          liveGrowthMiB: round(heap[heap.length - 1] - heap[0], 1),
          rssGrowthMiB: round(rss[rss.length - 1] - rss[0], 1),
        },
      },
      null,
      2,
    ),
  );
} finally {
  server.kill('SIGTERM');
}
