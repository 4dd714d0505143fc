import { describe, expect, it } from 'vitest';
import { HttpError } from '../errors.ts';
import { WorkQueue } from './admission.ts';

/** A clock the test moves by hand. */
function manualClock() {
  let t = 0;
  return {
    now: () => t,
    advance: (ms: number) => {
      t += ms;
    },
  };
}

/** Runs `steps` steps of one n=1 request whose model call is priced at `pricedMs` and takes `wallMs` of wall time. */
function drain(
  queue: WorkQueue,
  clock: ReturnType<typeof manualClock>,
  steps: number,
  pricedMs: number,
  wallMs: number,
) {
  const ticket = queue.begin('s', 1, steps, () => pricedMs);
  for (let i = 0; i < steps; i++) {
    clock.advance(wallMs);
    ticket.step(1);
  }
  ticket.end();
}

function refusal(fn: () => void): HttpError {
  try {
    fn();
  } catch (error) {
    if (error instanceof HttpError) return error;
    throw error;
  }
  throw new Error('expected a refusal');
}

describe('WorkQueue pace (wall time per priced model time)', () => {
  it('learns that the queue drains slower than its model calls and prices waits with it', () => {
    const clock = manualClock();
    const queue = new WorkQueue(clock.now);
    expect(queue.pace).toBe(1);
    drain(queue, clock, 400, 10, 13); // every step takes 13 ms of wall time for 10 ms of model call
    expect(queue.pace).toBeCloseTo(1.3, 2);
    const waiting = queue.begin('s', 1, 100, () => 10);
    expect(queue.expectedWaitMs()).toBeCloseTo(100 * 10 * 1.3, 0);
    waiting.end();
  });

  it('learns a faster pace, but not below 0.5 (a clock that stands still during compute, as in deployed Workers)', () => {
    const clock = manualClock();
    const queue = new WorkQueue(clock.now);
    drain(queue, clock, 400, 10, 7); // joined calls cheaper per sample than the price
    expect(queue.pace).toBeCloseTo(0.7, 1);
    drain(queue, clock, 400, 10, 0); // a clock standing still fills no window: the pace stays
    expect(queue.pace).toBeCloseTo(0.7, 1);
    drain(queue, clock, 2000, 10, 1);
    expect(queue.pace).toBe(0.5);
  });

  it("does not count idle time between busy spells, nor a cold session's load", () => {
    const clock = manualClock();
    const queue = new WorkQueue(clock.now);
    drain(queue, clock, 100, 10, 10);
    clock.advance(60_000); // idle for a minute
    let measured: number | undefined;
    const ticket = queue.begin('s', 1, 100, () => measured);
    clock.advance(5_000); // a cold session loads, then its first call is measured
    measured = 10;
    ticket.step(1);
    for (let i = 0; i < 99; i++) {
      clock.advance(10);
      ticket.step(1);
    }
    ticket.end();
    expect(queue.pace).toBeCloseTo(1, 5);
  });

  it('counts the work around the steps: admission to first step, last step to the end', () => {
    const clock = manualClock();
    const queue = new WorkQueue(clock.now);
    for (let r = 0; r < 20; r++) {
      const ticket = queue.begin('s', 1, 10, () => 10);
      for (let i = 0; i < 10; i++) {
        clock.advance(10);
        ticket.step(1);
      }
      clock.advance(50); // the sampler's work after its last step
      ticket.end();
      clock.advance(1_000); // idle until the next request
    }
    // 150 ms of wall time per 100 ms of model calls (windows end mid-request, so within a window's jitter)
    expect(queue.pace).toBeGreaterThan(1.4);
    expect(queue.pace).toBeLessThan(1.7);
  });

  it('caps at 4x so one stalled window cannot lock the queue', () => {
    const clock = manualClock();
    const queue = new WorkQueue(clock.now);
    drain(queue, clock, 400, 1, 100);
    expect(queue.pace).toBe(4);
  });
});

describe('WorkQueue admission', () => {
  it('refuses above the limit with the seconds until the queue is back under it', () => {
    const queue = new WorkQueue(manualClock().now);
    queue.begin('s', 1, 100, () => 50); // 5 s of work
    queue.admit(6000);
    const error = refusal(() => queue.admit(2000));
    expect(error.status).toBe(503);
    expect(error.code).toBe('overloaded');
    expect(error.headers).toEqual({ 'Retry-After': '3' });
  });

  it('admits at most `unpricedLimit` requests of unmeasured sessions at once; priced ones still pass', () => {
    const queue = new WorkQueue(manualClock().now, 2);
    let measured: number | undefined;
    const cold = () => measured;
    queue.admit(1000, false);
    const first = queue.begin('s', 1, 10, cold);
    queue.admit(1000, false);
    queue.begin('s', 1, 10, cold);
    const error = refusal(() => queue.admit(1000, false));
    expect(error.status).toBe(503);
    expect(error.headers).toEqual({ 'Retry-After': '1' });
    expect(error.message).toMatch(/2 requests already wait on a model that is loading or not yet measured/);
    queue.admit(1000, true); // another, measured session: priced as usual
    measured = 20; // the cold session has run a step: its requests are now priced like any other
    first.step(1);
    expect(queue.expectedWaitMs()).toBe(19 * 20);
    expect(() => queue.admit(1000, true)).not.toThrow();
  });

  it("prices a session's queued requests at the batch they would be joined into", () => {
    const queue = new WorkQueue(manualClock().now);
    const price = (batch: number) => (batch >= 4 ? 5 : 20); // joined by 4, a sample costs a quarter
    queue.begin('a', 1, 10, price);
    expect(queue.expectedWaitMs()).toBe(10 * 20);
    for (let i = 0; i < 3; i++) queue.begin('a', 1, 10, price);
    expect(queue.expectedWaitMs()).toBe(40 * 5);
    queue.begin('b', 1, 10, price); // another session: not joined with those
    expect(queue.expectedWaitMs()).toBe(40 * 5 + 10 * 20);
  });
});
