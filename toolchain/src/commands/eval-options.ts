/**
 * Flags and set-up shared by `eval`, `table` and `compare`: the feature network (--features ...) and the
 * reference (--ref images or --ref-stats, optionally cached with --save-ref-stats). Not a command itself.
 */

import { resolve } from 'node:path';
import { intArg, outputFileArg } from '../cli/args.ts';
import { deviceArg, deviceArgs } from '../cli/device.ts';
import { Progress } from '../cli/progress.ts';
import { UsageError } from '../errors.ts';
import { type FeatureNetwork, openFeatureNetwork } from '../eval/feature-network.ts';
import { loadReferenceImages, parseReference } from '../eval/reference.ts';
import { checkNetwork, loadReferenceStats, saveReferenceStats } from '../eval/reference-stats.ts';
import { featuresOf, referenceStatsOf } from '../eval/set-features.ts';
import type { ReferenceStats } from '../eval/stats-file.ts';
import { isS3Uri, objectLocation } from '../store/objects.ts';

export const featureArgs = {
  features: {
    type: 'string',
    description:
      'feature network: "inception" (FID Inception-v3 built from pytorch-fid\'s weights, see --features-checkpoint) ' +
      'or an .onnx file taking [N,3,H,W] float32 in [-1,1] (e.g. shared/models/mnist-classifier/mnist_classifier.onnx)',
    valueHint: 'inception|FILE.onnx',
  },
  'features-checkpoint': {
    type: 'string',
    description:
      "with --features inception: pytorch-fid's pt_inception-2015-12-05-6726825d.pth (default: the torch hub " +
      'cache, $TORCH_HOME/hub/checkpoints)',
    valueHint: 'FILE',
  },
  'features-outputs': {
    type: 'string',
    description:
      'ONNX output names for the roles logits (IS), features (FID, precision/recall), spatial (sFID), in that ' +
      'order; "-" or empty skips one (e.g. "logits,features,-"). Default: outputs named logits, features|pool, ' +
      'spatial where present',
    valueHint: 'L,F,S',
  },
  threads: { type: 'string', valueHint: 'T', description: 'onnxruntime intra-op threads (default: all cores)' },
  ...deviceArgs,
} as const;

export const referenceArgs = {
  ref: {
    type: 'string',
    description:
      'reference images: an evaluator .npz (arr_0 uint8 NHWC; path or s3://) or mnist:A-B (MNIST test images A..B, ' +
      'padded to 32x32 RGB)',
    valueHint: 'FILE|mnist:A-B',
  },
  'ref-idx': {
    type: 'string',
    description: 'MNIST IDX images for --ref mnist:A-B (default $QDM_SHARED/data/mnist/t10k-images-idx3-ubyte.gz)',
    valueHint: 'FILE',
  },
  'ref-stats': {
    type: 'string',
    description:
      'cached reference statistics instead of --ref (path or s3://): an .npz from --save-ref-stats, or an ADM ' +
      'evaluator reference batch (moments only: precision/recall are then null, with the reason)',
    valueHint: 'FILE',
  },
  'save-ref-stats': {
    type: 'string',
    description: 'write the statistics of --ref (moments, features, k-NN radii) here (path or s3://) for --ref-stats',
    valueHint: 'FILE',
  },
  'is-splits': {
    type: 'string',
    valueHint: 'K',
    description: 'Inception Score over K equal splits (mean and std)',
    default: '1',
  },
  'pr-k': { type: 'string', valueHint: 'K', description: 'neighbourhood size k of precision/recall', default: '3' },
} as const;

interface FeatureFlagValues {
  features?: string;
  'features-checkpoint'?: string;
  'features-outputs'?: string;
  threads?: string;
  device?: string;
}

interface ReferenceFlagValues {
  ref?: string;
  'ref-idx'?: string;
  'ref-stats'?: string;
  'save-ref-stats'?: string;
}

export async function openNetworkFromArgs(args: FeatureFlagValues): Promise<FeatureNetwork | undefined> {
  if (!args.features) {
    if (args['features-checkpoint'] || args['features-outputs']) throw new UsageError('--features is required');
    return undefined;
  }
  const threads = args.threads === undefined ? undefined : intArg('threads', args.threads, { min: 1, max: 256 });
  return openFeatureNetwork({
    features: args.features,
    checkpoint: args['features-checkpoint'],
    outputs: args['features-outputs'],
    threads,
    device: await deviceArg(args.device),
  });
}

export function checkReferenceFlags(args: ReferenceFlagValues): void {
  if (args.ref && args['ref-stats']) throw new UsageError('give --ref or --ref-stats, not both');
  if (args['save-ref-stats'] && !args.ref) throw new UsageError('--save-ref-stats needs --ref images');
  if (args['ref-idx'] && !args.ref?.startsWith('mnist')) throw new UsageError('--ref-idx goes with --ref mnist:A-B');
  // Checked before the reference features are computed, which can take minutes.
  const save = args['save-ref-stats'];
  if (save) {
    outputFileArg('save-ref-stats', save, '.npz');
    if (isS3Uri(save)) objectLocation(save);
  }
}

export interface PreparedReference {
  stats?: ReferenceStats;
  /** Number of reference images (from the file's record for --ref-stats; null when unknown). */
  n: number | null;
  label: string | null;
  /** Image size, for the same-size check (unknown for ADM files). */
  image?: { h: number; w: number };
  savedTo?: string;
}

/** Feature progress on stderr. */
export function featureProgress(label: string, enabled: boolean): (done: number, total: number) => void {
  let bar: Progress | undefined;
  return (done, total) => {
    bar ??= new Progress(label, total, { enabled, unit: ' images' });
    bar.update(done);
  };
}

/** The reference statistics from --ref (features computed now, saved if asked) or --ref-stats. */
export async function prepareReference(
  args: ReferenceFlagValues,
  network: FeatureNetwork | undefined,
  options: { batchSize: number; progress: boolean; k: number },
): Promise<PreparedReference> {
  checkReferenceFlags(args);
  if (!args.ref && !args['ref-stats']) return { n: null, label: null };
  if (!network) throw new UsageError(`--${args.ref ? 'ref' : 'ref-stats'} needs --features (the feature network)`);
  if (args['ref-stats']) {
    const path = args['ref-stats'];
    const saved = await loadReferenceStats(path);
    checkNetwork(saved, network.id, path);
    const count = saved.record?.count ?? saved.stats.pool?.count ?? saved.stats.poolFeatures?.rows ?? null;
    return { stats: saved.stats, n: count || null, label: path, image: saved.record?.image };
  }
  const images = await loadReferenceImages(parseReference(args.ref!, args['ref-idx']));
  const features = await featuresOf(network, images, {
    batchSize: options.batchSize,
    onProgress: featureProgress('features reference', options.progress),
  });
  const stats = referenceStatsOf(features, options.k);
  let savedTo: string | undefined;
  if (args['save-ref-stats']) {
    savedTo = args['save-ref-stats'];
    await saveReferenceStats(savedTo, {
      stats,
      record: {
        network: network.id,
        image: { h: images.h, w: images.w, c: images.c },
        count: images.n,
        source: images.label,
      },
    });
    if (!isS3Uri(savedTo)) savedTo = resolve(savedTo);
  }
  return { stats, n: images.n, label: images.label, image: { h: images.h, w: images.w }, savedTo };
}
