import { resolve } from 'node:path';
import { defineCommand } from 'citty';
import { outputFileArg } from '../cli/args.ts';
import { commonArgs, emit } from '../cli/output.ts';
import { UsageError } from '../errors.ts';
import { readSamples, writeSamples } from '../sampling/files.ts';
import { mergeSampleSets } from '../sampling/merge.ts';
import { isS3Uri, objectLocation } from '../store/objects.ts';

export default defineCommand({
  meta: {
    name: 'merge',
    description:
      'Merge shard .npz files (paths or s3:// URIs, any order) from `toolchain sample --shard i/n` into the file one big run would write: toolchain merge --out all.npz shard-*.npz',
  },
  args: {
    out: { type: 'string', description: 'merged .npz to write', valueHint: 'FILE' },
    shards: {
      type: 'positional',
      description: 'the shard .npz files (paths or s3:// URIs), any order',
      required: false,
    },
    ...commonArgs,
  },
  async run({ args }) {
    const out = outputFileArg('out', args.out, '.npz');
    if (isS3Uri(out)) objectLocation(out);
    const files = args._.filter((a) => a.length > 0);
    if (files.length === 0)
      throw new UsageError('give the shard .npz files to merge: toolchain merge --out all.npz a.npz b.npz');
    const shards = await Promise.all(files.map(async (path) => ({ path, set: await readSamples(path) })));
    const merged = mergeSampleSets(shards);
    await writeSamples(out, merged);
    emit(
      args.json,
      { out: isS3Uri(out) ? out : resolve(out), n: merged.n, shards: files.length },
      () => `merged ${files.length} shards, ${merged.n} samples -> ${out}`,
    );
  },
});
