import { describe, expect, it } from 'vitest';
import { decodeNpy } from '../../src/npy.ts';
import { crc32, decodePng, encodePng } from '../../src/png.ts';
import { fixtureBytes } from './fixtures.ts';

const modes = ['l', 'la', 'rgb', 'rgba'] as const;
const channelsOf = { l: 1, la: 2, rgb: 3, rgba: 4 } as const;

describe('decodePng', () => {
  it.each(modes)('reads PIL-written and every-filter %s PNGs', (mode) => {
    const want = decodeNpy(fixtureBytes('png', `${mode}.npy`));
    for (const file of [`pil-${mode}.png`, `filters-${mode}.png`]) {
      const png = decodePng(fixtureBytes('png', file));
      expect([png.height, png.width, png.channels]).toEqual([11, 13, channelsOf[mode]]);
      expect(png.data).toEqual(want.data);
    }
  });

  it('expands a palette with transparency to RGBA', () => {
    const want = decodeNpy(fixtureBytes('png', 'palette-rgba.npy'));
    const png = decodePng(fixtureBytes('png', 'pil-palette.png'));
    expect(png.channels).toBe(4);
    expect(png.data).toEqual(want.data);
  });

  it('reads 1-bit gray as 0/255', () => {
    const want = decodeNpy(fixtureBytes('png', '1bit-l.npy'));
    const png = decodePng(fixtureBytes('png', 'pil-1bit.png'));
    expect([png.height, png.width, png.channels]).toEqual([11, 13, 1]);
    expect(png.data).toEqual(want.data);
  });

  it('detects corruption', () => {
    const bytes = fixtureBytes('png', 'pil-rgb.png').slice();
    bytes[40] ^= 0xff;
    expect(() => decodePng(bytes)).toThrow(/CRC|corrupt/);
    expect(() => decodePng(bytes.subarray(0, 30))).toThrow(/truncated/);
    expect(() => decodePng(new Uint8Array(16))).toThrow(/not a PNG/);
  });
});

describe('encodePng', () => {
  it('computes the standard CRC-32', () => {
    expect(crc32(new TextEncoder().encode('123456789'))).toBe(0xcbf43926);
  });

  it.each(modes)('round-trips %s pixels', (mode) => {
    const px = decodeNpy(fixtureBytes('png', `${mode}.npy`)).data as Uint8Array;
    const channels = channelsOf[mode];
    const png = decodePng(encodePng(px, 13, 11, channels));
    expect(png).toEqual({ width: 13, height: 11, channels, data: px });
  });

  it('rejects a pixel buffer of the wrong size', () => {
    expect(() => encodePng(new Uint8Array(10), 2, 2, 3)).toThrow(/needs 12/);
  });
});
