/**
 * NumPy `.npz`: a zip of `.npy` members, as written by `np.savez` (stored) and `np.savez_compressed` (deflated).
 * Samples use the evaluator layout: `arr_0` uint8 [N, H, W, 3].
 */
import { unzipSync, type Zippable, zipSync } from 'fflate';
import { decodeNpy, encodeNpy, NpyError } from './npy.ts';
import type { Tensor } from './tensor.ts';

/** The member name `np.savez(file, samples)` gives its first positional array (the evaluator reads it). */
export const NPZ_SAMPLES_KEY = 'arr_0';

// NOTE: zip timestamps are local DOS time; a fixed date keeps our archives byte-reproducible.
const FIXED_MTIME = new Date(2000, 0, 1);

/** Zip the arrays as `<name>.npy` members; `compress` deflates them like `np.savez_compressed`. */
export function encodeNpz(arrays: Record<string, Tensor>, compress = false): Uint8Array {
  const members: Zippable = {};
  for (const [name, tensor] of Object.entries(arrays)) {
    if (name.length === 0) throw new NpyError('.npz member names must be non-empty');
    members[`${name}.npy`] = [encodeNpy(tensor), { level: compress ? 6 : 0, mtime: FIXED_MTIME }];
  }
  return zipSync(members);
}

/** Unzip and parse every `.npy` member; keys drop the `.npy` suffix as `np.load` does. */
export function decodeNpz(bytes: Uint8Array): Record<string, Tensor> {
  let members: Record<string, Uint8Array>;
  try {
    members = unzipSync(bytes);
  } catch (error) {
    throw new NpyError(`not a readable .npz (zip) file: ${(error as Error).message}`);
  }
  const out: Record<string, Tensor> = {};
  for (const [path, data] of Object.entries(members)) {
    if (path.endsWith('/')) continue; // directory entry
    const name = path.endsWith('.npy') ? path.slice(0, -4) : path;
    try {
      out[name] = decodeNpy(data);
    } catch (error) {
      throw new NpyError(`.npz member "${path}": ${(error as Error).message}`);
    }
  }
  return out;
}
