/** onnxruntime-node on the calling thread: the native half of a threaded session (session-thread.ts). */
import * as ort from 'onnxruntime-node';
import type { ModelSession } from './session.ts';

/** A session on onnxruntime-node on this thread (session-thread.ts calls it on a worker thread). */
export async function nativeSession(model: Uint8Array, ep: string, threads: number): Promise<ModelSession> {
  const session = await ort.InferenceSession.create(model, {
    executionProviders: [ep],
    graphOptimizationLevel: 'all',
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    logSeverityLevel: 3,
  });
  // The artifact contract names them x, t and out; fall back to position for other graphs.
  const named = (names: readonly string[], name: string, i: number) => (names.includes(name) ? name : names[i]);
  const xName = named(session.inputNames, 'x', 0);
  const tName = named(session.inputNames, 't', 1);
  const outName = named(session.outputNames, 'out', 0);
  return {
    async run(x, xShape, t) {
      const result = await session.run({
        [xName]: new ort.Tensor('float32', x, xShape as number[]),
        [tName]: new ort.Tensor('float32', t, [t.length]),
      });
      return result[outName].data as Float32Array;
    },
    release: () => session.release(),
  };
}
