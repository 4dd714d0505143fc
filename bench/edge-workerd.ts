// Edge benchmark in workerd: `wrangler dev` (local workerd, the Worker of edge/wrangler.toml) with the artifact
// seeded into its local R2.
//   node bench/edge-workerd.ts [--model mnist32] [--variants int8,fp32] [--steps 20] [--requests 5] [--allow-fixture]
// Prints JSON: cold start (first request: wasm instantiate, R2 read+verify, session), per-step latency per variant,
// workerd memory with all variants loaded (process RSS, and the isolate's V8 heap + array buffers by inspector).
import { execFileSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startWranglerDev } from '../edge/test/fixtures/wrangler-dev.ts';
import { benchArtifact, log, measureVariants, mib, round } from './edge-lib.ts';

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: 'mnist32' },
    variants: { type: 'string', default: 'int8,fp32' },
    steps: { type: 'string', default: '20' },
    requests: { type: 'string', default: '5' },
    'allow-fixture': { type: 'boolean', default: false },
  },
});

/** Resident memory of the workerd processes under the wrangler process (Linux /proc). */
async function workerdRss(rootPid: number): Promise<number> {
  const pids = execFileSync('ps', ['-e', '-o', 'pid=,ppid=,comm='], { encoding: 'utf8' })
    .trim()
    .split('\n')
    .map((line) => line.trim().split(/\s+/));
  const tree = new Set([String(rootPid)]);
  for (let grew = true; grew; ) {
    grew = false;
    for (const [pid, ppid] of pids) {
      if (tree.has(ppid) && !tree.has(pid)) {
        tree.add(pid);
        grew = true;
      }
    }
  }
  let rss = 0;
  for (const [pid, , comm] of pids) {
    if (!tree.has(pid) || !comm.includes('workerd')) continue;
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    rss += Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024;
  }
  return rss;
}

/** The isolate's V8 heap and ArrayBuffer backing stores (wasm memory included), via the inspector protocol. */
async function isolateHeap(inspectorPort: number): Promise<Record<string, number> | null> {
  try {
    const targets = (await (await fetch(`http://127.0.0.1:${inspectorPort}/json`)).json()) as {
      webSocketDebuggerUrl: string;
    }[];
    // NOTE: the inspector proxy refuses upgrades without an allowed Origin (undici takes extra headers).
    const ws = new WebSocket(targets[0].webSocketDebuggerUrl, { headers: { origin: 'http://127.0.0.1' } } as never);
    const usage = await new Promise<Record<string, number>>((done, fail) => {
      ws.onopen = () => {
        ws.send(JSON.stringify({ id: 1, method: 'HeapProfiler.collectGarbage' }));
        ws.send(JSON.stringify({ id: 2, method: 'Runtime.getHeapUsage' }));
      };
      ws.onmessage = (event) => {
        const message = JSON.parse(String(event.data));
        if (message.id === 2) done(message.result);
      };
      ws.onerror = () => fail(new Error('inspector connection failed'));
      setTimeout(() => fail(new Error('inspector timeout')), 10_000);
    });
    ws.close();
    return usage;
  } catch (error) {
    log(`edge-workerd: no isolate heap figures (${(error as Error).message})`);
    return null;
  }
}

const artifact = await benchArtifact(values.model, values['allow-fixture']);
log(`edge-workerd: seeding local R2 with ${artifact.name}, starting wrangler dev`);
const worker = await startWranglerDev([join(artifact.root, artifact.name)], {
  QDM_WORK_BUDGET: '1000000',
  QDM_MAX_STEPS: '1000',
});
const { base, inspectorPort } = worker;
const wrangler = worker.process;

try {
  const models = (await (await fetch(`${base}/models`)).json()) as { models: { name: string; variants: object }[] };
  const entry = models.models.find((m) => m.name === artifact.name);
  if (!entry) throw new Error(`the worker does not list ${artifact.name}: ${JSON.stringify(models)}`);
  const wanted = values.variants.split(',');
  const variants = wanted.filter((v) => v in entry.variants);
  const query = (variant: string) =>
    `/sample?model=${artifact.name}&variant=${variant}&seed=1&n=1&steps=ddim${values.steps}&format=npy`;
  const rssBefore = await workerdRss(wrangler.pid!);
  const heapBefore = await isolateHeap(inspectorPort);

  const { coldStart, results } = await measureVariants(
    'edge-workerd',
    (q) => fetch(base + q),
    Object.fromEntries(variants.map((v) => [v, query(v)])),
    Number(values.requests),
  );
  const rssAfter = await workerdRss(wrangler.pid!);
  const heapAfter = await isolateHeap(inspectorPort);
  const health = (await (await fetch(`${base}/healthz`)).json()) as { runtimeMemoryBytes: number | null };
  const stepOf = (v: string) => results[v]?.stepMs;
  const ratio = stepOf('int8') && stepOf('fp32') ? round(stepOf('int8')! / stepOf('fp32')!, 3) : null;
  const heap = (h: Record<string, number> | null) =>
    h && {
      usedMiB: mib(h.usedSize),
      backingStorageMiB: h.backingStorageSize === undefined ? null : mib(h.backingStorageSize),
    };
  console.log(
    JSON.stringify(
      {
        bench: 'edge-workerd',
        runtime: 'workerd via wrangler dev (local), onnxruntime-web wasm, 1 thread',
        artifact: { name: artifact.name, requested: artifact.requested },
        steps: `ddim${values.steps}`,
        batch: 1,
        coldStart,
        variants: results,
        missingVariants: wanted.filter((v) => !variants.includes(v)),
        int8OverFp32: ratio,
        memory: {
          workerdRssIdleMiB: mib(rssBefore),
          workerdRssAllLoadedMiB: mib(rssAfter),
          isolateIdle: heap(heapBefore),
          isolateAllLoaded: heap(heapAfter),
          // The ORT wasm heap (every session's weights and activations); it never shrinks.
          ortWasmHeapMiB: health.runtimeMemoryBytes === null ? null : mib(health.runtimeMemoryBytes),
          isolateEstimateMiB:
            health.runtimeMemoryBytes === null || !heapAfter
              ? null
              : mib(health.runtimeMemoryBytes + heapAfter.usedSize + (heapAfter.backingStorageSize ?? 0)),
          isolateLimitMiB: 128,
        },
        targets: {
          int8AtMostHalfFp32: ratio === null ? null : ratio <= 0.5,
          coldStartAtMost1s: coldStart ? (coldStart.loadMs as number) <= 1000 : null,
        },
      },
      null,
      2,
    ),
  );
} finally {
  await worker.stop();
}
