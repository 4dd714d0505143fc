/**
 * PNG encode/decode for 8-bit images: our sample grids and browser screenshots. Non-interlaced only;
 * zlib by fflate, CRC-32 here.
 */
import { unzlibSync, zlibSync } from 'fflate';

const SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
const COLOR_TYPE_OF_CHANNELS: Record<number, number> = { 1: 0, 2: 4, 3: 2, 4: 6 };
const CHANNELS_OF_COLOR_TYPE: Record<number, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };

export class PngError extends Error {
  override name = 'PngError';
}

export interface DecodedPng {
  width: number;
  height: number;
  /** 1 gray, 2 gray+alpha, 3 RGB, 4 RGBA (palette images expand to 3, or 4 with a tRNS chunk). */
  channels: number;
  data: Uint8Array; // HWC
}

let crcTable: Uint32Array | undefined;

/** CRC-32 (IEEE, reflected 0xEDB88320) as PNG chunks use it. */
export function crc32(bytes: Uint8Array, crc = 0): number {
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let c = ~crc >>> 0;
  for (let i = 0; i < bytes.length; i++) c = crcTable[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
}

function paeth(a: number, b: number, c: number): number {
  const p = a + b - c;
  const pa = Math.abs(p - a);
  const pb = Math.abs(p - b);
  const pc = Math.abs(p - c);
  if (pa <= pb && pa <= pc) return a;
  return pb <= pc ? b : c;
}

/** Filter one scanline with filter `type` into `out` (without the type byte). */
function filterRow(type: number, row: Uint8Array, prev: Uint8Array | undefined, bpp: number, out: Uint8Array): void {
  for (let i = 0; i < row.length; i++) {
    const a = i >= bpp ? row[i - bpp] : 0;
    const b = prev ? prev[i] : 0;
    const c = prev && i >= bpp ? prev[i - bpp] : 0;
    let pred = 0;
    if (type === 1) pred = a;
    else if (type === 2) pred = b;
    else if (type === 3) pred = (a + b) >> 1;
    else if (type === 4) pred = paeth(a, b, c);
    out[i] = (row[i] - pred) & 0xff;
  }
}

/** Sum of the filtered bytes read as signed: the usual heuristic for choosing a row's filter. */
function filterCost(bytes: Uint8Array): number {
  let sum = 0;
  for (const v of bytes) sum += v < 128 ? v : 256 - v;
  return sum;
}

function chunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(data, 8);
  view.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}

/** Encode HWC 8-bit pixels (1 gray, 2 gray+alpha, 3 RGB, 4 RGBA channels) as a PNG file. */
export function encodePng(pixels: Uint8Array, width: number, height: number, channels: 1 | 2 | 3 | 4): Uint8Array {
  const colorType = COLOR_TYPE_OF_CHANNELS[channels];
  if (colorType === undefined) throw new PngError(`encodePng: unsupported channel count ${channels}`);
  if (!(width > 0 && height > 0)) throw new PngError(`encodePng: bad size ${width}x${height}`);
  const stride = width * channels;
  if (pixels.length !== stride * height) {
    throw new PngError(`encodePng: ${pixels.length} bytes, ${width}x${height}x${channels} needs ${stride * height}`);
  }
  const raw = new Uint8Array((stride + 1) * height);
  const trial = new Uint8Array(stride);
  for (let y = 0; y < height; y++) {
    const row = pixels.subarray(y * stride, (y + 1) * stride);
    const prev = y > 0 ? pixels.subarray((y - 1) * stride, y * stride) : undefined;
    const dest = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    let best = Number.POSITIVE_INFINITY;
    for (let type = 0; type <= 4; type++) {
      filterRow(type, row, prev, channels, trial);
      const cost = filterCost(trial);
      if (cost < best) {
        best = cost;
        raw[y * (stride + 1)] = type;
        dest.set(trial);
      }
    }
  }
  const ihdr = new Uint8Array(13);
  const view = new DataView(ihdr.buffer);
  view.setUint32(0, width);
  view.setUint32(4, height);
  ihdr.set([8, colorType, 0, 0, 0], 8); // bit depth, color type, compression, filter, interlace
  return concat([
    new Uint8Array(SIGNATURE),
    chunk('IHDR', ihdr),
    chunk('IDAT', zlibSync(raw, { level: 6 })),
    chunk('IEND', new Uint8Array(0)),
  ]);
}

interface PngHeader {
  width: number;
  height: number;
  colorType: number;
  depth: number;
  palette?: Uint8Array;
  paletteAlpha?: Uint8Array;
  idat: Uint8Array[];
}

function readChunks(bytes: Uint8Array): PngHeader {
  for (let i = 0; i < SIGNATURE.length; i++) {
    if (bytes[i] !== SIGNATURE[i]) throw new PngError('not a PNG file (bad signature)');
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const header: PngHeader = { width: 0, height: 0, colorType: -1, depth: 8, idat: [] };
  let offset = SIGNATURE.length;
  for (;;) {
    if (offset + 12 > bytes.length) throw new PngError('truncated PNG (no IEND chunk)');
    const length = view.getUint32(offset);
    const type = String.fromCharCode(...bytes.subarray(offset + 4, offset + 8));
    const end = offset + 8 + length;
    if (end + 4 > bytes.length) throw new PngError(`truncated PNG chunk ${type}`);
    const data = bytes.subarray(offset + 8, end);
    if (crc32(bytes.subarray(offset + 4, end)) !== view.getUint32(end)) throw new PngError(`bad CRC in ${type}`);
    if (type === 'IHDR') {
      header.width = view.getUint32(offset + 8);
      header.height = view.getUint32(offset + 12);
      const [depth, colorType, , , interlace] = data.subarray(8, 13);
      if (CHANNELS_OF_COLOR_TYPE[colorType] === undefined) throw new PngError(`bad PNG color type ${colorType}`);
      const lowDepthOk = (colorType === 0 || colorType === 3) && (depth === 1 || depth === 2 || depth === 4);
      if (depth !== 8 && !lowDepthOk)
        throw new PngError(`unsupported PNG bit depth ${depth} for color type ${colorType}`);
      if (interlace !== 0) throw new PngError('interlaced PNG is not supported');
      header.colorType = colorType;
      header.depth = depth;
    } else if (type === 'PLTE') header.palette = data;
    else if (type === 'tRNS') header.paletteAlpha = data;
    else if (type === 'IDAT') header.idat.push(data);
    else if (type === 'IEND') break;
    offset = end + 4;
  }
  if (header.colorType < 0) throw new PngError('PNG has no IHDR chunk');
  if (header.idat.length === 0) throw new PngError('PNG has no IDAT chunk');
  return header;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

/** Undo the per-row filters; `raw` rows carry a leading filter byte, `bpp` is whole bytes per pixel (>= 1). */
function unfilter(raw: Uint8Array, height: number, stride: number, bpp: number): Uint8Array {
  const out = new Uint8Array(height * stride);
  for (let y = 0; y < height; y++) {
    const type = raw[y * (stride + 1)];
    const src = y * (stride + 1) + 1;
    const dst = y * stride;
    const up = dst - stride;
    for (let i = 0; i < stride; i++) {
      const a = i >= bpp ? out[dst + i - bpp] : 0;
      const b = y > 0 ? out[up + i] : 0;
      const c = y > 0 && i >= bpp ? out[up + i - bpp] : 0;
      let pred: number;
      if (type === 0) pred = 0;
      else if (type === 1) pred = a;
      else if (type === 2) pred = b;
      else if (type === 3) pred = (a + b) >> 1;
      else if (type === 4) pred = paeth(a, b, c);
      else throw new PngError(`bad PNG filter type ${type} in row ${y}`);
      out[dst + i] = (raw[src + i] + pred) & 0xff;
    }
  }
  return out;
}

/** Spread 1/2/4-bit samples (rows padded to whole bytes) to one byte each, scaled to 0..255 unless `indices`. */
function unpackLowDepth(packed: Uint8Array, width: number, height: number, depth: number, indices: boolean) {
  const out = new Uint8Array(width * height);
  const stride = Math.ceil((width * depth) / 8);
  const mask = (1 << depth) - 1;
  const scale = indices ? 1 : 255 / mask;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const bit = x * depth;
      const byte = packed[y * stride + (bit >> 3)];
      out[y * width + x] = ((byte >> (8 - depth - (bit & 7))) & mask) * scale;
    }
  }
  return out;
}

function expandPalette(indices: Uint8Array, palette: Uint8Array, alpha: Uint8Array | undefined): DecodedPng['data'] {
  const channels = alpha ? 4 : 3;
  const out = new Uint8Array(indices.length * channels);
  for (let i = 0; i < indices.length; i++) {
    const p = indices[i];
    if (3 * p + 2 >= palette.length) throw new PngError(`PNG palette index ${p} out of range`);
    out.set(palette.subarray(3 * p, 3 * p + 3), i * channels);
    if (alpha) out[i * channels + 3] = p < alpha.length ? alpha[p] : 255;
  }
  return out;
}

/**
 * Decode a non-interlaced 8-bit PNG (gray, gray+alpha, RGB, RGBA, palette; gray and palette also at 1/2/4 bits)
 * to HWC bytes.
 */
export function decodePng(bytes: Uint8Array): DecodedPng {
  const header = readChunks(bytes);
  const { width, height, colorType, depth } = header;
  const bpp = CHANNELS_OF_COLOR_TYPE[colorType];
  const stride = Math.ceil((width * bpp * depth) / 8);
  let raw: Uint8Array;
  try {
    raw = unzlibSync(concat(header.idat));
  } catch (error) {
    throw new PngError(`corrupt PNG image data: ${(error as Error).message}`);
  }
  if (raw.length < (stride + 1) * height) throw new PngError('truncated PNG image data');
  const unfiltered = unfilter(raw, height, stride, Math.max(1, (bpp * depth) >> 3));
  const pixels = depth === 8 ? unfiltered : unpackLowDepth(unfiltered, width, height, depth, colorType === 3);
  if (colorType !== 3) return { width, height, channels: bpp, data: pixels };
  if (!header.palette) throw new PngError('palette PNG without PLTE chunk');
  const data = expandPalette(pixels, header.palette, header.paletteAlpha);
  return { width, height, channels: header.paletteAlpha ? 4 : 3, data };
}
