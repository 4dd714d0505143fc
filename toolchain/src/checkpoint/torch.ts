/**
 * PyTorch `torch.save` zip checkpoints (torch >= 1.6): `<top>/data.pkl` plus one raw storage per
 * `<top>/data/<key>`. The pickle runs on our allow-listed VM; tensors stay lazy (`TensorRef`) until a caller
 * picks the state_dict it wants, so optimizer state in a wrapper is never copied.
 */
import type { Tensor } from '@qdm/shared';
import { CheckpointError } from './errors.ts';
import { type PickleCallable, unpickle } from './pickle.ts';
import {
  byteSwapped,
  elementBytes,
  finishTensor,
  type LoadOptions,
  type StorageDType,
  stridedData,
} from './strided.ts';
import { readZipEntry, type ZipEntry } from './zip.ts';

/** A storage found through a persistent id: raw little-endian bytes inside the checkpoint. */
interface Storage {
  key: string;
  dtype: StorageDType;
  bytes: Uint8Array;
}

/** A tensor as the pickle describes it: a strided view on a storage. Materialized by `loadTorchTensor`. */
export class TensorRef {
  readonly storage: Storage;
  readonly dtype: StorageDType;
  readonly offset: number;
  readonly shape: number[];
  readonly stride: number[];
  constructor(storage: Storage, dtype: StorageDType, offset: number, shape: number[], stride: number[]) {
    this.storage = storage;
    this.dtype = dtype;
    this.offset = offset;
    this.shape = shape;
    this.stride = stride;
  }
}

const STORAGE_TYPES: Record<string, StorageDType> = {
  FloatStorage: 'float32',
  DoubleStorage: 'float64',
  HalfStorage: 'float16',
  BFloat16Storage: 'bfloat16',
  LongStorage: 'int64',
  IntStorage: 'int32',
  ShortStorage: 'int16',
  CharStorage: 'int8',
  ByteStorage: 'uint8',
  BoolStorage: 'bool',
  UntypedStorage: 'uint8', // bytes; _rebuild_tensor_v3 names the element type
};

const DTYPES: Record<string, StorageDType> = {
  float32: 'float32',
  float: 'float32',
  float64: 'float64',
  double: 'float64',
  float16: 'float16',
  half: 'float16',
  bfloat16: 'bfloat16',
  int64: 'int64',
  long: 'int64',
  int32: 'int32',
  int: 'int32',
  int16: 'int16',
  short: 'int16',
  int8: 'int8',
  uint8: 'uint8',
  bool: 'bool',
};

/** Marker for a global that is a type, not a function: storage types, torch dtypes, Tensor/Parameter. */
interface TypeMarker extends PickleCallable {
  storageDtype?: StorageDType;
  dtype?: StorageDType;
}

function marker(pickleGlobal: string, fields: Partial<TypeMarker> = {}): TypeMarker {
  return {
    pickleGlobal,
    call: () => {
      throw new CheckpointError(`refusing to call "${pickleGlobal}": it is only valid as a type in a checkpoint`);
    },
    ...fields,
  };
}

function fn(pickleGlobal: string, call: (args: readonly unknown[]) => unknown): PickleCallable {
  return { pickleGlobal, call };
}

function intList(value: unknown, what: string): number[] {
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'number' && Number.isSafeInteger(v))) {
    throw new CheckpointError(`corrupt checkpoint: ${what} is not a tuple of integers`);
  }
  return value as number[];
}

function rebuildTensor(args: readonly unknown[], dtype?: unknown): TensorRef {
  const [storage, offset, shape, stride] = args;
  if (!(storage instanceof StorageHandle)) throw new CheckpointError('corrupt checkpoint: tensor without a storage');
  if (typeof offset !== 'number' || !Number.isSafeInteger(offset) || offset < 0) {
    throw new CheckpointError('corrupt checkpoint: bad storage offset');
  }
  let elementType = storage.value.dtype;
  if (dtype !== undefined) {
    const marked = (dtype as TypeMarker).dtype;
    if (!marked) throw new CheckpointError('corrupt checkpoint: _rebuild_tensor_v3 without a torch dtype');
    elementType = marked;
  }
  return new TensorRef(storage.value, elementType, offset, intList(shape, 'size'), intList(stride, 'stride'));
}

/** What persistent_load hands the pickle: wraps a storage so rebuilders can tell it from user data. */
class StorageHandle {
  readonly value: Storage;
  constructor(value: Storage) {
    this.value = value;
  }
}

/** The allow-list: exactly the globals a state_dict (or a dict of them) needs. Nothing here runs Python. */
function allowedGlobal(module: string, name: string): PickleCallable | undefined {
  const full = `${module}.${name}`;
  switch (full) {
    case 'collections.OrderedDict':
      return fn(full, (args) => new Map(args.length > 0 && args[0] instanceof Map ? args[0] : []));
    case 'torch._utils._rebuild_tensor':
    case 'torch._utils._rebuild_tensor_v2':
      return fn(full, (args) => rebuildTensor(args));
    case 'torch._utils._rebuild_tensor_v3':
      return fn(full, (args) => rebuildTensor(args, args[6]));
    case 'torch._utils._rebuild_parameter':
    case 'torch._utils._rebuild_parameter_with_state':
    case 'torch.nn.parameter.Parameter':
      return fn(full, (args) => args[0]);
    case 'torch._utils._rebuild_from_type_v2':
      return fn(full, ([func, , args]) => {
        if (!(typeof func === 'object' && func !== null && 'call' in func) || !Array.isArray(args)) {
          throw new CheckpointError('corrupt checkpoint: bad _rebuild_from_type_v2 arguments');
        }
        return (func as PickleCallable).call(args);
      });
    case 'torch.Tensor':
    case 'torch._tensor.Tensor':
      return marker(full);
    case 'torch.Size':
      return fn(full, (args) => args[0]);
  }
  if (module === 'torch' && name in DTYPES) return marker(full, { dtype: DTYPES[name] });
  const storageModule = module === 'torch' || module === 'torch.cuda' || module === 'torch.storage';
  if (storageModule && name in STORAGE_TYPES) return marker(full, { storageDtype: STORAGE_TYPES[name] });
  return undefined;
}

const ALLOW_LIST_DESCRIPTION =
  'collections.OrderedDict, torch._utils._rebuild_tensor(_v2/_v3), torch._utils._rebuild_parameter, torch.*Storage, torch dtypes';

const PICKLE_ENTRY = /^([^/]+\/)?data\.pkl$/;

/** A zip is a torch.save checkpoint when it holds `<top>/data.pkl`. */
export function isTorchZip(entries: Map<string, ZipEntry>): boolean {
  for (const name of entries.keys()) if (PICKLE_ENTRY.test(name)) return true;
  return false;
}

/** Find `<top>/data.pkl`: torch names the top folder after the file stem or "archive", so accept any. */
function findPickle(entries: Map<string, ZipEntry>): string {
  const candidates = [...entries.keys()].filter((name) => PICKLE_ENTRY.test(name));
  if (candidates.length === 1) return candidates[0].slice(0, -'data.pkl'.length);
  if (candidates.length === 0) throw new CheckpointError('zip has no <top>/data.pkl: not a torch.save checkpoint');
  throw new CheckpointError(`zip has several data.pkl files (${candidates.join(', ')}): ambiguous checkpoint`);
}

function storageLoader(bytes: Uint8Array, entries: Map<string, ZipEntry>, prefix: string, bigEndian: boolean) {
  const cache = new Map<string, StorageHandle>(); // shared storages: one handle per key
  return (pid: unknown): StorageHandle => {
    if (!Array.isArray(pid) || pid[0] !== 'storage' || pid.length < 5) {
      throw new CheckpointError('corrupt checkpoint: unknown persistent id (expected a storage)');
    }
    const [, type, key, , count] = pid;
    const dtype = (type as TypeMarker | undefined)?.storageDtype;
    if (!dtype || typeof key !== 'string' || typeof count !== 'number') {
      throw new CheckpointError('corrupt checkpoint: bad storage persistent id');
    }
    const cached = cache.get(key);
    if (cached) return cached;
    const entry = entries.get(`${prefix}data/${key}`);
    if (!entry) throw new CheckpointError(`corrupt checkpoint: storage ${prefix}data/${key} is missing`);
    let raw = readZipEntry(bytes, entry);
    const size = elementBytes(dtype);
    if (raw.length < count * size) {
      throw new CheckpointError(`corrupt checkpoint: storage ${key} has ${raw.length} bytes, needs ${count * size}`);
    }
    if (bigEndian && size > 1) raw = byteSwapped(raw.subarray(0, count * size), size);
    const handle = new StorageHandle({ key, dtype, bytes: raw.subarray(0, count * size) });
    cache.set(key, handle);
    return handle;
  };
}

function byteOrder(bytes: Uint8Array, entries: Map<string, ZipEntry>, prefix: string): 'little' | 'big' {
  const entry = entries.get(`${prefix}byteorder`);
  if (!entry) return 'little'; // files before torch 2.x: written on little-endian machines
  const text = new TextDecoder().decode(readZipEntry(bytes, entry)).trim();
  if (text !== 'little' && text !== 'big') throw new CheckpointError(`corrupt checkpoint: byteorder "${text}"`);
  return text;
}

/** Unpickle a torch zip checkpoint into plain values with `TensorRef` leaves; `entries` from readZipEntries. */
export function readTorchZip(bytes: Uint8Array, entries: Map<string, ZipEntry>): unknown {
  const prefix = findPickle(entries);
  const bigEndian = byteOrder(bytes, entries, prefix) === 'big';
  const pickle = readZipEntry(bytes, entries.get(`${prefix}data.pkl`)!);
  return unpickle(pickle, {
    resolveGlobal: allowedGlobal,
    persistentLoad: storageLoader(bytes, entries, prefix, bigEndian),
    allowListDescription: ALLOW_LIST_DESCRIPTION,
  });
}

/** Materialize one tensor: a view into the file when contiguous and aligned, a dense copy otherwise. */
export function loadTorchTensor(name: string, ref: TensorRef, options: LoadOptions = {}): Tensor {
  const data = stridedData(name, ref.dtype, ref.storage.bytes, ref.offset, ref.shape, ref.stride);
  return finishTensor(ref.dtype, [...ref.shape], data, options);
}

/** A pre-1.6 torch file is a bare pickle (0x80 0x02 ...) or a tar: neither is readable without running torch. */
export function isLegacyTorchFile(bytes: Uint8Array): boolean {
  const tar = bytes.length > 262 && new TextDecoder().decode(bytes.subarray(257, 262)) === 'ustar';
  return (bytes[0] === 0x80 && bytes[1] >= 2 && bytes[1] <= 5) || tar;
}
