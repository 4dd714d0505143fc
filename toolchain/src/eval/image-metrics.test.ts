import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeNpy } from '@qdm/shared';
import { describe, expect, it } from 'vitest';
import { percentile, summarizeLatency } from './latency.ts';
import { finiteOrNull, pixelDiff } from './pixel-metrics.ts';
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

  it('PSNR and MSE match per image and pooled', () => {
    const got = pixelDiff(a.data, b.data, a.n);
    expect(got.mse).toBeCloseTo(ref.mse_pooled, 10);
    expect(finiteOrNull(got.psnr)).toBeCloseTo(ref.psnr_pooled, 10);
    expect(got.maxAbs).toBe(ref.max_abs);
    got.psnrPerImage.forEach((p, i) => {
      if (ref.psnr[i] === null) expect(p).toBe(Number.POSITIVE_INFINITY);
      else expect(p).toBeCloseTo(ref.psnr[i], 10);
    });
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
