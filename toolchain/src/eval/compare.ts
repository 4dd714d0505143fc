/**
 * `toolchain compare`: two `/sample` endpoints asked for the same seeds. Per endpoint: one cold request first
 * (alone: it pays for model loading), then the remaining seeds with bounded concurrency (warm latencies, whose
 * percentiles include any queueing at that concurrency). Between the two: same-seed PSNR and SSIM on uint8 images.
 * An endpoint whose first request fails after its retries is not asked again; its seeds are reported as skipped.
 */
import { toUint8NHWC } from '@qdm/shared';
import { mapLimit } from '../store/task-pool.ts';
import {
  type EndpointOptions,
  type FailedSample,
  type FetchedSample,
  fetchSample,
  type SampleInfo,
} from './endpoint.ts';
import { type LatencySummary, summarizeLatency } from './latency.ts';
import { pixelDiff } from './pixel-metrics.ts';
import type { ImageSet } from './set-features.ts';
import { ssimPerImage } from './ssim.ts';

export interface EndpointRun {
  url: string;
  seeds: number[];
  fetched: FetchedSample[];
  failed: FailedSample[];
  /** Seeds never asked because the cold request failed. */
  skipped: number[];
  cold: FetchedSample | null;
  seconds: number;
}

export interface RunOptions extends EndpointOptions {
  concurrency: number;
  onSample?: (done: number, total: number) => void;
}

export async function runEndpoint(url: string, seeds: readonly number[], options: RunOptions): Promise<EndpointRun> {
  const started = performance.now();
  const fetched: FetchedSample[] = [];
  const failed: FailedSample[] = [];
  let done = 0;
  const record = (outcome: FetchedSample | FailedSample) => {
    if (outcome.ok) fetched.push(outcome);
    else failed.push(outcome);
    options.onSample?.(++done, seeds.length);
  };
  const first = await fetchSample(url, seeds[0], options);
  record(first);
  const cold = first.ok ? first : null;
  let skipped: number[] = [];
  if (cold) {
    await mapLimit(seeds.slice(1), options.concurrency, async (seed) => record(await fetchSample(url, seed, options)));
  } else {
    skipped = seeds.slice(1);
    options.onSample?.(seeds.length, seeds.length);
  }
  fetched.sort((a, b) => a.seed - b.seed);
  failed.sort((a, b) => a.seed - b.seed);
  return { url, seeds: [...seeds], fetched, failed, skipped, cold, seconds: (performance.now() - started) / 1000 };
}

/** The fetched images (seed order) as one uint8 NHWC set; undefined when none came back or shapes differ. */
export function imagesOf(run: EndpointRun, seeds?: readonly number[]): (ImageSet & { seeds: number[] }) | undefined {
  const wanted = seeds ? new Set(seeds) : undefined;
  const list = run.fetched.filter((s) => !wanted || wanted.has(s.seed));
  if (list.length === 0) return undefined;
  const [c, h, w] = list[0].shape;
  if (list.some((s) => s.shape.join() !== list[0].shape.join())) return undefined;
  const raw = new Float32Array(list.length * c * h * w);
  for (const [i, s] of list.entries()) raw.set(s.pixels, i * c * h * w);
  return { images: toUint8NHWC(raw, list.length, c, h, w), n: list.length, h, w, c, seeds: list.map((s) => s.seed) };
}

export interface PairAgreement {
  n: number;
  /** Mean of the images' PSNR (@qdm/shared pixel-metrics.ts: an identical image is PSNR_CAP_DB). */
  psnr: number | null;
  psnr_min: number | null;
  psnr_pooled: number | null;
  identical_images: number | null;
  mse: number | null;
  ssim: number | null;
  ssim_min: number | null;
  max_abs: number | null;
  identical: boolean | null;
  reason?: string;
}

/** Same-seed PSNR and SSIM over the seeds both endpoints answered. */
export function pairAgreement(a: EndpointRun, b: EndpointRun): PairAgreement {
  const both = a.fetched.map((s) => s.seed).filter((seed) => b.fetched.some((t) => t.seed === seed));
  const empty = {
    n: both.length,
    psnr: null,
    psnr_min: null,
    psnr_pooled: null,
    identical_images: null,
    mse: null,
    ssim: null,
    ssim_min: null,
    max_abs: null,
    identical: null,
  };
  if (both.length === 0) return { ...empty, reason: 'no seed was answered by both endpoints' };
  const x = imagesOf(a, both);
  const y = imagesOf(b, both);
  if (!x || !y || x.h !== y.h || x.w !== y.w || x.c !== y.c) {
    return { ...empty, reason: 'the endpoints answered images of different shapes' };
  }
  if (x.h < 11 || x.w < 11) return { ...empty, reason: 'images smaller than the 11x11 SSIM window' };
  const diff = pixelDiff(x.images, y.images, x.n);
  const ssim = ssimPerImage(x.images, y.images, x.n, x.h, x.w, x.c);
  return {
    n: x.n,
    psnr: diff.psnrMean,
    psnr_min: diff.psnrMin,
    psnr_pooled: diff.psnrPooled,
    identical_images: diff.identical,
    mse: diff.mse,
    ssim: ssim.reduce((s, v) => s + v, 0) / ssim.length,
    ssim_min: Math.min(...ssim),
    max_abs: diff.maxAbs,
    identical: diff.mse === 0,
  };
}

export interface EndpointReport {
  url: string;
  ok: boolean;
  n_ok: number;
  n_failed: number;
  n_skipped: number;
  info: SampleInfo | null;
  image_shape: number[] | null;
  cold: {
    seed: number;
    ms: number;
    attempts: number;
    server_load_ms: number | null;
    server_total_ms: number | null;
  } | null;
  warm: LatencySummary | null;
  /** Server-side `total` of the warm requests, to tell network and queueing from compute. */
  warm_server_total: LatencySummary | null;
  retried: number;
  errors: { seed: number; attempts: number; errors: string[] }[];
  skipped_seeds: number[];
  seconds: number;
}

export function endpointReport(run: EndpointRun): EndpointReport {
  const warm = run.fetched.filter((s) => s !== run.cold);
  const serverTotals = warm.map((s) => s.serverTiming.total).filter((v) => v !== undefined);
  const withErrors = [...run.fetched, ...run.failed].filter((s) => s.errors.length > 0);
  return {
    url: run.url,
    ok: run.failed.length === 0 && run.skipped.length === 0,
    n_ok: run.fetched.length,
    n_failed: run.failed.length,
    n_skipped: run.skipped.length,
    info: run.fetched[0]?.info ?? null,
    image_shape: run.fetched[0]?.shape ?? null,
    cold: run.cold
      ? {
          seed: run.cold.seed,
          ms: run.cold.ms,
          attempts: run.cold.attempts,
          server_load_ms: run.cold.serverTiming.load ?? null,
          server_total_ms: run.cold.serverTiming.total ?? null,
        }
      : null,
    warm: summarizeLatency(warm.map((s) => s.ms)),
    warm_server_total: summarizeLatency(serverTotals),
    retried: run.fetched.filter((s) => s.attempts > 1).length,
    errors: withErrors
      .sort((p, q) => p.seed - q.seed)
      .map((s) => ({ seed: s.seed, attempts: s.attempts, errors: s.errors })),
    skipped_seeds: run.skipped,
    seconds: run.seconds,
  };
}

/** `--seeds` "0-15,20,31-33" -> [0..15, 20, 31, 32, 33] (order kept, duplicates refused). */
export function parseSeeds(spec: string): number[] {
  const seeds: number[] = [];
  for (const part of spec.split(',').map((s) => s.trim())) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!m) throw new Error(`"${part}" is not a seed or a range A-B`);
    const first = Number(m[1]);
    const last = m[2] === undefined ? first : Number(m[2]);
    if (last < first || last > 0xffffffff) throw new Error(`bad range "${part}"`);
    if (last - first > 100_000) throw new Error(`range "${part}" is too long`);
    for (let s = first; s <= last; s++) seeds.push(s);
  }
  if (new Set(seeds).size !== seeds.length) throw new Error('seeds repeat');
  return seeds;
}
