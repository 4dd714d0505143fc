/**
 * Sessions on worker threads (Node): a SessionFactory whose sessions each run on a thread of their own
 * (session-thread.ts), for either runtime. Inputs are copied and transferred; the thread is referenced only while a
 * call runs, so an idle server can exit.
 */
import { Worker } from 'node:worker_threads';
import type { ModelSession, SessionOptions } from './session.ts';
import type { ThreadData, ThreadReply, ThreadRequest, ThreadRuntime } from './thread-protocol.ts';

interface Pending {
  resolve(out: Float32Array): void;
  reject(error: Error): void;
}

export type ThreadedSession = ModelSession & {
  /** The thread runtime's own memory at its last answer (the WASM heap), when it has one. */
  memoryBytes(): number | undefined;
};

export async function threadSession(
  runtime: ThreadRuntime,
  model: Uint8Array,
  options?: SessionOptions,
): Promise<ThreadedSession> {
  const worker = new Worker(new URL('./session-thread.ts', import.meta.url), {
    workerData: { runtime, model, options } satisfies ThreadData,
  });
  const pending = new Map<number, Pending>();
  let nextId = 0;
  let memoryBytes: number | undefined;
  let broken: Error | undefined;
  const breakAll = (error: Error) => {
    broken ??= error;
    for (const p of pending.values()) p.reject(broken);
    pending.clear();
  };
  const exited = new Promise<void>((done) => worker.once('exit', () => done()));
  worker.on('error', breakAll);
  worker.once('exit', (code) => breakAll(new Error(`the session thread exited (code ${code})`)));
  await new Promise<void>((resolve, reject) => {
    worker.once('message', (reply: ThreadReply) => {
      if ('failed' in reply) reject(new Error(reply.failed));
      else {
        if ('memoryBytes' in reply) memoryBytes = reply.memoryBytes;
        resolve();
      }
    });
    worker.once('error', reject);
    worker.once('exit', () => reject(broken ?? new Error('the session thread exited')));
  });
  worker.on('message', (reply: ThreadReply) => {
    if (!('id' in reply)) return;
    const call = pending.get(reply.id);
    pending.delete(reply.id);
    if (pending.size === 0) worker.unref();
    if ('out' in reply) {
      memoryBytes = reply.memoryBytes ?? memoryBytes;
      call?.resolve(reply.out);
    } else call?.reject(new Error(reply.error));
  });
  worker.unref();
  return {
    run(x, xShape, t) {
      if (broken) return Promise.reject(broken);
      const id = nextId++;
      const request = { id, x: x.slice(), shape: [...xShape], t: t.slice() };
      return new Promise((resolve, reject) => {
        pending.set(id, { resolve, reject });
        worker.ref();
        worker.postMessage(request satisfies ThreadRequest, [request.x.buffer, request.t.buffer]);
      });
    },
    async release() {
      if (!broken) worker.postMessage({ release: true } satisfies ThreadRequest);
      worker.ref();
      await exited;
      memoryBytes = undefined;
    },
    memoryBytes: () => memoryBytes,
  };
}
