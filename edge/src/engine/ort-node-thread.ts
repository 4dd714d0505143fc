/**
 * The thread side of a native session (see ort-node.ts): onnxruntime-node's `run` computes on the calling thread,
 * so each session lives on a worker thread of its own and the server's event loop stays free to read requests,
 * admit or refuse them and answer /healthz while a step runs (measured: a CIFAR-10 batch-8 call held the main
 * thread for 1.9 s).
 */
import { parentPort, workerData } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';

export interface ThreadData {
  model: Uint8Array;
  ep: string;
  threads: number;
}
export type ThreadRequest = { id: number; x: Float32Array; shape: number[]; t: Float32Array } | { release: true };
export type ThreadReply =
  | { ready: true }
  | { failed: string }
  | { id: number; out: Float32Array }
  | { id: number; error: string };

const port = parentPort;
if (!port) throw new Error('ort-node-thread.ts runs as a worker thread');
const { model, ep, threads } = workerData as ThreadData;
const send = (reply: ThreadReply, transfer: ArrayBuffer[] = []) => port.postMessage(reply, transfer);

let session: ort.InferenceSession;
try {
  session = await ort.InferenceSession.create(model, {
    executionProviders: [ep],
    graphOptimizationLevel: 'all',
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    logSeverityLevel: 3,
  });
} catch (error) {
  send({ failed: String((error as Error).message ?? error) });
  port.close();
  throw error;
}
// The artifact contract names them x, t and out; fall back to position for other graphs.
const named = (names: readonly string[], name: string, i: number) => (names.includes(name) ? name : names[i]);
const xName = named(session.inputNames, 'x', 0);
const tName = named(session.inputNames, 't', 1);
const outName = named(session.outputNames, 'out', 0);
send({ ready: true });

port.on('message', async (request: ThreadRequest) => {
  if ('release' in request) {
    await session.release();
    port.close(); // nothing else keeps this thread alive: it exits
    return;
  }
  try {
    const result = await session.run({
      [xName]: new ort.Tensor('float32', request.x, request.shape),
      [tName]: new ort.Tensor('float32', request.t, [request.t.length]),
    });
    // NOTE: a copy the thread owns, so its buffer can be transferred (the tensor's may be the runtime's)
    const out = (result[outName].data as Float32Array).slice();
    send({ id: request.id, out }, [out.buffer]);
  } catch (error) {
    send({ id: request.id, error: String((error as Error).message ?? error) });
  }
});
