/**
 * onnxruntime-web's WASM runtime (exactly what a Worker runs) with each session on a worker thread of its own: the
 * Node entry's `QDM_RUNTIME=wasm`. In one thread, every step would hold the server's event loop, which then takes in
 * one new connection per turn: a burst of concurrent requests is read over many seconds, unpriced (bench/edge-load.ts).
 * Each thread has its own heap; the model is read whole (no in-place streaming: Node is not short of memory).
 */
import * as ort from 'onnxruntime-web/wasm';
import type { SessionFactory } from './session.ts';
import { type ThreadedSession, threadSession } from './threaded.ts';

export function ortWebThreadSessions(): SessionFactory {
  const live = new Set<ThreadedSession>();
  const factory: SessionFactory = async (model, options) => {
    const session = await threadSession({ kind: 'wasm' }, model, options);
    live.add(session);
    return {
      run: (x, shape, t) => session.run(x, shape, t),
      release: async () => {
        live.delete(session);
        await session.release();
      },
    };
  };
  factory.memoryBytes = () => {
    let total: number | undefined;
    for (const s of live) {
      const bytes = s.memoryBytes();
      if (bytes !== undefined) total = (total ?? 0) + bytes;
    }
    return total;
  };
  // the same release string as the in-process factory: the edge graphs made by this release are loaded
  factory.runtime = `onnxruntime ${ort.env.versions.web ?? ort.env.versions.common}`;
  factory.info = { runtime: 'wasm', ep: 'wasm', threads: 1 };
  return factory;
}
