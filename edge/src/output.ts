import { encodeNpy, encodePng, imageGrid, toUint8NHWC } from '@qdm/shared';

/** Samples as NCHW float32 in [-1, 1], with their shape. */
export interface Samples {
  x: Float32Array;
  n: number;
  c: number;
  h: number;
  w: number;
}

function pngChannels(c: number): 1 | 3 | 4 {
  if (c === 1 || c === 3 || c === 4) return c;
  throw new Error(`cannot encode ${c}-channel samples as PNG`);
}

/** One PNG of all samples tiled in a grid (8-bit as improved-diffusion's image_sample.py). */
export function gridPng(s: Samples): Uint8Array {
  const nhwc = toUint8NHWC(s.x, s.n, s.c, s.h, s.w);
  const grid = imageGrid(nhwc, s.n, s.h, s.w, s.c);
  return encodePng(grid.data, grid.width, grid.height, pngChannels(s.c));
}

/** One PNG per sample. */
export function samplePngs(s: Samples): Uint8Array[] {
  const nhwc = toUint8NHWC(s.x, s.n, s.c, s.h, s.w);
  const size = s.h * s.w * s.c;
  return Array.from({ length: s.n }, (_, k) =>
    encodePng(nhwc.subarray(k * size, (k + 1) * size), s.w, s.h, pngChannels(s.c)),
  );
}

/** Float32 NCHW, exactly the sampler's output. */
export function samplesNpy(s: Samples): Uint8Array {
  return encodeNpy({ dtype: 'float32', shape: [s.n, s.c, s.h, s.w], data: s.x });
}

export function base64(bytes: Uint8Array): string {
  let binary = '';
  const chunk = 0x8000;
  for (let i = 0; i < bytes.length; i += chunk) {
    binary += String.fromCharCode(...bytes.subarray(i, i + chunk));
  }
  return btoa(binary);
}
