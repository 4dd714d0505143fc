/**
 * The thread side of a threaded session (see threaded.ts): onnxruntime-node and onnxruntime-web both compute on the
 * calling thread, so on Node each session lives on a worker thread of its own and the server's event loop stays free
 * to read requests, admit or refuse them and answer /healthz while a step runs. A CIFAR-10 batch-8 call holds a
 * thread for seconds, and a loop blocked between turns takes in one new connection per turn
 * (docs/results.md#edge-load).
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { ModelSession, SessionFactory } from './session.ts';
import type { ThreadData, ThreadReply, ThreadRequest, ThreadRuntime } from './thread-protocol.ts';

async function factoryFor(runtime: ThreadRuntime): Promise<SessionFactory> {
  if (runtime.kind === 'native') {
    // NOTE: imported here so that a WASM thread never loads onnxruntime-node's native addon.
    const { nativeSession } = await import('./ort-node-session.ts');
    return (model) => nativeSession(model, runtime.ep, runtime.threads);
  }
  const [{ ortWebSessions }, { compileOrtWasm }] = await Promise.all([
    import('@qdm/edge-probe/ort-web'),
    import('@qdm/edge-probe/wasm-node'),
  ]);
  return ortWebSessions(compileOrtWasm);
}

const port = parentPort;
if (!port) throw new Error('session-thread.ts runs as a worker thread');
const { runtime, model, options } = workerData as ThreadData;
const send = (reply: ThreadReply, transfer: ArrayBuffer[] = []) => port.postMessage(reply, transfer);

const factory = await factoryFor(runtime);
let session: ModelSession;
try {
  session = await factory(model, options);
} catch (error) {
  send({ failed: String((error as Error).message ?? error) });
  port.close();
  throw error;
}
send({ ready: true, memoryBytes: factory.memoryBytes?.() });

port.on('message', async (request: ThreadRequest) => {
  if ('release' in request) {
    try {
      await session.release();
    } finally {
      port.close(); // nothing else keeps this thread alive: it exits (its caller awaits that)
    }
    return;
  }
  try {
    // NOTE: a copy the thread owns, so its buffer can be transferred (a runtime's tensor may be its own memory)
    const out = (await session.run(request.x, request.shape, request.t)).slice();
    send({ id: request.id, out, memoryBytes: factory.memoryBytes?.() }, [out.buffer]);
  } catch (error) {
    send({ id: request.id, error: String((error as Error).message ?? error) });
  }
});
