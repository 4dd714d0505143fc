import { describe, expect, it } from 'vitest';
import type { ModelSession } from './session.ts';
import { batchSteps, nearestBatch } from './step-batcher.ts';

/** A session whose call takes `msFor(batch)` and echoes its input. */
function timedSession(msFor: (batch: number) => number): ModelSession & { batches: number[] } {
  const batches: number[] = [];
  return {
    batches,
    run: (x, shape) => {
      batches.push(shape[0]);
      return new Promise((done) => setTimeout(() => done(x.slice()), msFor(shape[0])));
    },
    release: async () => undefined,
  };
}

describe('batchSteps', () => {
  it('joins waiting calls and prices a sample by the batch size of the call', async () => {
    // alone: 5 ms a sample; joined by 4: 80 ms a call, 20 ms a sample (activations out of cache, say)
    const inner = timedSession((batch) => (batch === 1 ? 5 : 80));
    const session = batchSteps(inner, 4);
    expect(session.msPerSample()).toBeUndefined();
    await session.run(new Float32Array([1]), [1, 1], new Float32Array([0]));
    const alone = session.msPerSample() as number;
    expect(alone).toBeGreaterThanOrEqual(4);
    expect(alone).toBeLessThan(15);
    // five sent together: four joined into one call (at most 4), then the fifth
    const calls = [1, 2, 3, 4, 5].map((v) => session.run(new Float32Array([v]), [1, 1], new Float32Array([0])));
    const outs = await Promise.all(calls);
    expect(outs.map((o) => o[0])).toEqual([1, 2, 3, 4, 5]);
    expect(inner.batches).toEqual([1, 4, 1]);
    expect(session.msPerSample(4)).toBeGreaterThanOrEqual(18);
    expect(session.msPerSample(8)).toBe(session.msPerSample(4)); // joined at most by 4
    expect(session.msPerSample(1)).toBeLessThan(15);
  });

  it('joins the next steps of the requests a call resolved into one call (not the first alone, then the rest)', async () => {
    const inner = timedSession(() => 10);
    const session = batchSteps(inner, 8);
    // Four requests stepping together, with the DDIM update's microtask hops between their calls.
    const request = async () => {
      let x: Float32Array = new Float32Array([1]);
      for (let step = 0; step < 5; step++) {
        await Promise.resolve();
        await Promise.resolve();
        x = await session.run(x, [1, 1], new Float32Array([0]));
      }
    };
    await Promise.all([request(), request(), request(), request()]);
    expect(inner.batches).toEqual([4, 4, 4, 4, 4]);
  });

  it('reads the nearest measured batch size, the costlier one on a tie', () => {
    const measured = new Map([
      [1, 10],
      [4, 30],
      [8, 20],
    ]);
    expect(nearestBatch(measured, 1)).toBe(10);
    expect(nearestBatch(measured, 2)).toBe(30); // as far from 1 as from 4
    expect(nearestBatch(measured, 6)).toBe(20);
    expect(nearestBatch(measured, 16)).toBe(20);
    expect(nearestBatch(new Map(), 4)).toBeUndefined();
  });
});
