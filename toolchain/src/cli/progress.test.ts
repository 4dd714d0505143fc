import { describe, expect, it } from 'vitest';
import { Progress } from './progress.ts';

function fakeStream(): { stream: NodeJS.WriteStream; lines: string[] } {
  const lines: string[] = [];
  const stream = { isTTY: false, write: (s: string) => lines.push(s) > 0 } as unknown as NodeJS.WriteStream;
  return { stream, lines };
}

/** A clock the test moves: milliseconds. */
function fakeClock() {
  let ms = 0;
  return { now: () => ms, advance: (seconds: number) => (ms += seconds * 1000) };
}

/** Seconds in a "1m05s left" / "4.2s left" estimate. */
function leftSeconds(line: string): number | undefined {
  const m = /, (?:(\d+)m(\d+)s|(\d+\.\d)s) left/.exec(line);
  if (!m) return undefined;
  return m[3] !== undefined ? Number(m[3]) : Number(m[1]) * 60 + Number(m[2]);
}

describe('Progress', () => {
  it('says how long is left in words that cannot be read as DDIM eta, once it has a measured rate', () => {
    const { stream, lines } = fakeStream();
    const clock = fakeClock();
    const bar = new Progress('sample int8', 8, { stream, unit: ' steps', now: clock.now });
    for (let done = 1; done <= 8; done++) {
      clock.advance(6);
      bar.update(done);
    }
    // 1/8: the first report only starts the measurement; 2/8 has one measured step: no estimate yet.
    expect(lines[0]).toMatch(/^sample int8 \[#{3}-{21}\] 1\/8 steps 6\.0s\n$/);
    expect(lines[1]).toMatch(/^sample int8 \[#{6}-{18}\] 2\/8 steps 12\.0s\n$/);
    expect(lines[3]).toMatch(/^sample int8 \[#{12}-{12}\] 4\/8 steps 24\.0s, 24\.0s left\n$/);
    expect(lines.join('')).not.toMatch(/\beta\b/);
    expect(lines[7]).toMatch(/^sample int8 \[#{24}\] 8\/8 steps 48\.0s\n$/);
  });

  it('does not count a slow first item (a session created, a model loaded) as the rate', () => {
    const { stream, lines } = fakeStream();
    const clock = fakeClock();
    const bar = new Progress('quantize', 256, { stream, now: clock.now });
    clock.advance(30); // warm-up, then 0.1 s an item
    bar.update(1);
    for (let done = 2; done <= 100; done++) {
      clock.advance(0.1);
      bar.update(done);
    }
    // Printed every 5 s off a terminal: the line at 51/256 (the first item's 30 s as the rate would say 100 minutes).
    const line = lines.at(-1) ?? '';
    expect(line).toMatch(/ 51\/256 35\.0s, /);
    expect(leftSeconds(line)).toBeCloseTo(20.5, 1);
    expect(bar.secondsLeft(100)).toBeCloseTo(15.6, 5);
  });

  it('estimates within 2x of the truth on a phase whose items vary 10x in cost', () => {
    const { stream, lines } = fakeStream();
    const clock = fakeClock();
    const total = 200;
    // Costs 0.5 to 5 s in an irregular order (a fixed hash, so the test is reproducible).
    const costs = Array.from(
      { length: total },
      (_, k) => 0.5 + 4.5 * ((Math.abs(Math.sin(k * 12.9898)) * 43758.5453) % 1),
    );
    expect(Math.max(...costs) / Math.min(...costs)).toBeGreaterThan(8);
    const truth = costs.reduce((a, b) => a + b, 0);
    const bar = new Progress('weights', total, { stream, now: clock.now });
    let elapsed = 0;
    let estimates = 0;
    for (let done = 1; done <= total; done++) {
      elapsed += costs[done - 1];
      clock.advance(costs[done - 1]);
      bar.update(done);
      const left = bar.secondsLeft(done);
      if (left === undefined) continue;
      estimates++;
      // The phase's end as estimated now (elapsed + left) vs its true duration.
      expect(elapsed + left, `at ${done}/${total}`).toBeGreaterThan(truth / 2);
      expect(elapsed + left, `at ${done}/${total}`).toBeLessThan(truth * 2);
    }
    expect(estimates).toBeGreaterThan(total - 10);
    expect(lines.some((l) => leftSeconds(l) !== undefined)).toBe(true);
  });

  it('gives each phase reported on one bar its own total, clock and rate (observe, then evaluate 1/2)', () => {
    const { stream, lines } = fakeStream();
    const clock = fakeClock();
    const bar = new Progress('quantize int8', 256, { stream, now: clock.now });
    for (let done = 1; done <= 256; done++) {
      clock.advance(0.1);
      bar.update(done, 'observe', 256);
    }
    clock.advance(30);
    bar.update(1, 'evaluate', 2);
    const evaluate = lines.at(-1) ?? '';
    expect(evaluate).toMatch(/^quantize int8 \[#{12}-{12}\] 1\/2 30\.0s {2}evaluate\n$/);
    clock.advance(0.5);
    bar.update(1, 'fusion', 1);
    expect(lines.at(-1)).toMatch(/^quantize int8 \[#{24}\] 1\/1 0\.5s {2}fusion\n$/);
  });

  it('writes nothing when disabled (--quiet, --json)', () => {
    const { stream, lines } = fakeStream();
    const bar = new Progress('x', 2, { stream, enabled: false });
    bar.update(1);
    bar.done();
    expect(lines).toEqual([]);
  });
});
