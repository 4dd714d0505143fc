import { Worker } from 'node:worker_threads';
import type { EdgeMemory } from '@qdm/shared';
import type { SessionOptions } from './session.ts';

export interface MeasureMemoryOptions {
  /** [C, H, W] of the model input x. */
  shape: [number, number, number];
  /** Batches to run, ascending (default 1, 2, 4, 8: up to the largest n a Worker serves). */
  batches?: number[];
  /**
   * Model times to run at each batch (default [500]). A graph with wide steps needs [500, 0]: t = 0 takes its
   * float-activation branch, which needs more memory.
   */
  times?: number[];
  /** How the edge will load the graph (an ORT-format edge graph: `{optimized: true, format: 'ort'}`). */
  session: SessionOptions;
}

/**
 * The edge WASM runtime's heap for `model` at each batch, in a worker thread (a fresh heap: the runtime of this
 * thread may already hold other models, and a heap never shrinks). Node only; the toolchain records the result in
 * the manifest so a deployment can refuse a batch that would not fit before loading anything.
 */
export function measureEdgeMemory(model: Uint8Array, options: MeasureMemoryOptions): Promise<EdgeMemory> {
  const batches = options.batches ?? [1, 2, 4, 8];
  const worker = new Worker(new URL('./heap-probe.ts', import.meta.url), {
    workerData: { model, options: options.session, shape: options.shape, batches, times: options.times ?? [500] },
  });
  return new Promise((resolve, reject) => {
    worker.once('message', (result: { heapBytes: EdgeMemory['heapBytes']; runtime?: string }) => {
      const points = result.heapBytes;
      const [a, b] = points.length > 1 ? points.slice(-2) : [{ n: 0, bytes: 0 }, points[0]];
      const perSampleBytes = Math.max(0, Math.ceil((b.bytes - a.bytes) / (b.n - a.n)));
      resolve({ runtime: `${result.runtime ?? 'onnxruntime-web'} wasm`, heapBytes: points, perSampleBytes });
    });
    worker.once('error', reject);
    worker.once('exit', (code) => {
      if (code !== 0) reject(new Error(`edge memory probe exited with code ${code}`));
    });
  });
}
