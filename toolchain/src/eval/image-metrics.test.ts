import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeNpy } from '@qdm/shared';
import { describe, expect, it } from 'vitest';
import { percentile, summarizeLatency } from './latency.ts';
import { PSNR_CAP_DB, pixelDiff, psnrFromMse } from './pixel-metrics.ts';
import { ssimPerImage } from './ssim.ts';

// Reference numbers from numpy/scipy: test/fixtures/image-metrics/make_reference.py.
const dir = join(import.meta.dirname, '../../test/fixtures/image-metrics');
const reference = JSON.parse(readFileSync(join(dir, 'reference.json'), 'utf8'));

function images(name: string) {
  const t = decodeNpy(new Uint8Array(readFileSync(join(dir, name))));
  const [n, h, w, c] = t.shape;
  return { data: t.data as Uint8Array, n, h, w, c };
}

describe.each(['rgb', 'gray'])('%s pairs', (kind) => {
  const a = images(kind === 'rgb' ? 'a.npy' : 'gray_a.npy');
  const b = images(kind === 'rgb' ? 'b.npy' : 'gray_b.npy');
  const ref = reference[kind];

  it('SSIM matches the numpy/scipy reference per image', () => {
    const got = ssimPerImage(a.data, b.data, a.n, a.h, a.w, a.c);
    expect(got).toHaveLength(ref.ssim.length);
    for (let i = 0; i < got.length; i++) expect(got[i]).toBeCloseTo(ref.ssim[i], 12);
  });

  it('PSNR and MSE match per image and pooled; an identical image counts PSNR_CAP_DB', () => {
    const got = pixelDiff(a.data, b.data, a.n);
    expect(got.mse).toBeCloseTo(ref.mse_pooled, 10);
    expect(got.psnrPooled).toBeCloseTo(ref.psnr_pooled, 10);
    expect(got.maxAbs).toBe(ref.max_abs);
    // The reference writes an identical image's (infinite) PSNR as null.
    const expected = (ref.psnr as (number | null)[]).map((p) => p ?? PSNR_CAP_DB);
    for (const [i, p] of got.psnrPerImage.entries()) expect(p).toBeCloseTo(expected[i], 10);
    expect(got.identical).toBe(ref.psnr.filter((p: number | null) => p === null).length);
    expect(got.psnrMean).toBeCloseTo(expected.reduce((s, p) => s + p, 0) / expected.length, 10);
    expect(got.psnrMin).toBe(Math.min(...got.psnrPerImage));
  });
});

describe('PSNR convention', () => {
  it('an identical set is PSNR_CAP_DB everywhere, and a known MSE gives 10 log10(255^2 / MSE)', () => {
    const a = Uint8Array.from({ length: 2 * 48 }, (_, i) => (i * 37) % 256);
    const same = pixelDiff(a, a, 2);
    expect(same).toMatchObject({ mse: 0, identical: 2, maxAbs: 0 });
    expect([same.psnrMean, same.psnrMin, same.psnrPooled]).toEqual([PSNR_CAP_DB, PSNR_CAP_DB, PSNR_CAP_DB]);
    // Image 0 off by 4 in every value (MSE 16), image 1 identical.
    const b = a.map((v, i) => (i < 48 ? (v < 128 ? v + 4 : v - 4) : v));
    const d = pixelDiff(a, b, 2);
    const first = 10 * Math.log10((255 * 255) / 16);
    expect(d.psnrPerImage[0]).toBeCloseTo(first, 12);
    expect(d.psnrPerImage[1]).toBe(PSNR_CAP_DB);
    expect(d.psnrMean).toBeCloseTo((first + PSNR_CAP_DB) / 2, 12);
    expect(d.psnrPooled).toBeCloseTo(10 * Math.log10((255 * 255) / 8), 12);
    expect(d).toMatchObject({ identical: 1, maxAbs: 4, mse: 8 });
  });

  it('is capped, so no pair reads above an identical one, and refuses a negative MSE', () => {
    expect(psnrFromMse(1e-12)).toBe(PSNR_CAP_DB);
    expect(psnrFromMse(1)).toBeCloseTo(10 * Math.log10(255 * 255), 12);
    // One value one level off in a 64 x 64 x 3 image (the largest images qdm serves) stays below the cap.
    expect(psnrFromMse(1 / (64 * 64 * 3))).toBeLessThan(PSNR_CAP_DB);
    expect(() => psnrFromMse(-1)).toThrow(/>= 0/);
  });
});

describe('SSIM edge cases', () => {
  it('is 1 for identical images and refuses images smaller than the window', () => {
    const a = images('a.npy');
    expect(ssimPerImage(a.data, a.data, a.n, a.h, a.w, a.c)).toEqual(new Array(a.n).fill(1));
    expect(() => ssimPerImage(new Uint8Array(100), new Uint8Array(100), 1, 10, 10, 1)).toThrow(/smaller than 11x11/);
    expect(() => ssimPerImage(a.data, a.data.subarray(1), a.n, a.h, a.w, a.c)).toThrow(/expected two sets/);
  });
});

describe('latency percentiles', () => {
  it('match numpy.percentile', () => {
    const { values, p50, p95, p99, mean } = reference.latency;
    const s = summarizeLatency(values)!;
    expect(s.p50).toBeCloseTo(p50, 10);
    expect(s.p95).toBeCloseTo(p95, 10);
    expect(s.p99).toBeCloseTo(p99, 10);
    expect(s.mean).toBeCloseTo(mean, 10);
    expect(percentile(reference.latency_two.values, 95)).toBeCloseTo(reference.latency_two.p95, 12);
    expect(summarizeLatency([])).toBeNull();
  });
});
