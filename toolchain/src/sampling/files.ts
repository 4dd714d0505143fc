/** Sample files: evaluator-format .npz (`arr_0` uint8 NHWC, `raw` float32 NCHW, `sample_index`) and PNG grids. */
import { decodeNpy, decodeNpz, encodeNpz, encodePng, imageGrid, NPZ_SAMPLES_KEY, type Tensor } from '@qdm/shared';
import { CLIError } from '../errors.ts';
import { readBytes, writeBytes } from '../store/objects.ts';

export interface SampleSet {
  images: Uint8Array; // [n, h, w, c]
  raw?: Float32Array; // [n, c, h, w]
  sampleIndex?: BigInt64Array;
  n: number;
  h: number;
  w: number;
  c: number;
}

export function encodeSampleNpz(set: SampleSet): Uint8Array {
  const arrays: Record<string, Tensor> = {
    [NPZ_SAMPLES_KEY]: { dtype: 'uint8', shape: [set.n, set.h, set.w, set.c], data: set.images },
  };
  if (set.raw) arrays.raw = { dtype: 'float32', shape: [set.n, set.c, set.h, set.w], data: set.raw };
  if (set.sampleIndex) arrays.sample_index = { dtype: 'int64', shape: [set.n], data: set.sampleIndex };
  return encodeNpz(arrays);
}

/** Writes to a local path (atomically) or an s3:// URI. */
export async function writeSamples(path: string, set: SampleSet): Promise<void> {
  await writeBytes(path, encodeSampleNpz(set));
}

export async function writeGrid(path: string, set: SampleSet, columns?: number): Promise<void> {
  const grid = imageGrid(set.images, set.n, set.h, set.w, set.c, columns);
  await writeBytes(path, encodePng(grid.data, grid.width, grid.height, set.c as 1 | 3));
}

/** A sample, noise or grid file that is missing or not what it should be; the message names the file. */
export class SampleFileError extends CLIError {
  override name = 'SampleFileError';
}

/** Decodes with `decode`, naming the file when its bytes are not that format (a PNG given as .npz, ...). */
function decodeFile<T>(path: string, bytes: Uint8Array, decode: (bytes: Uint8Array) => T): T {
  try {
    return decode(bytes);
  } catch (error) {
    throw new SampleFileError(`${path}: ${(error as Error).message}`, 1, { cause: error });
  }
}

/** Reads an evaluator-format .npz (local or s3://); `arr_0` must be uint8 [N, H, W, C]. */
export async function readSamples(path: string): Promise<SampleSet> {
  const arrays = decodeFile(path, await readBytes(path), decodeNpz);
  const images = arrays[NPZ_SAMPLES_KEY];
  if (!images) throw new SampleFileError(`${path}: no "${NPZ_SAMPLES_KEY}" array (expected evaluator-format samples)`);
  if (images.dtype !== 'uint8' || images.shape.length !== 4) {
    throw new SampleFileError(
      `${path}: "${NPZ_SAMPLES_KEY}" must be uint8 [N,H,W,C], got ${images.dtype} [${images.shape}]`,
    );
  }
  const [n, h, w, c] = images.shape;
  const raw = arrays.raw?.dtype === 'float32' ? (arrays.raw.data as Float32Array) : undefined;
  const sampleIndex = arrays.sample_index?.dtype === 'int64' ? (arrays.sample_index.data as BigInt64Array) : undefined;
  return { images: images.data as Uint8Array, raw, sampleIndex, n, h, w, c };
}

/** `--init-noise noise.npy`: float32 (or float64) [N, C, H, W]. */
export async function readInitNoise(
  path: string,
  count: number,
  shape: [number, number, number],
): Promise<Float32Array> {
  const tensor = decodeFile(path, await readBytes(path), decodeNpy);
  const expected = [count, ...shape];
  if (tensor.shape.join(',') !== expected.join(',')) {
    throw new SampleFileError(`--init-noise ${path}: shape [${tensor.shape}] but this run needs [${expected}]`);
  }
  if (tensor.dtype === 'float32') return tensor.data as Float32Array;
  if (tensor.dtype === 'float64') return Float32Array.from(tensor.data as Float64Array);
  throw new SampleFileError(`--init-noise ${path}: dtype ${tensor.dtype}, expected float32`);
}
