/**
 * Measures what the edge's WASM runtime needs for one graph: a fresh onnxruntime-web (this worker thread's own),
 * loaded exactly as the edge loads it, one step at each batch, the heap read after each. The heap only grows, so
 * each reading is what an isolate holds after serving that batch. Run by measureEdgeMemory (measure-memory.ts).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { ortWebSessions } from '../engine/ort-web.ts';
import type { SessionOptions } from '../engine/session.ts';
import { compileOrtWasm } from '../node-runtime.ts';

interface ProbeInput {
  model: Uint8Array;
  options: SessionOptions;
  shape: [number, number, number];
  batches: number[];
}

const { model, options, shape, batches } = workerData as ProbeInput;
const sessions = ortWebSessions(compileOrtWasm);
const session = await sessions(model, options);
const heapBytes: { n: number; bytes: number }[] = [];
for (const n of batches) {
  const x = new Float32Array(n * shape[0] * shape[1] * shape[2]).map((_, i) => Math.sin(i * 0.37));
  await session.run(x, [n, ...shape], new Float32Array(n).fill(500));
  heapBytes.push({ n, bytes: sessions.memoryBytes?.() ?? 0 });
}
await session.release();
parentPort?.postMessage({ heapBytes, runtime: sessions.runtime });
