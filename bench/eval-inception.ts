// FID Inception-v3 throughput in onnxruntime-node (CPU, default threads), random weights.
//   node bench/eval-inception.ts [--batch 16] [--input-size 299] [--runs 3] [--threads N]
// Prints JSON: graph build + session creation time, images/s over `runs` timed batches after one warm-up batch.
// The graph always resizes to 299 px; --input-size is the size fed in (32 = CIFAR-10 samples, resized in-graph).
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import type { Tensor } from '@qdm/shared';
import { createSession } from '@qdm/toolchain';
import { buildFidInception, fidInceptionWeightShapes } from '@qdm/toolchain/models';
import { encodeModel } from '@qdm/toolchain/onnx';
import * as ort from 'onnxruntime-node';
import { provenance } from './lib.ts';
import { machineInfo } from './machine.ts';

// Recorded when the bench starts (the load average beside the run).
const machine = machineInfo();

const { values } = parseArgs({
  options: {
    batch: { type: 'string', default: '16' },
    'input-size': { type: 'string', default: '299' },
    runs: { type: 'string', default: '3' },
    threads: { type: 'string' },
  },
});
const batch = Number(values.batch);
const size = Number(values['input-size']);
const runs = Number(values.runs);
const threads = values.threads === undefined ? undefined : Number(values.threads);

/** xorshift32 in [-1, 1): speed does not depend on the values, only on them being finite and nonzero. */
function noise(count: number, seed: number, scale: number, offset = 0): Float32Array {
  const out = new Float32Array(count);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < count; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    out[i] = offset + scale * ((s >>> 0) / 2 ** 31 - 1);
  }
  return out;
}

function randomWeights(): Map<string, Tensor> {
  const weights = new Map<string, Tensor>();
  let seed = 1;
  for (const [name, shape] of fidInceptionWeightShapes()) {
    const count = shape.reduce((a, b) => a * b, 1);
    const fanIn = shape.slice(1).reduce((a, b) => a * b, 1);
    const data = name.endsWith('running_var')
      ? noise(count, seed++, 0.5, 1)
      : noise(count, seed++, shape.length > 1 ? Math.sqrt(6 / fanIn) : 0.25);
    weights.set(name, { dtype: 'float32', shape, data });
  }
  return weights;
}

const started = performance.now();
const model = buildFidInception(randomWeights(), { inputSize: size });
const bytes = encodeModel(model);
const session = await createSession(bytes, threads === undefined ? {} : { threads });
const setupMs = performance.now() - started;

const dims = [batch, 3, size, size];
const images = new ort.Tensor('float32', noise(batch * 3 * size * size, 99, 1), dims);
process.stderr.write(`eval-inception: warm-up batch of ${batch} at ${size} px\n`);
await session.run({ images });
const times: number[] = [];
for (let i = 0; i < runs; i++) {
  const t0 = performance.now();
  await session.run({ images });
  times.push(performance.now() - t0);
  process.stderr.write(`eval-inception: batch ${i + 1}/${runs}: ${times[i].toFixed(0)} ms\n`);
}
await session.release();

const round = (x: number, digits = 2) => Number(x.toFixed(digits));
const meanMs = times.reduce((a, b) => a + b, 0) / times.length;
console.log(
  JSON.stringify({
    ...provenance('eval-inception', machine),
    runtime: `onnxruntime-node ${ort.env.versions.common} cpu`,
    threads: threads ?? `default (${availableParallelism()} cores)`,
    batch,
    inputSize: size,
    modelMiB: round(bytes.length / 2 ** 20, 1),
    setupMs: round(setupMs, 0),
    batchMs: times.map((t) => round(t, 0)),
    imagesPerSecond: round((batch * 1000) / meanMs),
    bestImagesPerSecond: round((batch * 1000) / Math.min(...times)),
  }),
);
