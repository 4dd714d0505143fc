/** `.npz` checkpoints (`np.savez(file, **state_dict)`): one `.npy` member per tensor, keys as saved. */
import { decodeNpz, type Tensor } from '@qdm/shared';
import { CheckpointError } from './errors.ts';
import { finishTensor, type LoadOptions } from './strided.ts';

export function readNpzCheckpoint(bytes: Uint8Array, options: LoadOptions = {}): Map<string, Tensor> {
  let arrays: Record<string, Tensor>;
  try {
    arrays = decodeNpz(bytes);
  } catch (error) {
    throw new CheckpointError(`corrupt .npz checkpoint: ${(error as Error).message}`);
  }
  const tensors = new Map<string, Tensor>();
  for (const [name, t] of Object.entries(arrays)) tensors.set(name, finishTensor(t.dtype, t.shape, t.data, options));
  return tensors;
}
