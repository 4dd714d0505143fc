import { describe, expect, it } from 'vitest';
import { Progress } from './progress.ts';

function fakeStream(): { stream: NodeJS.WriteStream; lines: string[] } {
  const lines: string[] = [];
  const stream = { isTTY: false, write: (s: string) => lines.push(s) > 0 } as unknown as NodeJS.WriteStream;
  return { stream, lines };
}

describe('Progress', () => {
  it('says how long is left in words that cannot be read as DDIM eta', () => {
    const { stream, lines } = fakeStream();
    const bar = new Progress('sample int8', 4, { stream, unit: ' steps' });
    bar.update(1);
    expect(lines[0]).toMatch(/^sample int8 \[#{6}-{18}\] 1\/4 steps \d+\.\ds, \d+\.\ds left\n$/);
    expect(lines[0]).not.toMatch(/\beta\b/);
    bar.update(4);
    expect(lines[1]).toMatch(/^sample int8 \[#{24}\] 4\/4 steps \d+\.\ds\n$/);
  });

  it('writes nothing when disabled (--quiet, --json)', () => {
    const { stream, lines } = fakeStream();
    const bar = new Progress('x', 2, { stream, enabled: false });
    bar.update(1);
    bar.done();
    expect(lines).toEqual([]);
  });
});
