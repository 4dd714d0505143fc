/**
 * `--calib-data` for `--calib-noise data`: clean images to forward-noise, from an evaluator .npz (`arr_0` uint8
 * NHWC) or a folder of PNGs, as float32 NCHW in [-1, 1] (x/127.5 - 1, the models' training scaling).
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { decodeNpz, decodePng } from '@qdm/shared';
import { CLIError } from '../errors.ts';

export class CalibrationDataError extends CLIError {
  override name = 'CalibrationDataError';
}

export interface CleanImages {
  x: Float32Array;
  count: number;
}

function toModelRange(nhwc: Uint8Array, n: number, h: number, w: number, c: number, channels: number): Float32Array {
  const out = new Float32Array(n * channels * h * w);
  for (let s = 0; s < n; s++) {
    for (let ch = 0; ch < channels; ch++) {
      const from = c === 1 ? 0 : ch; // gray images repeat into every channel
      for (let p = 0; p < h * w; p++)
        out[(s * channels + ch) * h * w + p] = nhwc[(s * h * w + p) * c + from] / 127.5 - 1;
    }
  }
  return out;
}

export async function readCleanImages(path: string, shape: [number, number, number]): Promise<CleanImages> {
  const [channels, height, width] = shape;
  const info = await stat(path).catch(() => null);
  if (!info) throw new CalibrationDataError(`--calib-data ${path}: no such file or folder`);
  if (info.isDirectory()) {
    const files = (await readdir(path)).filter((f) => f.toLowerCase().endsWith('.png')).sort();
    if (files.length === 0) throw new CalibrationDataError(`--calib-data ${path}: no .png files in the folder`);
    const out = new Float32Array(files.length * channels * height * width);
    for (const [k, file] of files.entries()) {
      const png = decodePng(new Uint8Array(await readFile(join(path, file))));
      if (png.width !== width || png.height !== height) {
        throw new CalibrationDataError(
          `--calib-data ${file}: ${png.width}x${png.height}, the model needs ${width}x${height}`,
        );
      }
      out.set(toModelRange(png.data, 1, height, width, png.channels, channels), k * channels * height * width);
    }
    return { x: out, count: files.length };
  }
  const arrays = decodeNpz(new Uint8Array(await readFile(path)));
  const images = arrays.arr_0;
  if (images?.dtype !== 'uint8' || images.shape.length !== 4) {
    throw new CalibrationDataError(`--calib-data ${path}: expected arr_0 uint8 [N,H,W,C] (evaluator format)`);
  }
  const [n, h, w, c] = images.shape;
  if (h !== height || w !== width)
    throw new CalibrationDataError(`--calib-data ${path}: images are ${h}x${w}, the model needs ${height}x${width}`);
  return { x: toModelRange(images.data as Uint8Array, n, h, w, c, channels), count: n };
}
