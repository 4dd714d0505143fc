/**
 * Evaluation speed: MNIST-classifier feature extraction on the 1000 held-out digits (padded 28 -> 32, gray -> RGB
 * inside extractFeatures), and the 2048-d Frechet distance, on real spatial features (500 vs 500 images: singular
 * covariances) and on full-rank synthetic features (what Inception pool features with many samples look like).
 * Prints one JSON object; progress on stderr. Usage: node bench/eval.ts [--batch 64] [--skip-full-rank]
 * Needs ../shared (or QDM_SHARED).
 */
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import {
  computeStats,
  decodeIdxImages,
  extractFeatures,
  type FeatureMatrix,
  frechetDistance,
  type GaussianStats,
  paddedDigits,
} from '@qdm/toolchain/eval';
import { syntheticFeatures } from '@qdm/toolchain/testing';
import { provenance } from './lib.ts';
import { machineInfo } from './machine.ts';

// Recorded when the bench starts (the load average beside the run).
const machine = machineInfo();

const { values: args } = parseArgs({
  options: { batch: { type: 'string', default: '64' }, 'skip-full-rank': { type: 'boolean', default: false } },
});
const repoRoot = resolve(import.meta.dirname, '..');
const shared = process.env.QDM_SHARED ?? resolve(repoRoot, '../shared');
const sharedPath = (p: string) => {
  const path = resolve(shared, p);
  if (!existsSync(path)) throw new Error(`missing ${path}: set QDM_SHARED`);
  return path;
};
const reference = JSON.parse(
  readFileSync(resolve(repoRoot, 'toolchain/test/fixtures/eval/reference.json'), 'utf8'),
) as Record<string, { scipy: number; exact: number }>;

/** Wall seconds, and the result. CPU seconds of the last call are in `lastCpuSeconds` (the machine may be shared). */
let lastCpuSeconds = 0;
function timed<T>(f: () => T): [number, T] {
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  const r = f();
  const cpu = process.cpuUsage(c0);
  lastCpuSeconds = (cpu.user + cpu.system) / 1e6;
  return [(performance.now() - t0) / 1000, r];
}

function rows(m: FeatureMatrix, start: number, end: number): FeatureMatrix {
  return { rows: end - start, dim: m.dim, data: m.data.subarray(start * m.dim, end * m.dim) };
}

function frechetCase(a: GaussianStats, b: GaussianStats, ref?: { scipy: number; exact: number }) {
  const [seconds, fid] = timed(() => frechetDistance(a, b));
  const out: Record<string, number> = { dim: a.dim, samples: a.count, seconds, cpu_seconds: lastCpuSeconds, fid };
  if (ref) {
    out.reference_scipy = ref.scipy;
    out.reference_exact = ref.exact;
    out.rel_diff_exact = Math.abs(fid - ref.exact) / Math.max(Math.abs(ref.exact), 1);
  }
  return out;
}

const model = sharedPath('models/mnist-classifier/mnist_classifier.onnx');
const digits = decodeIdxImages(new Uint8Array(readFileSync(sharedPath('data/mnist/t10k-images-idx3-ubyte.gz'))));
const images = paddedDigits(digits, 9000, 10000);
const outputs = { logits: 'logits', pool: 'features', spatial: 'spatial' };
const batchSize = Number(args.batch);
await extractFeatures(model, images.subarray(0, 32 * 32 * batchSize), batchSize, 32, 32, { outputs, batchSize });
const t0 = performance.now();
const features = await extractFeatures(model, images, 1000, 32, 32, {
  outputs,
  batchSize,
  onProgress: (done, total) => process.stderr.write(`\rfeatures ${done}/${total}`),
});
const extractSeconds = (performance.now() - t0) / 1000;
process.stderr.write('\n');

const spatial = features.spatial!;
const [statsSeconds, [spatialA, spatialB]] = timed(() => [
  computeStats(rows(spatial, 0, 500)),
  computeStats(rows(spatial, 500, 1000)),
]);
const statsCpuSeconds = lastCpuSeconds;
process.stderr.write('frechet 2048-d on real spatial features...\n');
const real = frechetCase(spatialA, spatialB, reference.fid_spatial_full);
const realSelf = frechetCase(spatialA, spatialA, reference.fid_spatial_full_self);

let fullRank: Record<string, number> | undefined;
if (!args['skip-full-rank']) {
  process.stderr.write('frechet 2048-d on full-rank synthetic features...\n');
  const [synthStatsSeconds, [sa, sb]] = timed(() => [
    computeStats(syntheticFeatures(2560, 2048, 1, 0)),
    computeStats(syntheticFeatures(2560, 2048, 2, 0.5)),
  ]);
  fullRank = { stats_seconds_per_set: synthStatsSeconds / 2, stats_cpu_seconds_per_set: lastCpuSeconds / 2 };
  Object.assign(fullRank, frechetCase(sa, sb));
}

console.log(
  JSON.stringify({
    ...provenance('eval', machine),
    feature_extraction: {
      model: 'mnist-classifier',
      images: 1000,
      batch: batchSize,
      seconds: extractSeconds,
      images_per_second: 1000 / extractSeconds,
    },
    stats_2048d_500_images_seconds: statsSeconds / 2,
    stats_2048d_500_images_cpu_seconds: statsCpuSeconds / 2,
    frechet_2048d_real_spatial: real,
    frechet_2048d_real_spatial_self: realSelf,
    frechet_2048d_full_rank: fullRank,
  }),
);
