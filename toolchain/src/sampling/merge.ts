/**
 * Merging shard .npz files back into one run. Shards are ordered by their sample_index, must not overlap and
 * must cover a contiguous range; the result is byte-identical to the single run (same arrays, same encoding).
 */
import type { SampleSet } from './files.ts';

export function mergeSampleSets(shards: { path: string; set: SampleSet }[]): SampleSet {
  if (shards.length === 0) throw new Error('merge: no shard files given');
  for (const { path, set } of shards) {
    if (!set.sampleIndex) throw new Error(`${path}: no sample_index array (was it written by \`toolchain sample\`?)`);
  }
  const sorted = [...shards].sort((a, b) => Number(a.set.sampleIndex![0] ?? 0n) - Number(b.set.sampleIndex![0] ?? 0n));
  const { h, w, c } = sorted[0].set;
  let expectedNext = Number(sorted[0].set.sampleIndex![0] ?? 0n);
  let n = 0;
  const withRaw = sorted.every((s) => s.set.raw);
  for (const { path, set } of sorted) {
    if (set.h !== h || set.w !== w || set.c !== c) {
      throw new Error(`${path}: images are ${set.h}x${set.w}x${set.c}, other shards ${h}x${w}x${c}`);
    }
    for (let k = 0; k < set.n; k++) {
      const index = Number(set.sampleIndex![k]);
      if (index !== expectedNext) {
        throw new Error(
          index < expectedNext
            ? `${path}: sample ${index} appears in two shards`
            : `samples ${expectedNext}..${index - 1} are missing (no shard holds them)`,
        );
      }
      expectedNext++;
    }
    n += set.n;
  }
  const size = h * w * c;
  const images = new Uint8Array(n * size);
  const raw = withRaw ? new Float32Array(n * size) : undefined;
  const sampleIndex = new BigInt64Array(n);
  let offset = 0;
  for (const { set } of sorted) {
    images.set(set.images, offset * size);
    raw?.set(set.raw!, offset * size);
    sampleIndex.set(set.sampleIndex!, offset);
    offset += set.n;
  }
  return { images, raw, sampleIndex, n, h, w, c };
}
