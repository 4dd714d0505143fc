// Deployment limits decided before any work: runtime memory per batch (422 naming n) and the expected queue wait
// (503 overloaded with Retry-After).
import type { EdgeMemory } from '@qdm/shared';
import { describe, expect, it } from 'vitest';
import type { ModelSession, SessionFactory } from '../../src/engine/session.ts';
import { folderSource } from '../../src/sources/folder.ts';
import { convArtifact } from '../fixtures/artifact.ts';
import { folderStore } from '../fixtures/folder.ts';
import { appOver, bytes, json, ortSessions } from './harness.ts';

const MiB = 2 ** 20;
const memory: EdgeMemory = {
  runtime: 'onnxruntime-web wasm',
  heapBytes: [
    { n: 1, bytes: 30 * MiB },
    { n: 2, bytes: 40 * MiB },
    { n: 4, bytes: 60 * MiB },
  ],
  perSampleBytes: 10 * MiB,
};

/** The conv artifact whose `qdq` variant carries an edge graph entry with the measured memory above. */
async function measuredArtifact(runtime: string | undefined) {
  const artifact = await convArtifact();
  const qdq = artifact.manifest.variants.qdq;
  qdq.edgeGraph = {
    file: qdq.file,
    bytes: qdq.bytes,
    sha256: qdq.sha256,
    runtime: runtime ?? '',
    level: 'none',
    memory,
  };
  return folderSource(await folderStore(artifact));
}

describe('runtime memory budget (QDM_MEMORY_BUDGET)', () => {
  it('refuses an n whose measured heap passes the budget with 422 naming n and the limit, before loading', async () => {
    const app = appOver(await measuredArtifact(ortSessions.runtime), { memoryBudget: 45 * MiB });
    const refused = await app.request('/sample?variant=qdq&n=3&steps=ddim5&format=json');
    expect(refused.status).toBe(422);
    const body = await json(refused);
    expect(body.field).toBe('n');
    expect(body.error).toBe('over_budget');
    expect(body.message).toMatch(/60\.0 MiB .*budget is 45\.0 MiB \(QDM_MEMORY_BUDGET\): n up to 2 fits/);
    expect(app.engine.sessions.loaded()).toEqual([]);
    expect((await app.request('/sample?variant=qdq&n=2&steps=ddim5&format=json')).status).toBe(200);
  });

  it('states the measurement and the largest n that fits in /models', async () => {
    const app = appOver(await measuredArtifact(ortSessions.runtime), { memoryBudget: 45 * MiB });
    const body = await json(await app.request('/models'));
    const [model] = body.models as { variants: Record<string, { memory: Record<string, unknown> | null }> }[];
    expect(model.variants.qdq.memory).toMatchObject({ n1Bytes: 30 * MiB, perSampleBytes: 10 * MiB, maxN: 2 });
    expect(model.variants.fp32.memory).toBeNull(); // no edge graph measured
    expect((body.limits as Record<string, unknown>).memoryBudget).toBe(45 * MiB);
    expect(body.runtime).toEqual({ runtime: 'wasm', ep: 'wasm', threads: 1 });
  });

  it('ignores a measurement made by another runtime release (its graph is not the one loaded)', async () => {
    const app = appOver(await measuredArtifact('onnxruntime 1.29.0'), { memoryBudget: 45 * MiB });
    expect((await app.request('/sample?variant=qdq&n=3&steps=ddim5&format=json')).status).toBe(200);
  });
});

/** A denoiser that takes `ms` per call and returns zeros: admission control sees real, steady step times. */
function slowSessions(ms: number, outPerIn: number): SessionFactory {
  const factory: SessionFactory = async () => {
    const session: ModelSession = {
      run: (x) => new Promise((done) => setTimeout(() => done(new Float32Array(x.length * outPerIn)), ms)),
      release: async () => undefined,
    };
    return session;
  };
  factory.info = { runtime: 'native', ep: 'cpu', threads: 1 };
  return factory;
}

/**
 * The conv artifact's `qdq` as a variant with wide steps whose edge graph needs 130 MiB at n = 1; its
 * 8-bit-only graph (30 MiB) is the `alt` variant's file, so the samples tell which graph was loaded.
 */
async function wideStepArtifact(runtime: string | undefined, eightBitFile?: string) {
  const artifact = await convArtifact();
  const { qdq, alt } = artifact.manifest.variants;
  const graph = (entry: typeof qdq, n1: number) => ({
    file: entry.file,
    bytes: entry.bytes,
    sha256: entry.sha256,
    runtime: runtime ?? '',
    level: 'none',
    memory: { ...memory, heapBytes: [{ n: 1, bytes: n1 }], perSampleBytes: 10 * MiB },
  });
  qdq.quantization = {
    scheme: 'full',
    weightBits: 8,
    activationBits: 8,
    recon: 'none',
    wideSteps: { first: 1, last: 4, respacing: 'ddim50', tAbove: 970, tBelow: 70, activations: 'float' },
  };
  const eightBitOnly = { ...graph(alt, 30 * MiB), ...(eightBitFile ? { file: eightBitFile } : {}) };
  qdq.edgeGraph = { ...graph(qdq, 130 * MiB), eightBitOnly };
  return folderSource(await folderStore(artifact));
}

describe('wide steps under a memory budget', () => {
  const query = (variant: string) => `/sample?variant=${variant}&seed=3&n=1&steps=ddim5&format=npy`;
  const wideInfo = async (app: ReturnType<typeof appOver>) => {
    const body = await json(await app.request('/models'));
    const [model] = body.models as { variants: Record<string, Record<string, unknown>> }[];
    return model.variants.qdq;
  };

  it('loads the 8-bit-only graph when the wide one passes the budget, and says so in /models', async () => {
    const app = appOver(await wideStepArtifact(ortSessions.runtime), { memoryBudget: 100 * MiB });
    const info = await wideInfo(app);
    expect(info.wideSteps).toMatchObject({ first: 1, last: 4, served: false });
    expect(info.wideSteps).toHaveProperty('reason', expect.stringMatching(/130\.0 MiB .* 100\.0 MiB/));
    expect(info.memory).toMatchObject({ n1Bytes: 30 * MiB });
    const res = await app.request(query('qdq'));
    expect(res.status).toBe(200);
    const alt = await app.request(query('alt'));
    expect(await bytes(res)).toEqual(await bytes(alt));
  });

  it('refuses (503) rather than load the portable graph when the 8-bit-only one is missing under the budget', async () => {
    const app = appOver(await wideStepArtifact(ortSessions.runtime, 'model.qdq.8bit.edge.ort'), {
      memoryBudget: 100 * MiB,
    });
    const res = await app.request(query('qdq'));
    expect(res.status).toBe(503);
    expect((await json(res)).message).toMatch(/model\.qdq\.8bit\.edge\.ort/);
  });

  it('serves the wide graph where it fits (no budget), and on the native runtime', async () => {
    const app = appOver(await wideStepArtifact(ortSessions.runtime));
    expect((await wideInfo(app)).wideSteps).toMatchObject({ served: true });
    const res = await bytes(await app.request(query('qdq')));
    expect(res).not.toEqual(await bytes(await app.request(query('alt'))));
    const native = appOver(
      await wideStepArtifact(ortSessions.runtime),
      { memoryBudget: 100 * MiB },
      {
        sessions: slowSessions(1, 2),
      },
    );
    expect((await wideInfo(native)).wideSteps).toMatchObject({ served: true });
  });
});

describe('admission control (QDM_MAX_QUEUE_MS)', () => {
  it('answers 503 overloaded with Retry-After while the queued work passes the limit; /healthz stays answered', async () => {
    const artifact = await convArtifact();
    const { inChannels, outChannels } = artifact.manifest.model;
    const app = appOver(
      folderSource(await folderStore(artifact)),
      { maxQueueMs: 200, defaultVariant: 'fp32' },
      { sessions: slowSessions(20, outChannels / inChannels) },
    );
    expect((await app.request('/sample?n=1&steps=ddim5&format=json')).status).toBe(200); // measures the step time
    const long = app.request('/sample?n=2&steps=ddim25&format=json'); // 50 evaluations x ~20 ms
    while (app.engine.queue.expectedWaitMs() < 300) await new Promise((r) => setTimeout(r, 5));
    const refused = await app.request('/sample?n=1&steps=ddim5&format=json');
    expect(refused.status).toBe(503);
    const retryAfter = Number(refused.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    const body = await json(refused);
    expect(body.error).toBe('overloaded');
    expect(body.message).toMatch(/expected wait is \d+\.\d s, above this deployment's 0\.2 s \(QDM_MAX_QUEUE_MS\)/);
    expect((await app.request('/healthz')).status).toBe(200);
    expect((await long).status).toBe(200);
    expect(app.engine.queue.size).toBe(0);
    expect((await app.request('/sample?n=1&steps=ddim5&format=json')).status).toBe(200); // drained: admitted again
  });

  it('prices each request of a burst woken together (a manifest re-read after its TTL) against the ones before it', async () => {
    const artifact = await convArtifact();
    const { inChannels, outChannels } = artifact.manifest.model;
    const app = appOver(
      folderSource(await folderStore(artifact)),
      { maxQueueMs: 200, defaultVariant: 'fp32', manifestTtlMs: 1 },
      { sessions: slowSessions(20, outChannels / inChannels) },
    );
    expect((await app.request('/sample?n=1&steps=ddim5&format=json')).status).toBe(200); // measures the step time
    await new Promise((r) => setTimeout(r, 5)); // the manifest is stale: the burst below waits on one re-read
    // 10 requests of 5 evaluations x ~20 ms against a 200 ms limit: the first few fit, the rest must be refused.
    const statuses = await Promise.all(
      Array.from({ length: 10 }, async () => (await app.request('/sample?n=1&steps=ddim5&format=json')).status),
    );
    const served = statuses.filter((s) => s === 200).length;
    expect(served).toBeGreaterThanOrEqual(1);
    expect(served).toBeLessThanOrEqual(4);
    expect(statuses.filter((s) => s === 503).length).toBe(10 - served);
    expect(app.engine.queue.size).toBe(0);
  });

  it('admits one joined call of requests while a session is cold (unpriced), telling the rest to retry in 1 s', async () => {
    const artifact = await convArtifact();
    const { inChannels, outChannels } = artifact.manifest.model;
    const app = appOver(
      folderSource(await folderStore(artifact)),
      { maxQueueMs: 60_000, defaultVariant: 'fp32', stepBatch: 4 },
      { sessions: slowSessions(20, outChannels / inChannels) },
    );
    // A cold burst: nothing is measured yet, so no wait can be priced.
    const responses = await Promise.all(
      Array.from({ length: 12 }, () => app.request('/sample?n=1&steps=ddim5&format=json')),
    );
    const served = responses.filter((r) => r.status === 200).length;
    const refused = responses.filter((r) => r.status === 503);
    expect(served).toBe(4);
    expect(refused).toHaveLength(8);
    for (const r of refused) {
      expect(r.headers.get('retry-after')).toBe('1');
      expect((await json(r)).message).toMatch(/loading or not yet measured/);
    }
    // Measured now: a second burst is priced, and 12 x 5 evaluations x ~20 ms fit the 60 s limit.
    const again = await Promise.all(
      Array.from({ length: 12 }, () => app.request('/sample?n=1&steps=ddim5&format=json')),
    );
    expect(again.map((r) => r.status)).toEqual(Array(12).fill(200));
    const health = await json(await app.request('/healthz'));
    expect(health.queue).toMatchObject({ requests: 0, expectedWaitMs: 0 });
    expect((health.queue as { pace: number }).pace).toBeGreaterThanOrEqual(0.5);
  });
});
