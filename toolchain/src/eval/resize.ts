/**
 * Bilinear resizing of NCHW float images exactly as torch's `F.interpolate(x, size, mode='bilinear',
 * align_corners=False)` (no antialiasing), the resize pytorch-fid applies before its Inception network:
 * output pixel o samples the input at src = (o + 0.5) * in / out - 0.5, clamped below at 0, between
 * floor(src) and the next pixel (the last pixel repeats at the border).
 * NOTE: torch computes the source positions and weights in float32; here they are float64, so values differ from
 * torch by float32 rounding (~1e-7), not by method.
 */

interface Taps {
  lo: Int32Array;
  hi: Int32Array;
  wHi: Float64Array; // weight of hi; lo gets 1 - wHi
}

function taps(inSize: number, outSize: number): Taps {
  const lo = new Int32Array(outSize);
  const hi = new Int32Array(outSize);
  const wHi = new Float64Array(outSize);
  const scale = inSize / outSize;
  for (let o = 0; o < outSize; o++) {
    const src = Math.max((o + 0.5) * scale - 0.5, 0);
    const i0 = Math.floor(src);
    lo[o] = i0;
    hi[o] = i0 < inSize - 1 ? i0 + 1 : i0;
    wHi[o] = Math.min(Math.max(src - i0, 0), 1);
  }
  return { lo, hi, wHi };
}

/** Resizes `planes` images of one channel each ([planes, inH, inW] row-major) to [planes, outH, outW]. */
export function resizeBilinear(
  src: Float32Array,
  planes: number,
  inH: number,
  inW: number,
  outH: number,
  outW: number,
): Float32Array {
  if (src.length !== planes * inH * inW) throw new Error(`resize: expected ${planes}x${inH}x${inW} values`);
  const ys = taps(inH, outH);
  const xs = taps(inW, outW);
  const out = new Float32Array(planes * outH * outW);
  for (let p = 0; p < planes; p++) {
    const inBase = p * inH * inW;
    const outBase = p * outH * outW;
    for (let oy = 0; oy < outH; oy++) {
      const wy = ys.wHi[oy];
      const row0 = inBase + ys.lo[oy] * inW;
      const row1 = inBase + ys.hi[oy] * inW;
      for (let ox = 0; ox < outW; ox++) {
        const wx = xs.wHi[ox];
        const x0 = xs.lo[ox];
        const x1 = xs.hi[ox];
        const top = (1 - wx) * src[row0 + x0] + wx * src[row0 + x1];
        const bottom = (1 - wx) * src[row1 + x0] + wx * src[row1 + x1];
        out[outBase + oy * outW + ox] = (1 - wy) * top + wy * bottom;
      }
    }
  }
  return out;
}
