/**
 * Reference statistics files written by `--save-ref-stats` and read by `--ref-stats` (local path or s3://): the
 * stats-file.ts arrays (moments, pool features and their radii, so precision/recall work from the file alone) plus
 * `qdm_reference`, UTF-8 JSON saying which network made them (name, sha256 of its ONNX bytes, outputs), the image
 * size and where the images came from. A file made by another network is refused; ADM evaluator files carry no
 * such record and are taken as they are (their TF-Inception moments only match the same network).
 */
import { decodeNpz, encodeNpz } from '@qdm/shared';
import { readBytes, writeBytes } from '../store/objects.ts';
import { EvaluationError } from './errors.ts';
import type { FeatureNetworkId } from './feature-network.ts';
import { decodeStats, encodeStats, type ReferenceStats } from './stats-file.ts';

const RECORD_KEY = 'qdm_reference';

export interface ReferenceRecord {
  network: FeatureNetworkId;
  image: { h: number; w: number; c: number };
  count: number;
  source: string;
}

export interface SavedReference {
  stats: ReferenceStats;
  record?: ReferenceRecord;
}

export async function saveReferenceStats(path: string, saved: SavedReference): Promise<void> {
  const arrays = encodeStats(saved.stats);
  if (saved.record) {
    const json = new TextEncoder().encode(JSON.stringify(saved.record));
    arrays[RECORD_KEY] = { dtype: 'uint8', shape: [json.length], data: json };
  }
  await writeBytes(path, encodeNpz(arrays));
}

export async function loadReferenceStats(path: string): Promise<SavedReference> {
  let bytes: Uint8Array;
  try {
    bytes = await readBytes(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT')
      throw new EvaluationError(`--ref-stats ${path}: no such file`);
    throw error;
  }
  try {
    const arrays = decodeNpz(bytes);
    const recordBytes = arrays[RECORD_KEY];
    const record = recordBytes
      ? (JSON.parse(new TextDecoder().decode(recordBytes.data as Uint8Array)) as ReferenceRecord)
      : undefined;
    const stats = decodeStats(arrays);
    if (!stats.pool && !stats.spatial && !stats.poolFeatures)
      throw new Error('no mu/sigma, mu_s/sigma_s or pool_features');
    return { stats, record };
  } catch (error) {
    throw new EvaluationError(`--ref-stats ${path}: not a reference statistics file (${(error as Error).message})`);
  }
}

/** Refuses statistics made by another network, or from other outputs of it for a role both have. */
export function checkNetwork(saved: SavedReference, network: FeatureNetworkId, path: string): void {
  const made = saved.record?.network;
  if (!made) return;
  const roles = ['pool', 'spatial'] as const;
  const sameOutputs = roles.every(
    (r) => !made.outputs[r] || !network.outputs[r] || made.outputs[r] === network.outputs[r],
  );
  if (made.sha256 !== network.sha256 || !sameOutputs) {
    throw new EvaluationError(
      `--ref-stats ${path} was computed with ${made.name} (sha256 ${made.sha256.slice(0, 12)}, outputs ` +
        `${JSON.stringify(made.outputs)}), not this feature network (${network.name}, sha256 ` +
        `${network.sha256.slice(0, 12)}, outputs ${JSON.stringify(network.outputs)})`,
    );
  }
}
