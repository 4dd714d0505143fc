/**
 * Keys + per-client limits under load (`node bench/edge-load.ts --limits ...`): the Node edge server with two API
 * keys, a greedy client bursting `--requests` concurrent requests (each sent again 1-2x a refusal's Retry-After
 * later, as long as the test runs) and a polite client sending `--polite` requests one after another, within its
 * own share (one every 2x its own work, or every n x steps / rate if that is longer). Run twice:
 * open (no per-client limit: the greedy client fills the admission queue) and limited (QDM_RATE/QDM_RATE_BURST).
 * The polite client's latencies are compared with its own work (median of 3 alone) plus one model call (the step
 * time measured alone); every answer must be 200, 429 or 503, and every refusal must carry Retry-After.
 *   node bench/edge-load.ts --limits [--model mnist32] [--variant int8] [--steps 20] [--requests 200] [--polite 5]
 *     [--rate N] [--burst N] [--runtime native|wasm] [--allow-fixture]
 * --rate/--burst default to a quarter of one request at a time (its model calls per its own work measured alone in
 * the open run) and a bucket of 2 requests: a client's share must be below what the server can do, or its admitted
 * work still fills the queue.
 * Prints one JSON object; only the default run writes bench/results/edge-load-limits.json.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { benchArtifact, log, median, repoRoot, round, serverTiming } from './edge-lib.ts';
import { benchCommand, provenance, writeResult } from './lib.ts';

const DEFAULTS = {
  model: 'mnist32',
  variant: 'int8',
  steps: '20',
  requests: '200',
  polite: '5',
  rate: '',
  burst: '',
  runtime: 'native',
};

function usage(message: string): never {
  process.stderr.write(`edge-load --limits: ${message}\n`);
  process.exit(2);
}

let values: Record<keyof typeof DEFAULTS, string> & { 'allow-fixture': boolean };
try {
  values = parseArgs({
    args: process.argv.slice(2).filter((a) => a !== '--limits'),
    options: {
      ...(Object.fromEntries(Object.entries(DEFAULTS).map(([k, v]) => [k, { type: 'string', default: v }])) as {
        [K in keyof typeof DEFAULTS]: { type: 'string'; default: string };
      }),
      'allow-fixture': { type: 'boolean', default: false },
    },
  }).values as typeof values;
} catch (error) {
  usage((error as Error).message);
}
for (const key of ['steps', 'requests', 'polite'] as const) {
  if (!(Number.isSafeInteger(Number(values[key])) && Number(values[key]) > 0)) {
    usage(`--${key}: a positive integer, got ${values[key]}`);
  }
}
for (const key of ['rate', 'burst'] as const) {
  if (values[key] !== '' && !(Number(values[key]) > 0)) usage(`--${key}: a positive number, got ${values[key]}`);
}
if (values.runtime !== 'native' && values.runtime !== 'wasm') usage(`--runtime: native or wasm, got ${values.runtime}`);
const isDefaultRun =
  !values['allow-fixture'] && Object.entries(DEFAULTS).every(([k, v]) => values[k as keyof typeof DEFAULTS] === v);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function freePort(): Promise<number> {
  return new Promise((done) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => done(port));
    });
  });
}

function startServer(env: NodeJS.ProcessEnv): Promise<ChildProcess> {
  // NOTE: the request log (stdout, one line per request) is not read: thousands of 429s would fill the pipe.
  const child = spawn(process.execPath, [join(repoRoot, 'edge/src/node.ts')], {
    env,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  return new Promise((ready, fail) => {
    let output = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('qdm edge on')) ready(child);
    });
    child.on('exit', (code) => fail(new Error(`server exited (${code}): ${output.slice(0, 500)}`)));
  });
}

interface Answer {
  status: number;
  retryAfter: boolean;
}

async function timed(url: string, key: string): Promise<{ status: number; ms: number; stepMs?: number }> {
  const started = performance.now();
  const res = await fetch(url, { headers: { authorization: `Bearer ${key}` } });
  await res.arrayBuffer();
  return {
    status: res.status,
    ms: performance.now() - started,
    stepMs: serverTiming(res.headers.get('server-timing')).step,
  };
}

/** One scenario on a fresh server: the polite client alone, then beside the greedy burst. */
async function scenario(root: string, name: string, limits: { rate: number; burst: number } | undefined) {
  const greedyKey = randomUUID();
  const politeKey = randomUUID();
  // The requests timed alone each use a key of their own, so they leave the polite client's bucket full.
  const aloneKeys = [randomUUID(), randomUUID(), randomUUID(), randomUUID()];
  const port = await freePort();
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    QDM_ARTIFACTS: root,
    HOST: '127.0.0.1',
    PORT: String(port),
    QDM_RUNTIME: values.runtime,
    QDM_API_KEYS: [greedyKey, politeKey, ...aloneKeys].join(','),
  };
  for (const key of ['QDM_RATE', 'QDM_RATE_BURST', 'QDM_STEP_BATCH', 'QDM_MAX_QUEUE_MS', 'QDM_CORS_ORIGINS'])
    delete env[key];
  if (limits) {
    env.QDM_RATE = String(limits.rate);
    env.QDM_RATE_BURST = String(limits.burst);
  }
  const server = await startServer(env);
  const base = `http://127.0.0.1:${port}`;
  const steps = Number(values.steps);
  const path = `/sample?model=${name}&variant=${artifactVariant}&n=1&steps=ddim${steps}&format=png`;
  try {
    await timed(base + path, aloneKeys[3]); // loads and measures the session
    const alone = [];
    for (let i = 0; i < 3; i++) alone.push(await timed(base + path, aloneKeys[i]));
    if (alone.some((a) => a.status !== 200))
      throw new Error(`a request alone was answered ${alone.map((a) => a.status)}`);
    const ownWorkMs = median(alone.map((a) => a.ms));
    const callMs = median(alone.map((a) => a.stepMs ?? Number.NaN));

    log(
      `edge-load --limits: ${limits ? 'limited' : 'open'}: ${values.requests} greedy requests beside ${values.polite} polite ones`,
    );
    const greedy: Answer[] = [];
    const errors: Record<string, number> = {};
    let stop = false;
    const burst = Array.from({ length: Number(values.requests) }, async () => {
      while (!stop) {
        try {
          const res = await fetch(base + path, { headers: { authorization: `Bearer ${greedyKey}` } });
          await res.arrayBuffer();
          const retryAfter = res.headers.get('retry-after');
          greedy.push({ status: res.status, retryAfter: retryAfter !== null && Number(retryAfter) > 0 });
          if (res.status !== 200) await sleep(Math.min(5, Number(retryAfter) || 1) * (1000 + 1000 * Math.random()));
        } catch (error) {
          const key = (error as Error & { cause?: { code?: string } }).cause?.code ?? (error as Error).message;
          errors[key] = (errors[key] ?? 0) + 1;
          await sleep(1000);
        }
      }
    });
    await sleep(500); // the burst has been answered: its admitted share runs
    const polite: { status: number; ms: number; retryAfter: boolean }[] = [];
    // The polite client keeps within its own share: one request every 2x its own work, or every cost / rate.
    const spacingMs = Math.max(2 * ownWorkMs, limits ? (1000 * steps) / limits.rate : 0);
    for (let i = 0; i < Number(values.polite); i++) {
      if (i > 0) await sleep(Math.max(0, spacingMs - (polite.at(-1)?.ms ?? 0)));
      const started = performance.now();
      const res = await fetch(base + path, { headers: { authorization: `Bearer ${politeKey}` } });
      await res.arrayBuffer();
      polite.push({
        status: res.status,
        ms: round(performance.now() - started, 1),
        retryAfter: Number(res.headers.get('retry-after')) > 0,
      });
    }
    stop = true;
    await Promise.all(burst);
    const boundMs = ownWorkMs + callMs;
    const count = (s: number) => greedy.filter((a) => a.status === s).length;
    const refusals = [...greedy, ...polite].filter((a) => a.status === 429 || a.status === 503);
    return {
      limits: limits ?? null,
      ownWorkMs: round(ownWorkMs, 1),
      callMs: round(callMs, 2),
      politeBoundMs: round(boundMs, 1),
      politeSpacingMs: round(spacingMs, 1),
      polite,
      politeServed: polite.filter((p) => p.status === 200).length,
      politeWithinBound: polite.filter((p) => p.status === 200 && p.ms <= boundMs).length,
      politeMedianOverOwnWork: round(median(polite.map((p) => p.ms)) / ownWorkMs, 2),
      politeMaxOverOwnWork: round(Math.max(...polite.map((p) => p.ms)) / ownWorkMs, 2),
      greedy: { answered: greedy.length, served: count(200), refused429: count(429), refused503: count(503) },
      otherStatuses: [...greedy, ...polite].filter((a) => ![200, 429, 503].includes(a.status)).length,
      everyRefusalHasRetryAfter: refusals.every((a) => a.retryAfter),
      errors,
    };
  } finally {
    server.kill('SIGTERM');
  }
}

let artifactVariant = values.variant;

async function main() {
  const artifact = await benchArtifact(values.model, values['allow-fixture']);
  artifactVariant = artifact.requested ? values.variant : 'fp32';
  const open = await scenario(artifact.root, artifact.name, undefined);
  const steps = Number(values.steps);
  // A per-client rate is a share of what the server can do: a quarter of one request at a time (its own work
  // measured alone in the open run; the machine's other load can double it by the limited run), a bucket of 2.
  const burst = values.burst ? Number(values.burst) : 2 * steps;
  const rate = values.rate ? Number(values.rate) : round((0.25 * steps) / (open.ownWorkMs / 1000), 1);
  const limited = await scenario(artifact.root, artifact.name, { rate, burst });
  const report = {
    // Run as `node bench/edge-load.ts --limits`: that is the command to record.
    ...provenance('edge-load-limits'),
    command: benchCommand('edge-load'),
    artifact: { name: artifact.name, requested: artifact.requested, variant: artifactVariant },
    runtime: values.runtime,
    request: `n=1, ddim${steps}`,
    greedyConcurrency: Number(values.requests),
    politeRequests: Number(values.polite),
    open,
    limited,
    totals: {
      // The fairness case: with limits, every polite request is served within its own work plus one model call.
      politeFairWithLimits: limited.politeWithinBound === limited.polite.length,
      politeCrowdedOutWithoutLimits: open.politeWithinBound < open.polite.length,
      // No loss: every answer 200, 429 or 503, every refusal with Retry-After, no socket errors.
      noLoss: [open, limited].every(
        (s) => s.otherStatuses === 0 && s.everyRefusalHasRetryAfter && Object.keys(s.errors).length === 0,
      ),
    },
  };
  const json = JSON.stringify(report, null, 2);
  console.log(json);
  if (writeResult('edge-load-limits', report, { defaultRun: isDefaultRun, indent: 2 })) {
    log('edge-load --limits: wrote bench/results/edge-load-limits.json');
  }
}

try {
  await main();
} catch (error) {
  process.stderr.write(`edge-load --limits: ${(error as Error).message.split('\n')[0]}\n`);
  process.exit(1);
}
