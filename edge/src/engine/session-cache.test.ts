import type { Manifest } from '@qdm/shared';
import { describe, expect, it } from 'vitest';
import { systemClock } from '../clock.ts';
import type { ArtifactSnapshot, ArtifactSource } from '../sources/source.ts';
import { sha256Hex } from '../sources/verify.ts';
import type { ModelBuffer, SessionFactory } from './session.ts';
import { SessionCache } from './session-cache.ts';

const RUNTIME = 'onnxruntime 1.30.0';
const model = new Uint8Array(Array.from({ length: 1000 }, (_, i) => i % 251));

async function snapshotOf(bytes: Uint8Array): Promise<ArtifactSnapshot> {
  const file = { file: 'model.int8.edge.ort', bytes: bytes.length, sha256: await sha256Hex(bytes) };
  const variant = {
    ...file,
    file: 'model.int8.onnx',
    edgeGraph: { ...file, runtime: RUNTIME, level: 'extended', format: 'ort' },
  };
  return { name: 'm', manifest: { variants: { int8: variant } } as unknown as Manifest };
}

/** A store that streams `bytes` in 4 chunks and logs when it was asked and when it finished. */
function chunkedSource(bytes: Uint8Array, events: string[]): ArtifactSource {
  return {
    location: 'test store',
    names: async () => ['m'],
    open: async () => undefined,
    readFile: async () => bytes,
    async *readChunks() {
      events.push('store asked');
      try {
        for (let i = 0; i < 4; i++) yield bytes.subarray((i * bytes.length) / 4, ((i + 1) * bytes.length) / 4);
      } finally {
        events.push('store closed');
      }
    },
  };
}

/** A WASM-like factory whose buffer (the runtime's initialization) takes 30 ms, or fails. */
function slowHeap(events: string[], fail = false): SessionFactory & { written: Uint8Array } {
  const written = new Uint8Array(model.length);
  const factory = Object.assign(
    (async () => {
      throw new Error('in place only');
    }) as SessionFactory,
    {
      written,
      runtime: RUNTIME,
      allocate: async (byteLength: number): Promise<ModelBuffer> => {
        await new Promise((r) => setTimeout(r, 30));
        if (fail) throw new Error('out of memory');
        events.push('heap ready');
        return {
          byteLength,
          write: (chunk, offset) => written.set(chunk, offset),
          bytes: () => written,
          open: async () => ({ run: async (x) => x, release: async () => undefined }),
          discard: () => undefined,
        };
      },
    },
  );
  return factory;
}

describe('SessionCache: an ORT-format edge graph read in place', () => {
  it("asks the store before the runtime's memory is ready, then writes and verifies every chunk", async () => {
    const events: string[] = [];
    const factory = slowHeap(events);
    const cache = new SessionCache(chunkedSource(model, events), factory, systemClock);
    const loaded = await cache.get(await snapshotOf(model), 'int8');
    expect(events).toEqual(['store asked', 'heap ready', 'store closed']);
    expect(factory.written).toEqual(model);
    expect(loaded.phases?.graph).toBe('edge');
    loaded.done();
  });

  it('closes the store stream when the runtime cannot give memory', async () => {
    const events: string[] = [];
    const cache = new SessionCache(chunkedSource(model, events), slowHeap(events, true), systemClock);
    // the edge graph fails, then the portable graph fails in the factory: the request fails, nothing leaks
    await expect(cache.get(await snapshotOf(model), 'int8')).rejects.toThrow();
    expect(events).toEqual(['store asked', 'store closed']);
  });
});
