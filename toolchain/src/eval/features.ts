/**
 * Feature extraction with any ONNX feature network: images in, named outputs out, flattened per image.
 * - Input: the network's single input, [N, C, H, W] float32 in [-1, 1]; pixels map as x / 127.5 - 1.
 * - Size: when the input's H and W are fixed numbers that differ from the images', images are resized bilinearly
 *   like torch (`resize.ts`); with symbolic (dynamic) H/W the images go in at their own size.
 * - Channels: gray images (C = 1) are repeated into 3 channels for an RGB network (the MNIST convention); RGB
 *   images are turned into BT.601 luma (0.299 R + 0.587 G + 0.114 B) for a 1-channel network; the two are the same
 *   for R = G = B. Any other combination is an error.
 * - Batch: `batchSize` images per run (default 64); a network with a fixed batch size gets exactly that many, the
 *   last batch zero-padded and the padding's outputs dropped.
 */
import * as ort from 'onnxruntime-node';
import type { FeatureMatrix } from './moments.ts';
import { resizeBilinear } from './resize.ts';

/** The ONNX output names that play each role; all optional, at least one required. */
export interface FeatureOutputs {
  /** Class logits (pre-softmax) for the Inception Score. */
  logits?: string;
  /** Pooled features for FID and precision/recall. */
  pool?: string;
  /** Spatial features for sFID (flattened per image). */
  spatial?: string;
}

export type FeatureRole = keyof FeatureOutputs;

export interface ExtractOptions {
  outputs: FeatureOutputs;
  batchSize?: number;
  /** Called after every batch with the number of images done so far. */
  onProgress?: (done: number, total: number) => void;
  /** Session options when a model path is given. */
  sessionOptions?: ort.InferenceSession.SessionOptions;
}

export type ExtractedFeatures = Partial<Record<FeatureRole, FeatureMatrix>>;

/** One batch of features, for callers that accumulate statistics without keeping every row. */
export type FeatureBatch = Partial<Record<FeatureRole, FeatureMatrix>>;

const ROLES: FeatureRole[] = ['logits', 'pool', 'spatial'];

/** Runs the network over `n` uint8 NHWC images (`h` x `w`, 1 or 3 channels) and collects the named outputs. */
export async function extractFeatures(
  sessionOrModelPath: ort.InferenceSession | string,
  images: Uint8Array,
  n: number,
  h: number,
  w: number,
  options: ExtractOptions,
): Promise<ExtractedFeatures> {
  const collected: Partial<Record<FeatureRole, Float32Array[]>> = {};
  const dims: Partial<Record<FeatureRole, number>> = {};
  await streamFeatures(sessionOrModelPath, images, n, h, w, options, (batch) => {
    for (const role of ROLES) {
      const m = batch[role];
      if (!m) continue;
      dims[role] = m.dim;
      const parts = collected[role] ?? [];
      parts.push(m.data as Float32Array);
      collected[role] = parts;
    }
  });
  const out: ExtractedFeatures = {};
  for (const role of ROLES) {
    const parts = collected[role];
    if (!parts) continue;
    const dim = dims[role]!;
    const data = new Float32Array(n * dim);
    let offset = 0;
    for (const p of parts) {
      data.set(p, offset);
      offset += p.length;
    }
    out[role] = { rows: n, dim, data };
  }
  return out;
}

/** Like `extractFeatures`, but hands every batch to `onBatch` instead of keeping it. */
export async function streamFeatures(
  sessionOrModelPath: ort.InferenceSession | string,
  images: Uint8Array,
  n: number,
  h: number,
  w: number,
  options: ExtractOptions,
  onBatch: (batch: FeatureBatch, start: number) => void,
): Promise<void> {
  const channels = imageChannels(images, n, h, w);
  const wanted = ROLES.filter((r) => options.outputs[r] !== undefined);
  if (wanted.length === 0) throw new Error('features: name at least one output (logits, pool or spatial)');
  const owned = typeof sessionOrModelPath === 'string';
  const session = owned
    ? await ort.InferenceSession.create(sessionOrModelPath, options.sessionOptions ?? {})
    : sessionOrModelPath;
  try {
    for (const role of wanted) {
      const name = options.outputs[role]!;
      if (!session.outputNames.includes(name)) {
        throw new Error(`features: the model has no output "${name}" (outputs: ${session.outputNames.join(', ')})`);
      }
    }
    const input = networkInput(session);
    const target = { c: input.c ?? 3, h: input.h ?? h, w: input.w ?? w };
    if (channels !== target.c && !(channels === 1 && target.c === 3) && !(channels === 3 && target.c === 1)) {
      throw new Error(`features: cannot feed ${channels}-channel images to a ${target.c}-channel network`);
    }
    const batchSize = input.batch ?? options.batchSize ?? 64;
    if (!Number.isInteger(batchSize) || batchSize < 1) throw new Error(`features: bad batch size ${batchSize}`);
    for (let start = 0; start < n; start += batchSize) {
      const count = Math.min(batchSize, n - start);
      const rows = input.batch ?? count; // a fixed-batch network gets a zero-padded last batch
      const x = preprocess(images, start, count, rows, { c: channels, h, w }, target);
      const result = await session.run({
        [input.name]: new ort.Tensor('float32', x, [rows, target.c, target.h, target.w]),
      });
      const batch: FeatureBatch = {};
      for (const role of wanted) batch[role] = flattenOutput(result[options.outputs[role]!], rows, count);
      onBatch(batch, start);
      options.onProgress?.(start + count, n);
    }
  } finally {
    if (owned) await session.release();
  }
}

function imageChannels(images: Uint8Array, n: number, h: number, w: number): number {
  const pixels = n * h * w;
  if (pixels > 0 && images.length === pixels) return 1;
  if (images.length === 3 * pixels) return 3;
  throw new Error(`features: ${images.length} bytes is neither ${n}x${h}x${w}x1 nor ${n}x${h}x${w}x3 (NHWC uint8)`);
}

interface NetworkInput {
  name: string;
  batch?: number;
  c?: number;
  h?: number;
  w?: number;
}

/** The single image input and whichever of its dimensions are fixed numbers. */
function networkInput(session: ort.InferenceSession): NetworkInput {
  if (session.inputNames.length !== 1) {
    throw new Error(`features: the network must have one input, it has ${session.inputNames.join(', ')}`);
  }
  const name = session.inputNames[0];
  const meta = session.inputMetadata.find((m) => m.name === name);
  const shape = meta?.isTensor ? meta.shape : [];
  if (shape.length !== 0 && shape.length !== 4) throw new Error(`features: input "${name}" is not [N, C, H, W]`);
  const fixed = (d: number | string | undefined) => (typeof d === 'number' && d > 0 ? d : undefined);
  return { name, batch: fixed(shape[0]), c: fixed(shape[1]), h: fixed(shape[2]), w: fixed(shape[3]) };
}

interface Layout {
  c: number;
  h: number;
  w: number;
}

/** NHWC uint8 images [start, start + count) -> NCHW float32 in [-1, 1] at the network's size, `rows` images. */
function preprocess(images: Uint8Array, start: number, count: number, rows: number, from: Layout, to: Layout) {
  const plane = from.h * from.w;
  const planes = new Float32Array(rows * to.c * plane);
  for (let b = 0; b < count; b++) {
    const src = (start + b) * plane * from.c;
    for (let c = 0; c < to.c; c++) {
      const dst = (b * to.c + c) * plane;
      for (let p = 0; p < plane; p++) planes[dst + p] = pixelValue(images, src + p * from.c, from.c, to.c, c);
    }
  }
  if (to.h === from.h && to.w === from.w) return planes;
  return resizeBilinear(planes, rows * to.c, from.h, from.w, to.h, to.w);
}

function pixelValue(images: Uint8Array, at: number, fromC: number, toC: number, c: number): number {
  if (fromC === toC) return images[at + c] / 127.5 - 1;
  if (fromC === 1) return images[at] / 127.5 - 1; // gray repeated into every channel
  return (0.299 * images[at] + 0.587 * images[at + 1] + 0.114 * images[at + 2]) / 127.5 - 1; // RGB -> luma
}

function flattenOutput(value: ort.Tensor | undefined, rows: number, count: number): FeatureMatrix {
  if (value?.type !== 'float32') throw new Error('features: output is missing or not float32');
  const data = value.data as Float32Array;
  const dim = data.length / rows;
  if (!Number.isInteger(dim) || value.dims[0] !== rows) throw new Error('features: output batch size mismatch');
  return { rows: count, dim, data: data.slice(0, count * dim) };
}
