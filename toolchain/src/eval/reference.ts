/**
 * Where reference images come from (`--ref`): an evaluator-format .npz (local or s3://), or `mnist:A-B`, images
 * A..B (inclusive) of an MNIST IDX file, zero-padded 28 -> 32 and gray repeated into RGB as the MNIST models
 * see them. The IDX file is `--ref-idx`, else $QDM_SHARED/data/mnist/t10k-images-idx3-ubyte.gz, else the
 * `shared/` folder beside the repository.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readSamples, type SampleSet } from '../sampling/files.ts';
import { EvaluationError } from './errors.ts';
import { decodeIdxImages, paddedDigits } from './mnist-idx.ts';
import type { ImageSet } from './set-features.ts';

export type ReferenceSource =
  | { kind: 'samples'; path: string }
  | { kind: 'mnist'; first: number; last?: number; idx: string };

export interface ReferenceImages extends ImageSet {
  /** What the images are, for reports: the path, or "mnist:9000-9999 (file)". */
  label: string;
}

const MNIST_TEST_IMAGES = 'data/mnist/t10k-images-idx3-ubyte.gz';

export function defaultMnistIdx(env: Record<string, string | undefined> = process.env): string {
  if (env.QDM_SHARED) return join(env.QDM_SHARED, MNIST_TEST_IMAGES);
  return fileURLToPath(new URL(`../../../../shared/${MNIST_TEST_IMAGES}`, import.meta.url));
}

/** `--ref` value -> source; `mnist:A-B` (inclusive) or `mnist` (every image), anything else a samples file. */
export function parseReference(value: string, idx?: string): ReferenceSource {
  const m = /^mnist(?::(\d+)(?:-(\d+))?)?$/.exec(value.trim());
  if (!m) {
    if (value.startsWith('mnist'))
      throw new EvaluationError(`--ref ${value}: expected mnist:A-B, e.g. mnist:9000-9999`);
    return { kind: 'samples', path: value };
  }
  const first = m[1] === undefined ? 0 : Number(m[1]);
  const last = m[2] === undefined ? (m[1] === undefined ? undefined : first) : Number(m[2]);
  if (last !== undefined && last < first) throw new EvaluationError(`--ref ${value}: the range is empty`);
  return { kind: 'mnist', first, last, idx: idx ?? defaultMnistIdx() };
}

/** Reads evaluator-format samples; a file that is not one is an EvaluationError naming it. */
export async function readSampleImages(path: string, flag: string): Promise<SampleSet> {
  try {
    const set = await readSamples(path);
    if (set.n < 1) throw new Error(`${path}: holds no images`);
    if (set.c !== 1 && set.c !== 3) throw new Error(`${path}: ${set.c} channels, expected 1 or 3`);
    return set;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new EvaluationError(`--${flag} ${path}: no such file`);
    if (error instanceof Error && error.name !== 'Error') throw error; // store errors carry their own message
    throw new EvaluationError(`--${flag} ${(error as Error).message.replace(/^Error: /, '')}`);
  }
}

async function mnistImages(source: Extract<ReferenceSource, { kind: 'mnist' }>): Promise<ReferenceImages> {
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(await readFile(source.idx));
  } catch {
    throw new EvaluationError(
      `--ref mnist: cannot read the MNIST images at ${source.idx} (set --ref-idx or QDM_SHARED)`,
    );
  }
  let idx: ReturnType<typeof decodeIdxImages>;
  try {
    idx = decodeIdxImages(bytes);
  } catch (error) {
    // gunzip and header errors: the file is not MNIST's IDX images (a README, the labels file, ...)
    throw new EvaluationError(`--ref mnist: ${source.idx} is not an IDX image file (${(error as Error).message})`);
  }
  const last = source.last ?? idx.count - 1;
  if (last >= idx.count)
    throw new EvaluationError(`--ref mnist:${source.first}-${last}: the file holds ${idx.count} images`);
  const gray = paddedDigits(idx, source.first, last + 1);
  const n = last + 1 - source.first;
  const h = idx.rows + 4;
  const w = idx.cols + 4;
  const images = new Uint8Array(gray.length * 3);
  for (let p = 0; p < gray.length; p++) images.fill(gray[p], 3 * p, 3 * p + 3); // gray -> RGB, as generated samples
  return { images, n, h, w, c: 3, label: `mnist:${source.first}-${last} (${source.idx})` };
}

export async function loadReferenceImages(source: ReferenceSource): Promise<ReferenceImages> {
  if (source.kind === 'mnist') return mnistImages(source);
  const set = await readSampleImages(source.path, 'ref');
  return { images: set.images, n: set.n, h: set.h, w: set.w, c: set.c, label: source.path };
}

/** Both sets must have the same image size: FID across resolutions measures the resize, not the model. */
export function checkSameSize(samples: ImageSet, ref: { h: number; w: number }, what: string): void {
  if (samples.h !== ref.h || samples.w !== ref.w) {
    throw new EvaluationError(
      `the samples are ${samples.h}x${samples.w} but ${what} is ${ref.h}x${ref.w}: evaluate sets of one image size`,
    );
  }
}
