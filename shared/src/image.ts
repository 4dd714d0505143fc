/** Model output -> 8-bit images, exactly as improved-diffusion's `image_sample.py` does it, and sample grids. */

/**
 * NCHW float32 in [-1, 1] -> NHWC uint8: `((x + 1) * 127.5).clamp(0, 255).to(uint8)`.
 * NOTE: both float ops round to float32 like torch does, and `.to(uint8)` truncates toward zero, it does
 * not round: 254.99 -> 254. NaN (undefined in torch) becomes 0.
 */
export function toUint8NHWC(x: Float32Array, n: number, c: number, h: number, w: number): Uint8Array {
  const plane = h * w;
  if (x.length !== n * c * plane) throw new Error(`toUint8NHWC: ${x.length} values, shape needs ${n * c * plane}`);
  const out = new Uint8Array(x.length);
  for (let s = 0; s < n; s++) {
    const base = s * c * plane;
    for (let ch = 0; ch < c; ch++) {
      const src = base + ch * plane;
      for (let p = 0; p < plane; p++) {
        out[base + p * c + ch] = pixelByte(x[src + p]);
      }
    }
  }
  return out;
}

function pixelByte(value: number): number {
  // fround after each op reproduces float32 arithmetic (double rounding is exact for + and *).
  const v = Math.fround(Math.fround(value + 1) * 127.5);
  if (!(v > 0)) return 0; // also NaN
  if (v >= 255) return 255;
  return Math.trunc(v);
}

export interface ImageGrid {
  data: Uint8Array; // HWC, `c` channels
  width: number;
  height: number;
}

/**
 * Tile NHWC uint8 samples row by row into one HWC image with `pad` background (0) pixels between and around the
 * tiles, like torchvision's `make_grid`. `columns` defaults to ceil(sqrt(n)).
 */
export function imageGrid(
  nhwc: Uint8Array,
  n: number,
  h: number,
  w: number,
  c: number,
  columns = Math.max(1, Math.ceil(Math.sqrt(n))),
  pad = 2,
): ImageGrid {
  if (nhwc.length !== n * h * w * c) throw new Error(`imageGrid: ${nhwc.length} bytes, shape needs ${n * h * w * c}`);
  if (!(columns >= 1) || !(pad >= 0)) throw new Error(`imageGrid: bad columns ${columns} or pad ${pad}`);
  const cols = Math.min(columns, Math.max(n, 1));
  const rows = Math.max(1, Math.ceil(n / cols));
  const width = cols * (w + pad) + pad;
  const height = rows * (h + pad) + pad;
  const data = new Uint8Array(width * height * c);
  const rowBytes = w * c;
  for (let s = 0; s < n; s++) {
    const x0 = pad + (s % cols) * (w + pad);
    const y0 = pad + Math.floor(s / cols) * (h + pad);
    for (let y = 0; y < h; y++) {
      const src = (s * h + y) * rowBytes;
      data.set(nhwc.subarray(src, src + rowBytes), ((y0 + y) * width + x0) * c);
    }
  }
  return { data, width, height };
}
