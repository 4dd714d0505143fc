import { join, resolve } from 'node:path';
import { defineCommand } from 'citty';
import { writeFileAtomic } from '../artifact/folder.ts';
import { commonArgs, emit } from '../cli/output.ts';
import { Progress } from '../cli/progress.ts';
import { UsageError } from '../errors.ts';
import { downloadFile } from '../fetch/download.ts';
import { isPublishedModelName, PUBLISHED_MODELS, publishedModel } from '../fetch/models.ts';

const names = Object.keys(PUBLISHED_MODELS).join(', ');

export default defineCommand({
  meta: {
    name: 'fetch-model',
    description: `Download a published improved-diffusion checkpoint (${names}) and write its flags.json beside it`,
  },
  args: {
    model: { type: 'positional', description: `one of ${names}`, required: true },
    out: {
      type: 'string',
      valueHint: 'DIR',
      description: 'folder for <checkpoint>.pt and <model>.flags.json',
      default: 'models',
    },
    url: {
      type: 'string',
      valueHint: 'URL',
      description: 'download from this URL instead (a mirror); same size checks',
    },
    ...commonArgs,
  },
  async run({ args }) {
    if (!isPublishedModelName(args.model)) throw new UsageError(`unknown model "${args.model}" (known: ${names})`);
    const model = publishedModel(args.model);
    if (args.url !== undefined) checkUrl(args.url);
    const dir = resolve(args.out);
    const dest = join(dir, model.file);
    let bar: Progress | undefined;
    const result = await downloadFile(args.url ?? model.url, dest, {
      expectedBytes: model.bytes,
      sha256: model.sha256,
      onProgress: ({ receivedBytes, totalBytes }) => {
        bar ??= new Progress(`fetch ${model.file}`, totalBytes ?? 0, { enabled: !args.quiet && !args.json, unit: 'B' });
        bar.update(receivedBytes);
      },
    });
    const flagsPath = join(dir, `${model.name}.flags.json`);
    await writeFileAtomic(dir, `${model.name}.flags.json`, `${JSON.stringify(model.flags, null, 2)}\n`);
    emit(
      args.json,
      {
        model: model.name,
        checkpoint: result.path,
        flags: flagsPath,
        bytes: result.bytes,
        sha256: result.sha256,
        resumedBytes: result.resumedBytes,
      },
      () =>
        [
          `${model.name}: ${result.path} (${(result.bytes / 1e6).toFixed(1)} MB${result.resumedBytes ? `, resumed at ${(result.resumedBytes / 1e6).toFixed(1)} MB` : ''})`,
          `  flags: ${flagsPath}`,
          `  next: toolchain import --checkpoint ${result.path} --flags ${flagsPath} --out artifacts/${model.name}`,
        ].join('\n'),
    );
  },
});

function checkUrl(url: string): void {
  let protocol: string;
  try {
    protocol = new URL(url).protocol;
  } catch {
    throw new UsageError(`--url must be an http(s) URL, got "${url}"`);
  }
  if (protocol !== 'http:' && protocol !== 'https:') throw new UsageError(`--url must be an http(s) URL, got "${url}"`);
}
