// Edge benchmark on Node: onnxruntime-web WASM (1 thread), the app `npm run serve` runs with QDM_RUNTIME=wasm.
//   node bench/edge-node.ts [--model mnist32] [--variants int8,fp32] [--steps 20] [--requests 5] [--allow-fixture]
//                           [--portable-graphs] [--n 1]   (--n: images per request, the model batch)
// Prints JSON: cold start (first request: wasm compile+init, artifact read+verify, session), warm request latency,
// per-step latency per variant (mean step of a request, median over requests), process memory with all loaded.
import { parseArgs } from 'node:util';
import { createApp } from '@qdm/edge';
import { folderSource } from '@qdm/edge/node';
import { ortWebSessions } from '@qdm/edge-probe/ort-web';
import { compileOrtWasm } from '@qdm/edge-probe/wasm-node';
import { benchArtifact, measureVariants, mib, round } from './edge-lib.ts';
import { provenance } from './lib.ts';

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: 'mnist32' },
    variants: { type: 'string', default: 'int8,fp32' },
    steps: { type: 'string', default: '20' },
    requests: { type: 'string', default: '5' },
    n: { type: 'string', default: '1' },
    'allow-fixture': { type: 'boolean', default: false },
    // Ignore the artifact's edge graphs: sessions optimized at load, as before edge graphs existed.
    'portable-graphs': { type: 'boolean', default: false },
  },
});

const artifact = await benchArtifact(values.model, values['allow-fixture']);
const rssStart = process.memoryUsage().rss;
const sessions = ortWebSessions(compileOrtWasm);
if (values['portable-graphs']) sessions.runtime = undefined;
const app = createApp({
  source: folderSource(artifact.root),
  sessions,
  config: { workBudget: 1_000_000, maxSteps: 1000 },
});
const manifest = (await app.engine.catalog.open(artifact.name)).manifest;
const variants = values.variants.split(',').filter((v) => v in manifest.variants);
const missing = values.variants.split(',').filter((v) => !(v in manifest.variants));
const query = (variant: string, steps: string) =>
  `/sample?model=${artifact.name}&variant=${variant}&seed=1&n=${values.n}&steps=ddim${steps}&format=npy`;

const { coldStart, results } = await measureVariants(
  'edge-node',
  async (q) => app.request(q),
  Object.fromEntries(variants.map((v) => [v, query(v, values.steps)])),
  Number(values.requests),
);
const mem = process.memoryUsage();
const health = (await (await app.request('/healthz')).json()) as { runtimeMemoryBytes: number | null };
const stepOf = (v: string) => results[v]?.stepMs;
const ratio = stepOf('int8') && stepOf('fp32') ? round(stepOf('int8')! / stepOf('fp32')!, 3) : null;

console.log(
  JSON.stringify(
    {
      ...provenance('edge-node'),
      runtime: `node ${process.version}, onnxruntime-web wasm, 1 thread`,
      artifact: { name: artifact.name, root: artifact.root, requested: artifact.requested },
      steps: `ddim${values.steps}`,
      batch: Number(values.n),
      coldStart,
      variants: results,
      missingVariants: missing,
      int8OverFp32: ratio,
      memory: {
        rssStartMiB: mib(rssStart),
        rssAllLoadedMiB: mib(mem.rss),
        arrayBuffersMiB: mib(mem.arrayBuffers),
        ortWasmHeapMiB: health.runtimeMemoryBytes === null ? null : mib(health.runtimeMemoryBytes),
        heapUsedMiB: mib(mem.heapUsed),
      },
      targets: {
        int8AtMostHalfFp32: ratio === null ? null : ratio <= 0.5,
        coldStartAtMost1s: coldStart ? coldStart.loadMs <= 1000 : null,
      },
    },
    null,
    2,
  ),
);
