import { describe, expect, it } from 'vitest';
import { parseSteps, spaceTimesteps } from '../src/respace.ts';
import { reference } from './reference.ts';

describe('spaceTimesteps against improved-diffusion space_timesteps', () => {
  for (const [key, expected] of Object.entries(reference.timestep_maps)) {
    const split = key.indexOf(':');
    const steps = Number(key.slice(0, split));
    const spacing = key.slice(split + 1);
    it(`T=${steps} "${spacing}"`, () => {
      expect(spaceTimesteps(steps, spacing)).toEqual(expected);
    });
  }

  for (const { steps, spacing } of reference.respacing_errors) {
    it(`rejects "${spacing}" at T=${steps}, naming it`, () => {
      const quoted = new RegExp(`"${spacing.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}"`);
      expect(() => spaceTimesteps(steps, spacing)).toThrow(quoted);
    });
  }
});

describe('spaceTimesteps conventions', () => {
  it('treats "", undefined and a full count as all steps', () => {
    const all = Array.from({ length: 50 }, (_, i) => i);
    expect(spaceTimesteps(50, '')).toEqual(all);
    expect(spaceTimesteps(50, undefined)).toEqual(all);
    expect(spaceTimesteps(50, 50)).toEqual(all);
  });

  it('reads a number as one section, like the string', () => {
    expect(spaceTimesteps(1000, 250)).toEqual(reference.timestep_maps['1000:250']);
    expect(() => spaceTimesteps(1000, 0)).toThrow(/0/);
    expect(() => spaceTimesteps(1000, 2.5)).toThrow(/2\.5/);
  });

  it('ignores whitespace around counts, as Python int() does', () => {
    expect(spaceTimesteps(1000, ' 10, 20 ,30 ')).toEqual(reference.timestep_maps['1000:10,20,30']);
  });

  it('rejects a respacing that keeps nothing', () => {
    expect(() => spaceTimesteps(1000, '0')).toThrow(/"0".*no steps/);
  });
});

describe('parseSteps', () => {
  it('keeps respacing strings, normalised', () => {
    expect(parseSteps('ddim25')).toBe('ddim25');
    expect(parseSteps(' DDIM025 ')).toBe('ddim25');
    expect(parseSteps('250')).toBe('250');
    expect(parseSteps('10, 20,30')).toBe('10,20,30');
    expect(parseSteps('')).toBe('');
    expect(parseSteps('ddim50', 1000)).toBe('ddim50');
  });

  it('maps a count to the DDIM stride when one exists, else an even section', () => {
    expect(parseSteps(25)).toBe('ddim25');
    expect(parseSteps(25, 1000)).toBe('ddim25');
    // ceil(1000/s) never equals 600 for an integer s (s=1: 1000, s=2: 500)
    expect(parseSteps(600, 1000)).toBe('600');
    expect(spaceTimesteps(1000, parseSteps(600, 1000))).toHaveLength(600);
  });

  it('checks bounds against the diffusion steps', () => {
    expect(() => parseSteps(2000, 1000)).toThrow(/2000/);
    expect(() => parseSteps(1)).toThrow(/\b1\b/);
    expect(() => parseSteps(0)).toThrow(/\b0\b/);
    expect(() => parseSteps(-5)).toThrow(/-5/);
    expect(() => parseSteps(12.5)).toThrow(/12\.5/);
    expect(() => parseSteps(Number.NaN)).toThrow(/NaN/);
    expect(() => parseSteps('1', 1000)).toThrow(/"1".*at least 2/);
    expect(() => parseSteps('ddim600', 1000)).toThrow(/ddim600/);
    expect(() => parseSteps('600,600', 1000)).toThrow(/600,600/);
  });

  it('rejects garbage, naming it', () => {
    for (const bad of ['abc', 'ddim', 'ddimx', '10,,20', '-3', '2.5', 'ddim0', '0', '10,0']) {
      expect(() => parseSteps(bad), bad).toThrow(bad);
    }
  });
});
