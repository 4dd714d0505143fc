import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  type ConvTiming,
  chooseWinogradShapes,
  distinctShapes,
  keepWinogradGraph,
  shapeKey,
  WINOGRAD_MARGIN,
  type WinogradTimings,
  winogradTimingsProblem,
} from './winograd-choice.ts';

const fixtures = join(import.meta.dirname, '../../test/fixtures/winograd');
/** Real timings `import --winograd 4` recorded for mnist32 (the fixture names the machine and the command). */
const mnist32 = JSON.parse(readFileSync(join(fixtures, 'mnist32-f4-epyc.json'), 'utf8')).timings as WinogradTimings;

const timing = (size: number, batch: number, plainMs: number, winogradMs: number): ConvTiming => ({
  inChannels: 64,
  outChannels: 64,
  size,
  batch,
  threads: 1,
  plainMs,
  winogradMs,
});

/** The property the decision must keep: a chosen shape was faster than plain, by the margin, at every batch. */
function expectNeverSlower(timings: ConvTiming[], chosen: Set<string>): void {
  for (const t of timings) {
    if (chosen.has(shapeKey(t))) expect(t.winogradMs).toBeLessThanOrEqual(WINOGRAD_MARGIN * t.plainMs);
  }
}

describe('chooseWinogradShapes', () => {
  it('recorded mnist32 timings: no shape is faster at both batches, so nothing is rewritten', () => {
    expect(mnist32.convs.length).toBeGreaterThan(10);
    expect(winogradTimingsProblem(mnist32, 4)).toBeUndefined();
    // Some shapes were faster at batch 1 (e.g. 128x64@16: 0.154 vs 0.191 ms) but 1.1-3x slower at batch 16.
    expect(mnist32.convs.some((t) => t.batch === 1 && t.winogradMs <= WINOGRAD_MARGIN * t.plainMs)).toBe(true);
    const chosen = chooseWinogradShapes(mnist32.convs);
    expect([...chosen]).toEqual([]);
    expectNeverSlower(mnist32.convs, chosen);
  });

  it('keeps exactly the shapes faster by the margin at every batch', () => {
    const timings = [
      timing(32, 1, 10, 6), // fast at both batches: kept
      timing(32, 16, 100, 70),
      timing(16, 1, 10, 6), // fast at 1, slower at 16: plain
      timing(16, 16, 100, 120),
      timing(8, 1, 10, 9.5), // within the margin (0.95x): plain
      timing(8, 16, 100, 95),
      timing(4, 1, 10, 9), // exactly the margin: kept
    ];
    const chosen = chooseWinogradShapes(timings);
    expect([...chosen].sort()).toEqual(['64x64@32', '64x64@4']);
    expectNeverSlower(timings, chosen);
  });

  it('never picks a shape from broken timings (NaN, zero, infinite)', () => {
    const timings = [timing(32, 1, Number.NaN, 1), timing(16, 1, 0, 0), timing(8, 1, 10, Number.POSITIVE_INFINITY)];
    expect(chooseWinogradShapes(timings).size).toBe(0);
  });

  it('any recorded or random timing set: every chosen shape is faster at every batch', () => {
    let state = 12345;
    const rand = () => {
      state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
      return state / 2 ** 32;
    };
    const timings: ConvTiming[] = [...mnist32.convs];
    for (let size = 1; size <= 200; size++) {
      // one to three batches per shape, Winograd between 0.5x and 1.5x of plain
      for (let batch = 0; batch < 1 + (size % 3); batch++) timings.push(timing(size, batch, 1, 0.5 + rand()));
    }
    const chosen = chooseWinogradShapes(timings);
    expect(chosen.size).toBeGreaterThan(0); // the property is exercised, not vacuous
    expectNeverSlower(timings, chosen);
  });
});

describe('keepWinogradGraph', () => {
  const g = (batch: number, plainMs: number, winogradMs: number) => ({ batch, threads: 1, plainMs, winogradMs });
  it('only when the whole graph is faster by the margin at every batch timed', () => {
    expect(keepWinogradGraph([g(1, 120, 100), g(16, 2000, 1700)])).toBe(true);
    expect(keepWinogradGraph([g(1, 120, 100), g(16, 2000, 1900)])).toBe(false);
    expect(keepWinogradGraph([g(1, 7.4, 9.6)])).toBe(false); // mnist32 as timed on an AMX Xeon
    expect(keepWinogradGraph([])).toBe(false);
  });
});

describe('distinctShapes and winogradTimingsProblem', () => {
  it('one entry per (Cin, Cout, side)', () => {
    const convs = [timing(32, 1, 1, 1), timing(32, 16, 1, 1), timing(16, 1, 1, 1)];
    expect(distinctShapes(convs).map(shapeKey)).toEqual(['64x64@32', '64x64@16']);
  });

  it('names what is wrong with a timings file', () => {
    expect(winogradTimingsProblem([], 4)).toBe('recorded for tile undefined, not 4');
    expect(winogradTimingsProblem({ ...mnist32, tile: 2 }, 4)).toBe('recorded for tile 2, not 4');
    expect(winogradTimingsProblem({ tile: 4 }, 4)).toBe('no "convs" array');
    expect(winogradTimingsProblem({ tile: 4, convs: [{ ...mnist32.convs[0], plainMs: '1' }] }, 4)).toBe(
      'convs[0].plainMs is not a number',
    );
    expect(winogradTimingsProblem({ tile: 4, convs: [], graph: [{ batch: 1 }] }, 4)).toBe(
      'graph[0].threads is not a number',
    );
  });
});
