import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { DEFAULT_SCHEDULE, encodeNpz } from '@qdm/shared';
import { defineCommand } from 'citty';
import { floatArg, intArg, requireArg, stepsArg } from '../cli/args.ts';
import { commonArgs, emit } from '../cli/output.ts';
import { Progress } from '../cli/progress.ts';
import { checkEtaFor, SAMPLER_HINT, samplerArg } from '../cli/sampler-arg.ts';
import { UsageError } from '../errors.ts';
import {
  type EndpointReport,
  type EndpointRun,
  endpointReport,
  imagesOf,
  pairAgreement,
  parseSeeds,
  runEndpoint,
} from '../eval/compare.ts';
import { compareHtml } from '../eval/compare-html.ts';
import type { FeatureNetwork } from '../eval/feature-network.ts';
import { finiteOrNull } from '../eval/pixel-metrics.ts';
import { scoreAgainst } from '../eval/quality.ts';
import { featuresOf, type ImageSet, referenceStatsOf, type SetFeatures } from '../eval/set-features.ts';
import {
  featureArgs,
  featureProgress,
  openNetworkFromArgs,
  type PreparedReference,
  prepareReference,
  referenceArgs,
} from './eval-options.ts';

type Labelled = ImageSet & { seeds: number[] };

export default defineCommand({
  meta: {
    name: 'compare',
    description:
      'Ask two /sample endpoints (the qdm edge API) for the same seeds; report latency (cold, warm p50/p95/p99), ' +
      'same-seed PSNR/SSIM, FID between them and against a reference; writes compare.json and compare.html. ' +
      'A failing endpoint is reported (a.ok / b.ok false, with its errors) and the exit code stays 0',
  },
  args: {
    a: {
      type: 'string',
      description:
        'first endpoint: http://host:port, or its /sample URL with fixed fields (?model=mnist32&variant=fp32)',
      valueHint: 'URL',
    },
    b: { type: 'string', description: 'second endpoint (same forms as --a)', valueHint: 'URL' },
    n: { type: 'string', valueHint: 'N', description: 'number of seeds, 0..n-1 (default 16; or give --seeds)' },
    seeds: {
      type: 'string',
      valueHint: 'LIST',
      description: 'seeds and ranges, e.g. "0-63" or "1,5,9-12"; one image (n=1) per seed',
    },
    steps: {
      type: 'string',
      valueHint: 'SPEC',
      description: "respacing sent to both endpoints (default: the edge's default)",
      default: DEFAULT_SCHEDULE.steps,
    },
    eta: { type: 'string', valueHint: 'E', description: 'DDIM eta sent to both endpoints', default: '0' },
    sampler: {
      type: 'string',
      valueHint: SAMPLER_HINT,
      description: "sampler sent to both endpoints (default: none sent, each endpoint's own default)",
    },
    concurrency: {
      type: 'string',
      valueHint: 'C',
      description: 'requests in flight per endpoint (after the cold one)',
      default: '4',
    },
    retries: {
      type: 'string',
      valueHint: 'R',
      description: 'retries per request on network errors, timeouts, 429 and 5xx',
      default: '2',
    },
    timeout: { type: 'string', valueHint: 'SECONDS', description: 'seconds per request attempt', default: '120' },
    ...featureArgs,
    ...referenceArgs,
    'features-batch': { type: 'string', valueHint: 'B', description: 'images per feature-network call', default: '64' },
    out: { type: 'string', description: 'folder for compare.json, compare.html, a.npz, b.npz', valueHint: 'DIR' },
    ...commonArgs,
  },
  async run({ args }) {
    const urls = { a: checkUrl('a', requireArg('a', args.a)), b: checkUrl('b', requireArg('b', args.b)) };
    const out = resolve(requireArg('out', args.out));
    const seeds = seedList(args.seeds, args.n);
    stepsArg('steps', args.steps);
    const eta = floatArg('eta', args.eta, { min: 0, max: 1 });
    const sampler = args.sampler === undefined ? undefined : samplerArg('sampler', args.sampler);
    if (sampler) checkEtaFor(sampler, eta);
    const concurrency = intArg('concurrency', args.concurrency, { min: 1, max: 64 });
    const retries = intArg('retries', args.retries, { min: 0, max: 10 });
    const timeoutMs = 1000 * floatArg('timeout', args.timeout, { min: 0.1, max: 3600 });
    const featureBatch = intArg('features-batch', args['features-batch'], { min: 1, max: 4096 });
    const isSplits = intArg('is-splits', args['is-splits'], { min: 1 });
    const k = intArg('pr-k', args['pr-k'], { min: 1, max: 100 });
    const progress = !args.quiet && !args.json;

    const opened = await openNetworkFromArgs(args);
    // NOTE: compare reports FID only; the spatial role (sFID) would cost a 2048-d Frechet distance per pair.
    const network = opened && { ...opened, outputs: { ...opened.outputs, spatial: undefined } };
    try {
      const reference = await prepareReference(args, network, { batchSize: featureBatch, progress, k });
      const runs: Record<'a' | 'b', EndpointRun> = {} as Record<'a' | 'b', EndpointRun>;
      for (const label of ['a', 'b'] as const) {
        let bar: Progress | undefined;
        runs[label] = await runEndpoint(urls[label], seeds, {
          steps: args.steps,
          eta,
          sampler,
          timeoutMs,
          retries,
          backoffMs: 250,
          concurrency,
          onSample: (done, total) => {
            bar ??= new Progress(`compare ${label}`, total, { enabled: progress, unit: ' seeds' });
            bar.update(done);
          },
        });
      }
      const images = { a: imagesOf(runs.a), b: imagesOf(runs.b) };
      const reports = { a: endpointReport(runs.a), b: endpointReport(runs.b) };
      const pair = pairAgreement(runs.a, runs.b);
      const quality = await qualityOf(network, images, reference, { featureBatch, progress, isSplits, k });

      await mkdir(out, { recursive: true });
      for (const label of ['a', 'b'] as const) {
        const set = images[label];
        if (set) await writeFile(join(out, `${label}.npz`), samplesNpz(set));
      }
      const result = {
        a: reports.a,
        b: reports.b,
        seeds,
        steps: args.steps,
        eta,
        sampler: sampler ?? null,
        concurrency,
        retries,
        pair,
        ...quality.values,
        reasons: quality.reasons,
        features: network?.id ?? null,
        ref: reference.label,
        n_ref: reference.n,
      };
      await writeFile(join(out, 'compare.json'), `${JSON.stringify(result, null, 2)}\n`);
      await writeFile(
        join(out, 'compare.html'),
        compareHtml({
          settings: [
            [
              'seeds',
              `${seeds.length} (${args.seeds ?? `0-${seeds.length - 1}`}), ${sampler ? `${sampler} ` : ''}${args.steps}, eta ${eta}`,
            ],
            ['requests', `concurrency ${concurrency}, ${retries} retries, ${timeoutMs / 1000} s timeout`],
            ['feature network', network ? network.id.name : 'none (no --features)'],
            ['reference', reference.label ?? 'none'],
          ],
          endpoints: (['a', 'b'] as const).map((label) => ({ label, report: reports[label], images: images[label] })),
          pair,
          quality: Object.entries(quality.flat),
          reasons: quality.reasons,
        }),
      );
      const files = { json: join(out, 'compare.json'), html: join(out, 'compare.html') };
      emit(args.json, { ...result, files }, () => humanSummary(reports, pair, quality.flat, out));
    } finally {
      await opened?.release();
    }
  },
});

function checkUrl(flag: string, value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new UsageError(`--${flag} must be a URL such as http://127.0.0.1:8787, got "${value}"`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`--${flag} must be http(s)`);
  return value;
}

function seedList(spec: string | undefined, n: string | undefined): number[] {
  let seeds: number[];
  if (spec) {
    try {
      seeds = parseSeeds(spec);
    } catch (error) {
      throw new UsageError(`--seeds: ${(error as Error).message}`);
    }
    if (n !== undefined && intArg('n', n, { min: 1 }) !== seeds.length) {
      throw new UsageError(`--n ${n} does not match the ${seeds.length} seeds of --seeds ${spec}`);
    }
  } else {
    seeds = Array.from({ length: intArg('n', n, { min: 1, max: 100_000, default: 16 }) }, (_, i) => i);
  }
  return seeds;
}

interface QualityResult {
  values: {
    is: { a: number | null; b: number | null };
    fid: { a_b: number | null; a_ref: number | null; b_ref: number | null };
  };
  flat: Record<string, number | null>;
  reasons: Record<string, string>;
}

async function qualityOf(
  network: FeatureNetwork | undefined,
  images: { a?: Labelled; b?: Labelled },
  reference: PreparedReference,
  o: { featureBatch: number; progress: boolean; isSplits: number; k: number },
): Promise<QualityResult> {
  const reasons: Record<string, string> = {};
  const features: { a?: SetFeatures; b?: SetFeatures } = {};
  for (const label of ['a', 'b'] as const) {
    const set = images[label];
    if (!network) continue;
    if (!set) {
      for (const key of [`is_${label}`, `fid_a_b`, `fid_${label}_ref`])
        reasons[key] = `endpoint ${label} returned no images`;
      continue;
    }
    features[label] = await featuresOf(network, set, {
      batchSize: o.featureBatch,
      onProgress: featureProgress(`features ${label}`, o.progress),
    });
  }
  const flat: Record<string, number | null> = {
    is_a: null,
    is_b: null,
    fid_a_b: null,
    fid_a_ref: null,
    fid_b_ref: null,
  };
  if (!network) {
    for (const key of Object.keys(flat)) reasons[key] = 'no --features (feature network) given';
  }
  for (const label of ['a', 'b'] as const) {
    const f = features[label];
    if (!f) continue;
    const q = scoreAgainst(f, reference.stats, { isSplits: o.isSplits, k: o.k });
    flat[`is_${label}`] = finiteOrNull(q.is);
    if (q.reasons.is) reasons[`is_${label}`] = q.reasons.is;
    flat[`fid_${label}_ref`] = finiteOrNull(q.fid);
    if (q.reasons.fid) reasons[`fid_${label}_ref`] = q.reasons.fid;
  }
  if (features.a && features.b) {
    const q = scoreAgainst(features.b, referenceStatsOf(features.a, o.k), { k: o.k });
    flat.fid_a_b = finiteOrNull(q.fid);
    if (q.reasons.fid) reasons.fid_a_b = q.reasons.fid;
  }
  return {
    values: {
      is: { a: flat.is_a, b: flat.is_b },
      fid: { a_b: flat.fid_a_b, a_ref: flat.fid_a_ref, b_ref: flat.fid_b_ref },
    },
    flat,
    reasons,
  };
}

/** Evaluator-format samples of one endpoint, with the seed of each image. */
function samplesNpz(set: Labelled): Uint8Array {
  return encodeNpz({
    arr_0: { dtype: 'uint8', shape: [set.n, set.h, set.w, set.c], data: set.images },
    seeds: { dtype: 'int64', shape: [set.n], data: BigInt64Array.from(set.seeds, (s) => BigInt(s)) },
  });
}

function humanSummary(
  reports: Record<'a' | 'b', EndpointReport>,
  pair: ReturnType<typeof pairAgreement>,
  quality: Record<string, number | null>,
  out: string,
): string {
  const f = (x: number | null | undefined, d = 1) => (x === null || x === undefined ? '—' : x.toFixed(d));
  const lines = (['a', 'b'] as const).map((label) => {
    const r = reports[label];
    const status = r.ok ? 'ok' : `FAILED ${r.n_failed + r.n_skipped}/${r.n_ok + r.n_failed + r.n_skipped}`;
    const lastError = r.errors.at(-1)?.errors.at(-1);
    return (
      `${label} ${r.url}: ${status}; cold ${f(r.cold?.ms)} ms, warm p50/p95/p99 ${f(r.warm?.p50)}/${f(r.warm?.p95)}/` +
      `${f(r.warm?.p99)} ms${!r.ok && lastError ? ` (${lastError})` : ''}`
    );
  });
  lines.push(
    `same seeds (${pair.n}): PSNR ${f(pair.psnr, 2)} dB${pair.identical ? ' (identical)' : ''}, SSIM ${f(pair.ssim, 4)}`,
  );
  lines.push(
    `FID a-b ${f(quality.fid_a_b, 3)}, a-ref ${f(quality.fid_a_ref, 3)}, b-ref ${f(quality.fid_b_ref, 3)}; ` +
      `IS a ${f(quality.is_a, 3)}, b ${f(quality.is_b, 3)}`,
  );
  lines.push(`-> ${out}`);
  return lines.join('\n');
}
