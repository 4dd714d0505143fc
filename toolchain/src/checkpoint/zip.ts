/**
 * A minimal zip reader for checkpoints: the central directory (with zip64) and entry bytes. Stored entries come
 * back as views into the file (no copy), which is what makes a 210 MB `torch.save` file cheap to open.
 */
import { inflateSync } from 'fflate';
import { CheckpointError } from './errors.ts';

export interface ZipEntry {
  name: string;
  method: number; // 0 stored, 8 deflated
  compressedSize: number;
  size: number;
  localHeaderOffset: number;
}

const EOCD = 0x06054b50;
const ZIP64_LOCATOR = 0x07064b50;
const ZIP64_EOCD = 0x06064b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;
const MAX_COMMENT = 0xffff;

export function isZip(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b && (bytes[2] === 3 || bytes[2] === 5);
}

function dataView(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function u64(view: DataView, offset: number): number {
  const value = view.getBigUint64(offset, true);
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new CheckpointError('corrupt zip: 64-bit field out of range');
  return Number(value);
}

function findEndOfCentralDirectory(view: DataView): number {
  const last = view.byteLength - 22;
  for (let at = last; at >= Math.max(0, last - MAX_COMMENT); at--) {
    if (view.getUint32(at, true) === EOCD) return at;
  }
  throw new CheckpointError('corrupt zip: no end-of-central-directory record (truncated download?)');
}

/** Where the central directory starts and how many entries it has, following the zip64 locator if present. */
function centralDirectory(view: DataView): { offset: number; count: number } {
  const eocd = findEndOfCentralDirectory(view);
  let count = view.getUint16(eocd + 10, true);
  let offset = view.getUint32(eocd + 16, true);
  const locator = eocd - 20;
  if (locator >= 0 && view.getUint32(locator, true) === ZIP64_LOCATOR) {
    const zip64 = u64(view, locator + 8);
    if (zip64 + 56 > view.byteLength || view.getUint32(zip64, true) !== ZIP64_EOCD) {
      throw new CheckpointError('corrupt zip: bad zip64 end-of-central-directory record');
    }
    count = u64(view, zip64 + 32);
    offset = u64(view, zip64 + 48);
  }
  return { offset, count };
}

/** Replace 0xFFFFFFFF sizes/offset by the values of the zip64 extra field (id 1), in the order the spec gives. */
function applyZip64Extra(view: DataView, start: number, end: number, entry: ZipEntry): void {
  for (let at = start; at + 4 <= end; ) {
    const id = view.getUint16(at, true);
    const length = view.getUint16(at + 2, true);
    if (id === 1) {
      let field = at + 4;
      const next = () => {
        const v = u64(view, field);
        field += 8;
        return v;
      };
      if (entry.size === 0xffffffff) entry.size = next();
      if (entry.compressedSize === 0xffffffff) entry.compressedSize = next();
      if (entry.localHeaderOffset === 0xffffffff) entry.localHeaderOffset = next();
      return;
    }
    at += 4 + length;
  }
}

/** Read the central directory: entry name -> entry. */
export function readZipEntries(bytes: Uint8Array): Map<string, ZipEntry> {
  const view = dataView(bytes);
  if (bytes.length < 22) throw new CheckpointError('corrupt zip: file too short');
  const { offset, count } = centralDirectory(view);
  const entries = new Map<string, ZipEntry>();
  const decoder = new TextDecoder();
  let at = offset;
  for (let i = 0; i < count; i++) {
    if (at + 46 > bytes.length || view.getUint32(at, true) !== CENTRAL) {
      throw new CheckpointError(`corrupt zip: central directory entry ${i} is damaged`);
    }
    const flags = view.getUint16(at + 8, true);
    if (flags & 1) throw new CheckpointError('encrypted zip entries are not supported');
    const nameLength = view.getUint16(at + 28, true);
    const extraLength = view.getUint16(at + 30, true);
    const commentLength = view.getUint16(at + 32, true);
    const entry: ZipEntry = {
      name: decoder.decode(bytes.subarray(at + 46, at + 46 + nameLength)),
      method: view.getUint16(at + 10, true),
      compressedSize: view.getUint32(at + 20, true),
      size: view.getUint32(at + 24, true),
      localHeaderOffset: view.getUint32(at + 42, true),
    };
    applyZip64Extra(view, at + 46 + nameLength, at + 46 + nameLength + extraLength, entry);
    entries.set(entry.name, entry);
    at += 46 + nameLength + extraLength + commentLength;
  }
  return entries;
}

/** An entry's bytes: a view into `bytes` when stored, inflated when deflated. */
export function readZipEntry(bytes: Uint8Array, entry: ZipEntry): Uint8Array {
  const view = dataView(bytes);
  const local = entry.localHeaderOffset;
  if (local + 30 > bytes.length || view.getUint32(local, true) !== LOCAL) {
    throw new CheckpointError(`corrupt zip: bad local header for "${entry.name}"`);
  }
  const start = local + 30 + view.getUint16(local + 26, true) + view.getUint16(local + 28, true);
  const end = start + entry.compressedSize;
  if (end > bytes.length) throw new CheckpointError(`corrupt zip: "${entry.name}" runs past the end (truncated?)`);
  const raw = bytes.subarray(start, end);
  if (entry.method === 0) return raw;
  if (entry.method === 8) {
    const out = inflateSync(raw, { out: new Uint8Array(entry.size) });
    if (out.length !== entry.size) throw new CheckpointError(`corrupt zip: "${entry.name}" inflates to wrong size`);
    return out;
  }
  throw new CheckpointError(`zip entry "${entry.name}" uses unsupported compression method ${entry.method}`);
}
