import { describe, expect, it } from 'vitest';
import { imageGrid, toUint8NHWC } from '../../src/image.ts';
import { decodeNpy } from '../../src/npy.ts';
import { fixtureBytes } from './fixtures.ts';

describe('toUint8NHWC', () => {
  it('matches torch ((x+1)*127.5).clamp(0,255).to(uint8) in NHWC', () => {
    const x = decodeNpy(fixtureBytes('image', 'x_nchw.npy'));
    const want = decodeNpy(fixtureBytes('image', 'uint8_nhwc.npy'));
    const [n, c, h, w] = x.shape;
    const got = toUint8NHWC(x.data as Float32Array, n, c, h, w);
    expect(want.shape).toEqual([n, h, w, c]);
    let mismatches = 0;
    for (let i = 0; i < got.length; i++) if (got[i] !== want.data[i]) mismatches++;
    expect(mismatches).toBe(0);
  });

  it('truncates rather than rounds', () => {
    const x = new Float32Array([254.9 / 127.5 - 1]);
    expect(toUint8NHWC(x, 1, 1, 1, 1)[0]).toBe(254);
  });

  it('rejects a wrong shape', () => {
    expect(() => toUint8NHWC(new Float32Array(5), 1, 3, 1, 2)).toThrow(/shape needs 6/);
  });
});

describe('imageGrid', () => {
  // sample s has every byte = s + 1, so each pixel says which tile it came from
  const n = 5;
  const [h, w, c] = [2, 3, 3];
  const samples = new Uint8Array(n * h * w * c);
  for (let s = 0; s < n; s++) samples.fill(s + 1, s * h * w * c, (s + 1) * h * w * c);

  it('places tiles row-major with padding between and around', () => {
    const grid = imageGrid(samples, n, h, w, c, 3, 1);
    expect(grid.width).toBe(3 * (w + 1) + 1);
    expect(grid.height).toBe(2 * (h + 1) + 1);
    const at = (x: number, y: number) => grid.data[(y * grid.width + x) * c];
    expect(at(0, 0)).toBe(0); // padding
    expect(at(1, 1)).toBe(1); // tile 0 top-left
    expect(at(1 + 2 * (w + 1) + w - 1, 1 + h - 1)).toBe(3); // tile 2 bottom-right
    expect(at(1 + (w + 1), 1 + (h + 1))).toBe(5); // tile 4: second row, second column
    expect(at(1 + 2 * (w + 1), 1 + (h + 1))).toBe(0); // no sixth sample: background
    let filled = 0;
    for (let i = 0; i < grid.data.length; i++) if (grid.data[i] !== 0) filled++;
    expect(filled).toBe(samples.length);
  });

  it('defaults to a square-ish layout with 2 px padding', () => {
    const grid = imageGrid(samples, n, h, w, c);
    expect(grid.width).toBe(3 * (w + 2) + 2);
    expect(grid.height).toBe(2 * (h + 2) + 2);
  });
});
