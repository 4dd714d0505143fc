import { resolve } from 'node:path';
import { defineCommand } from 'citty';
import { intArg, requireArg } from '../cli/args.ts';
import { commonArgs, emit } from '../cli/output.ts';
import { UsageError } from '../errors.ts';
import { finiteOrNull } from '../eval/pixel-metrics.ts';
import { type QualityMetrics, scoreAgainst } from '../eval/quality.ts';
import { checkSameSize, readSampleImages } from '../eval/reference.ts';
import { featuresOf } from '../eval/set-features.ts';
import { deviceRecord } from '../runtime/placement.ts';
import { isS3Uri } from '../store/objects.ts';
import { featureArgs, featureProgress, openNetworkFromArgs, prepareReference, referenceArgs } from './eval-options.ts';

export default defineCommand({
  meta: {
    name: 'eval',
    description:
      'Inception Score, FID, sFID, precision and recall of evaluator-format samples (.npz, arr_0 uint8 NHWC) ' +
      'against reference images or cached reference statistics, with any feature network',
  },
  args: {
    samples: { type: 'string', description: 'samples .npz (arr_0 uint8 [N,H,W,C]; path or s3://)', valueHint: 'FILE' },
    ...referenceArgs,
    ...featureArgs,
    batch: { type: 'string', valueHint: 'B', description: 'images per feature-network call', default: '64' },
    ...commonArgs,
  },
  async run({ args }) {
    const samplesPath = requireArg('samples', args.samples);
    if (!args.features) throw new UsageError('--features is required (inception or an .onnx feature network)');
    const batchSize = intArg('batch', args.batch, { min: 1, max: 4096 });
    const isSplits = intArg('is-splits', args['is-splits'], { min: 1 });
    const k = intArg('pr-k', args['pr-k'], { min: 1, max: 100 });
    const progress = !args.quiet && !args.json;
    const started = performance.now();

    const samples = await readSampleImages(samplesPath, 'samples');
    const network = (await openNetworkFromArgs(args))!;
    try {
      const reference = await prepareReference(args, network, { batchSize, progress, k });
      if (reference.image) checkSameSize(samples, reference.image, 'the reference');
      const features = await featuresOf(network, samples, {
        batchSize,
        onProgress: featureProgress('features samples', progress),
      });
      const metrics = scoreAgainst(features, reference.stats, { isSplits, k });
      const seconds = (performance.now() - started) / 1000;
      emit(
        args.json,
        {
          ...metrics,
          n_samples: samples.n,
          n_ref: reference.n,
          samples: isS3Uri(samplesPath) ? samplesPath : resolve(samplesPath),
          ref: reference.label,
          saved_ref_stats: reference.savedTo ?? null,
          image_size: [samples.h, samples.w, samples.c],
          pr_k: k,
          features: network.id,
          ...deviceRecord(network.device),
          seconds,
        },
        () => humanLines(metrics, samples.n, reference.n, reference.label, seconds),
      );
    } finally {
      await network.release();
    }
  },
});

function humanLines(
  m: QualityMetrics,
  nSamples: number,
  nRef: number | null,
  ref: string | null,
  seconds: number,
): string {
  const value = (key: keyof QualityMetrics, digits: number) => {
    const v = finiteOrNull(m[key] as number | null);
    const reason = m.reasons[key as keyof QualityMetrics['reasons']];
    // A distance of a set to itself can round to -1e-12: print 0.000, not -0.000.
    return v === null ? `n/a (${reason})` : (v + 0).toFixed(digits).replace(/^-(0\.0*)$/, '$1');
  };
  const isText = m.is === null ? value('is', 3) : `${value('is', 3)} ± ${m.is_std?.toFixed(3)} (${m.is_splits} split)`;
  return [
    `${nSamples} samples vs ${ref ? `${nRef ?? '?'} reference images (${ref})` : 'no reference'}, ${seconds.toFixed(1)}s`,
    `  IS         ${isText}`,
    `  FID        ${value('fid', 3)}`,
    `  sFID       ${value('sfid', 3)}`,
    `  precision  ${value('precision', 4)}`,
    `  recall     ${value('recall', 4)}`,
  ].join('\n');
}
