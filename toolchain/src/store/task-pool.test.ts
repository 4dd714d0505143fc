import { describe, expect, it } from 'vitest';
import { mapLimit } from './task-pool.ts';

const tick = () => new Promise((resolve) => setTimeout(resolve, 1));

describe('mapLimit', () => {
  it('keeps order and never runs more than `limit` tasks at once', async () => {
    let running = 0;
    let peak = 0;
    const out = await mapLimit([5, 4, 3, 2, 1, 0], 2, async (n) => {
      running++;
      peak = Math.max(peak, running);
      for (let i = 0; i < n; i++) await tick();
      running--;
      return n * 10;
    });
    expect(out).toEqual([50, 40, 30, 20, 10, 0]);
    expect(peak).toBe(2);
  });

  it('on the first failure starts nothing new, aborts the running tasks and waits for them', async () => {
    const started: number[] = [];
    let settled = 0;
    const run = mapLimit([0, 1, 2, 3, 4], 2, async (n, _i, signal) => {
      started.push(n);
      try {
        if (n === 1) throw new Error('boom');
        while (!signal.aborted) await tick();
      } finally {
        settled++;
      }
    });
    await expect(run).rejects.toThrow('boom');
    expect(started).toEqual([0, 1]);
    expect(settled).toBe(2);
  });

  it('stops when the outer signal aborts', async () => {
    const controller = new AbortController();
    const run = mapLimit(
      [1, 2, 3],
      1,
      async (n) => {
        if (n === 1) controller.abort(new Error('stop'));
        return n;
      },
      controller.signal,
    );
    await expect(run).rejects.toThrow('stop');
  });
});
