// Edge benchmark in workerd: `wrangler dev` (local workerd, the Worker of edge/wrangler.toml) with the artifact
// seeded into its local R2.
//   node bench/edge-workerd.ts [--model mnist32] [--variants int8,fp32] [--steps 20] [--requests 5] [--allow-fixture]
// Prints JSON: cold start (first request: wasm instantiate, R2 read+verify, session), per-step latency per variant,
// workerd memory with all variants loaded (process RSS, and the isolate's V8 heap + array buffers by inspector).
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startWranglerDev } from '@qdm/edge/testing';
import { benchArtifact, log, measureVariants, mib, round } from './edge-lib.ts';
import { provenance } from './lib.ts';
import { isolateHeap, workerdRss } from './workerd-probe.ts';

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: 'mnist32' },
    variants: { type: 'string', default: 'int8,fp32' },
    steps: { type: 'string', default: '20' },
    requests: { type: 'string', default: '5' },
    'allow-fixture': { type: 'boolean', default: false },
  },
});

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
        ...provenance('edge-workerd'),
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
