/**
 * MNIST's IDX image files (magic 2051: big-endian count, rows, cols, then uint8 pixels), gzipped or not, and the
 * layout the MNIST models expect: digits zero-padded 28 -> 32 (2 pixels each side), gray.
 */
import { gunzipSync } from 'node:zlib';

export interface IdxImages {
  count: number;
  rows: number;
  cols: number;
  /** uint8 [count, rows, cols]. */
  pixels: Uint8Array;
}

const IDX_IMAGES_MAGIC = 2051;

/** Parses IDX image bytes; gzip input (magic 1f 8b) is inflated first. */
export function decodeIdxImages(bytes: Uint8Array): IdxImages {
  const raw = bytes[0] === 0x1f && bytes[1] === 0x8b ? new Uint8Array(gunzipSync(bytes)) : bytes;
  if (raw.length < 16) throw new Error('idx: file too short');
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const magic = view.getUint32(0);
  if (magic !== IDX_IMAGES_MAGIC) throw new Error(`idx: magic ${magic} is not ${IDX_IMAGES_MAGIC} (uint8 images)`);
  const count = view.getUint32(4);
  const rows = view.getUint32(8);
  const cols = view.getUint32(12);
  if (raw.length < 16 + count * rows * cols) throw new Error('idx: truncated pixel data');
  return { count, rows, cols, pixels: raw.slice(16, 16 + count * rows * cols) };
}

/** Images [start, end) zero-padded by `pad` pixels on every side: uint8 [n, rows + 2 pad, cols + 2 pad] (NHWC, C=1). */
export function paddedDigits(images: IdxImages, start: number, end: number, pad = 2): Uint8Array {
  if (start < 0 || end > images.count || start > end) throw new Error(`idx: range [${start}, ${end}) out of bounds`);
  const h = images.rows + 2 * pad;
  const w = images.cols + 2 * pad;
  const out = new Uint8Array((end - start) * h * w);
  for (let i = start; i < end; i++) {
    for (let r = 0; r < images.rows; r++) {
      const src = (i * images.rows + r) * images.cols;
      out.set(images.pixels.subarray(src, src + images.cols), ((i - start) * h + r + pad) * w + pad);
    }
  }
  return out;
}
