// QDM_RUNTIME=native (onnxruntime-node) against the WASM runtime every Worker runs, on the test U-Net: the same
// DDIM loop and noise, so images differ only by float rounding of the kernels.
import { describe, expect, it } from 'vitest';
import { ortNodeSessions } from '../../src/engine/ort-node.ts';
import { ortWebThreadSessions } from '../../src/engine/ort-web-thread.ts';
import { batchSteps } from '../../src/engine/step-batcher.ts';
import { folderSource } from '../../src/sources/folder.ts';
import { folderStore } from '../fixtures/folder.ts';
import { unetArtifact } from '../fixtures/unet-artifact.ts';
import { appOver, bytes, json } from './harness.ts';

/** float32 NCHW in [-1, 1] from a `format=npy` body (the header is padded to a 64-byte boundary). */
function npyFloats(body: Uint8Array): Float32Array {
  const headerLength = body[8] | (body[9] << 8);
  return new Float32Array(body.slice(10 + headerLength).buffer);
}

/** PSNR with the [-1, 1] range as the peak-to-peak (2). */
function psnr(a: Float32Array, b: Float32Array): number {
  let se = 0;
  for (let i = 0; i < a.length; i++) se += (a[i] - b[i]) ** 2;
  return 10 * Math.log10(4 / (se / a.length));
}

const native = ortNodeSessions('cpu', 2);

describe('native runtime (onnxruntime-node)', () => {
  it('agrees with the wasm runtime to >= 60 dB for the same seed, fp32 and the bf16-rounded variant', async () => {
    const root = await folderStore(await unetArtifact());
    const wasmApp = appOver(folderSource(root));
    const nativeApp = appOver(folderSource(root), {}, { sessions: native });
    for (const [variant, eta] of [
      ['fp32', 0],
      ['alt', 1],
    ] as const) {
      const query = `/sample?variant=${variant}&seed=11&n=3&steps=ddim10&eta=${eta}&format=npy`;
      const [a, b] = [await wasmApp.request(query), await nativeApp.request(query)];
      expect([a.status, b.status]).toEqual([200, 200]);
      const [x, y] = [npyFloats(await bytes(a)), npyFloats(await bytes(b))];
      expect(x.length).toBe(3 * 3 * 8 * 8);
      expect(psnr(x, y)).toBeGreaterThanOrEqual(60);
      expect(psnr(x, y)).toBeLessThan(200); // two different kernel libraries: not bit-identical by accident
      expect(b.headers.get('server-timing')).toMatch(/runtime;desc="native cpu, 2 threads"/);
    }
    expect(await json(await nativeApp.request('/healthz'))).toMatchObject({
      runtime: { runtime: 'native', ep: 'cpu', threads: 2 },
    });
  });

  it('runs the shipped int8 graph with wide steps (an If on t) in both runtimes, alike up to integer rounding', async () => {
    const root = await folderStore(await unetArtifact());
    const wasmApp = appOver(folderSource(root));
    const nativeApp = appOver(folderSource(root), {}, { sessions: native });
    const query = '/sample?variant=int8&seed=11&n=3&steps=ddim10&format=npy';
    const [a, b] = [await wasmApp.request(query), await nativeApp.request(query)];
    expect([a.status, b.status]).toEqual([200, 200]);
    const [x, y] = [npyFloats(await bytes(a)), npyFloats(await bytes(b))];
    const fp32 = npyFloats(await bytes(await wasmApp.request(query.replace('int8', 'fp32'))));
    // Integer kernels round differently in the two libraries; both stay nearer each other than to fp32.
    expect(psnr(x, y)).toBeGreaterThanOrEqual(30);
    expect(psnr(x, y)).toBeGreaterThan(psnr(x, fp32));
  });

  it('joins concurrent requests into one model call without changing any sample (QDM_STEP_BATCH)', async () => {
    const root = await folderStore(await unetArtifact());
    let calls = 0;
    const counted = Object.assign(
      async (model: Uint8Array) => {
        const session = await native(model);
        return {
          // NOTE: 30 ms per call, so the other requests' steps are waiting whenever a call ends (join by design).
          run: async (x: Float32Array, shape: readonly number[], t: Float32Array) => {
            calls++;
            await new Promise((done) => setTimeout(done, 30));
            return session.run(x, shape, t);
          },
          release: () => session.release(),
        };
      },
      { info: native.info },
    );
    const app = appOver(folderSource(root), { defaultVariant: 'fp32', stepBatch: 8 }, { sessions: counted });
    const alone = await bytes(await app.request('/sample?seed=5&n=2&steps=ddim5&format=npy'));
    const before = calls;
    const together = await Promise.all(
      [5, 6, 7].map(async (seed) => bytes(await app.request(`/sample?seed=${seed}&n=2&steps=ddim5&format=npy`))),
    );
    expect(together[0]).toEqual(alone);
    expect(calls - before).toBeLessThan(3 * 5); // fewer calls than steps x requests: steps were joined
  });

  it('batchSteps splits a joined call back per caller', async () => {
    const seen: number[] = [];
    const echo = batchSteps(
      {
        run: async (x, shape, t) => {
          seen.push(shape[0]);
          return x.map((v, i) => v + t[Math.floor(i / 2)]);
        },
        release: async () => undefined,
      },
      4,
    );
    const [a, b, c] = await Promise.all([
      echo.run(new Float32Array([1, 1]), [1, 2], new Float32Array([10])),
      echo.run(new Float32Array([2, 2, 3, 3]), [2, 2], new Float32Array([20, 30])),
      echo.run(new Float32Array([4, 4, 5, 5]), [2, 2], new Float32Array([40, 50])),
    ]);
    expect([...a]).toEqual([11, 11]);
    expect([...b]).toEqual([22, 22, 33, 33]);
    expect([...c]).toEqual([44, 44, 55, 55]);
    // The batcher waits one loop turn before it forms a call, so all three are waiting: joined in arrival order up to
    // 4 samples (1 + 2), the last one in the next call.
    expect(seen).toEqual([3, 2]);
    expect(echo.msPerSample()).toBeGreaterThanOrEqual(0);
  });

  it('computes on a thread of its own: the event loop keeps turning while a call runs', async () => {
    const artifact = await unetArtifact();
    const session = await native(artifact.files[artifact.manifest.variants.fp32.file]);
    const batch = 256; // long enough to see the loop turn (tens of ms here), a few ms of input
    const x = new Float32Array(batch * 3 * 8 * 8).fill(0.5);
    const t = new Float32Array(batch).fill(500);
    await session.run(x.subarray(0, 3 * 8 * 8), [1, 3, 8, 8], t.subarray(0, 1)); // warm
    let turns = 0;
    let counting = true;
    const count = () => {
      if (!counting) return;
      turns++;
      setImmediate(count);
    };
    setImmediate(count);
    const started = performance.now();
    const out = await session.run(x, [batch, 3, 8, 8], t);
    const ms = performance.now() - started;
    counting = false;
    expect(out.length).toBe(batch * 6 * 8 * 8); // learned sigma: 6 output channels
    expect(x[0]).toBe(0.5); // the caller's input is copied, not detached
    // on the calling thread the loop would not turn at all during the call
    expect(turns).toBeGreaterThan(Math.min(20, ms / 5));
    await session.release();
    await expect(session.run(x, [batch, 3, 8, 8], t)).rejects.toThrow(/exited/);
  });

  it('reports a model the runtime cannot load as an error (the thread exits)', async () => {
    await expect(native(new Uint8Array([1, 2, 3, 4]))).rejects.toThrow();
  });

  it('QDM_RUNTIME=wasm on Node: the WASM runtime on a thread gives the same bytes as in the server thread', async () => {
    const root = await folderStore(await unetArtifact());
    const inProcess = appOver(folderSource(root));
    const threaded = appOver(folderSource(root), {}, { sessions: ortWebThreadSessions() });
    const query = '/sample?variant=fp32&seed=4&n=2&steps=ddim5&format=npy';
    const [a, b] = [await inProcess.request(query), await threaded.request(query)];
    expect([a.status, b.status]).toEqual([200, 200]);
    expect(await bytes(b)).toEqual(await bytes(a));
    expect(b.headers.get('server-timing')).toMatch(/runtime;desc="wasm wasm, 1 thread"/);
    const health = await json(await threaded.request('/healthz'));
    expect(health.runtimeMemoryBytes as number).toBeGreaterThan(1 << 20); // the thread's WASM heap
  });
});
