/**
 * Measures what the edge's WASM runtime needs for one graph: a fresh onnxruntime-web (this worker thread's own),
 * loaded exactly as the edge loads it, a step at each given model time at each batch, the heap read after them.
 * The heap only grows, so each reading is what an isolate holds after serving that batch (t = 0 runs the
 * float-activation branch of a graph with wide steps, toolchain's wide-steps.ts). Run by measureEdgeMemory
 * (measure-memory.ts).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { compileOrtWasm } from './ort-wasm-node.ts';
import { ortWebSessions } from './ort-web.ts';
import type { SessionOptions } from './session.ts';

interface ProbeInput {
  model: Uint8Array;
  options: SessionOptions;
  shape: [number, number, number];
  batches: number[];
  times: number[];
}

const { model, options, shape, batches, times } = workerData as ProbeInput;
const sessions = ortWebSessions(compileOrtWasm);
const session = await sessions(model, options);
const heapBytes: { n: number; bytes: number }[] = [];
for (const n of batches) {
  const x = new Float32Array(n * shape[0] * shape[1] * shape[2]).map((_, i) => Math.sin(i * 0.37));
  for (const t of times) await session.run(x, [n, ...shape], new Float32Array(n).fill(t));
  heapBytes.push({ n, bytes: sessions.memoryBytes?.() ?? 0 });
}
await session.release();
parentPort?.postMessage({ heapBytes, runtime: sessions.runtime });
