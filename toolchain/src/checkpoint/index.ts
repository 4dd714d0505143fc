/**
 * Checkpoint files -> named tensors. The format is recognized from the content, never the file name:
 * a zip with `<top>/data.pkl` is a torch.save checkpoint, a zip of `.npy` files an npz, a JSON header a
 * safetensors file. Tensors are float32 unless the file holds other types (float16/bfloat16 are widened).
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { numel, type Tensor } from '@qdm/shared';
import { CheckpointError } from './errors.ts';
import { readNpzCheckpoint } from './npz.ts';
import { readSafetensors, safetensorsHeaderLength } from './safetensors.ts';
import { selectStateDict, stripModulePrefix } from './state-dict.ts';
import type { LoadOptions } from './strided.ts';
import { isLegacyTorchFile, isTorchZip, loadTorchTensor, readTorchZip, TensorRef } from './torch.ts';
import { isZip, readZipEntries } from './zip.ts';

export { CheckpointError } from './errors.ts';
export type { LoadOptions } from './strided.ts';

export type CheckpointFormat = 'torch-zip' | 'safetensors' | 'npz';

export interface ReadCheckpointOptions extends LoadOptions {
  /** torch files: the wrapper entry holding the state_dict (default: the top level, else ema/state_dict/model). */
  key?: string;
}

export interface ParsedCheckpoint {
  tensors: Map<string, Tensor>;
  format: CheckpointFormat;
  /** Wrapper keys followed to the state_dict (torch files), e.g. ["model"]. */
  wrapperPath: string[];
  /** "module." when every key had it and it was removed. */
  strippedPrefix?: string;
}

export interface Checkpoint extends ParsedCheckpoint {
  sha256: string; // of the whole file, hex
  bytes: number;
}

function parseTorch(bytes: Uint8Array, entries: ReturnType<typeof readZipEntries>, options: ReadCheckpointOptions) {
  const root = readTorchZip(bytes, entries);
  const selected = selectStateDict(root, (v): v is TensorRef => v instanceof TensorRef, options.key);
  const { entries: refs, strippedPrefix } = stripModulePrefix(selected.entries);
  const tensors = new Map<string, Tensor>();
  for (const [name, ref] of refs) tensors.set(name, loadTorchTensor(name, ref, options));
  return { tensors, format: 'torch-zip' as const, wrapperPath: selected.path, strippedPrefix };
}

function flat(format: CheckpointFormat, tensors: Map<string, Tensor>, options: ReadCheckpointOptions) {
  if (options.key !== undefined)
    throw new CheckpointError(`a ${format} checkpoint has no wrapper entries (key "${options.key}")`);
  const { entries, strippedPrefix } = stripModulePrefix(tensors);
  return { tensors: entries, format, wrapperPath: [], strippedPrefix };
}

/** Parse checkpoint bytes already in memory. Tensors may be views into `bytes`: do not reuse the buffer. */
export function parseCheckpoint(bytes: Uint8Array, options: ReadCheckpointOptions = {}): ParsedCheckpoint {
  if (bytes.length === 0) throw new CheckpointError('checkpoint file is empty');
  if (isZip(bytes)) {
    const entries = readZipEntries(bytes);
    const names = [...entries.keys()];
    if (isTorchZip(entries)) return parseTorch(bytes, entries, options);
    if (names.length > 0 && names.every((n) => n.endsWith('.npy') || n.endsWith('/'))) {
      return flat('npz', readNpzCheckpoint(bytes, options), options);
    }
    throw new CheckpointError(
      `zip file is neither a torch.save checkpoint nor an .npz (entries: ${names.slice(0, 5)})`,
    );
  }
  if (safetensorsHeaderLength(bytes) !== undefined)
    return flat('safetensors', readSafetensors(bytes, options), options);
  if (isLegacyTorchFile(bytes)) {
    throw new CheckpointError(
      'legacy (pre-1.6, non-zip) torch.save format is not supported: re-save it with torch>=1.6, e.g. ' +
        'torch.save(torch.load(old), new)',
    );
  }
  throw new CheckpointError('unrecognized checkpoint format (expected a torch.save zip, .safetensors or .npz)');
}

async function readBytes(path: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new CheckpointError(`checkpoint not found: ${path}`);
    if (code === 'EISDIR') throw new CheckpointError(`checkpoint path is a directory: ${path}`);
    throw new CheckpointError(`cannot read checkpoint ${path}: ${(error as Error).message}`);
  }
}

/** Read and parse a checkpoint file; sha256 and bytes describe the file as stored. */
export async function readCheckpoint(path: string, options: ReadCheckpointOptions = {}): Promise<Checkpoint> {
  const bytes = await readBytes(path);
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  try {
    return { ...parseCheckpoint(bytes, options), sha256, bytes: bytes.length };
  } catch (error) {
    if (error instanceof CheckpointError) throw new CheckpointError(`${path}: ${error.message}`);
    throw error;
  }
}

/** Total number of elements over all tensors (what "1,629,478 parameters" counts). */
export function countParameters(tensors: Map<string, Tensor>): number {
  let total = 0;
  for (const t of tensors.values()) total += numel(t.shape);
  return total;
}
