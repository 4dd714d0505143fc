import { readFile, stat } from 'node:fs/promises';
import { defineCommand } from 'citty';
import { importCheckpoint, loadFlags } from '../artifact/import.ts';
import { enumArg, intArg, requireArg } from '../cli/args.ts';
import { commonArgs, emit } from '../cli/output.ts';
import { logger } from '../cli/progress.ts';
import { UsageError, UserError } from '../errors.ts';
import { type WinogradTimings, winogradTimingsProblem } from '../onnx/winograd-choice.ts';
import { checkArtifactName } from '../store/location.ts';

export default defineCommand({
  meta: {
    name: 'import',
    description:
      'Import an improved-diffusion checkpoint (PyTorch .pt, .safetensors or .npz) as an fp32 ONNX artifact folder',
  },
  args: {
    checkpoint: {
      type: 'string',
      description: 'checkpoint file (torch.save state_dict, .safetensors, .npz)',
      valueHint: 'FILE',
    },
    flags: {
      type: 'string',
      description:
        'improved-diffusion flags: a JSON file, or the flags string as in its README ("--image_size 32 ...")',
      valueHint: 'FLAGS',
    },
    out: { type: 'string', description: 'artifact folder to write (created if missing)', valueHint: 'DIR' },
    name: {
      type: 'string',
      valueHint: 'NAME',
      description: 'artifact name in the manifest (default: the folder name)',
    },
    winograd: {
      type: 'string',
      description:
        'also write the inference-only variant fp32-winograd, 3x3 convs as Winograd F(NxN,3x3), N = 2 or 4, on the ' +
        'convs where it measures faster: each distinct conv shape is timed in both forms at batch 1 and 16 on the ' +
        'threads sample uses (a few seconds to a minute), then the whole graph; nothing is written if it is not at ' +
        'most 0.9x the plain time. It pays on some CPUs only (docs/results.md#fp32-forward). build-artifact always ' +
        'quantizes the plain fp32 graph. ' +
        'Default: not written',
      valueHint: 'N',
    },
    'winograd-timings': {
      type: 'string',
      description:
        'with --winograd: replay the timings an earlier import recorded (its --json winograd.timings, as a JSON ' +
        'file) instead of measuring, for the same decision on another machine (default: measure)',
      valueHint: 'FILE',
    },
    threads: {
      type: 'string',
      valueHint: 'T',
      description: 'onnxruntime intra-op threads for the --winograd timings (default: what sample picks per batch)',
    },
    ...commonArgs,
  },
  async run({ args }) {
    const log = logger(!args.quiet && !args.json);
    const checkpoint = requireArg('checkpoint', args.checkpoint);
    const flagsValue = requireArg('flags', args.flags);
    const outDir = requireArg('out', args.out);
    const winograd =
      args.winograd === undefined ? undefined : (Number(enumArg('winograd', args.winograd, ['2', '4'])) as 2 | 4);
    const threads = args.threads === undefined ? undefined : intArg('threads', args.threads, { min: 1, max: 256 });
    if (args['winograd-timings'] !== undefined && winograd === undefined) {
      throw new UsageError('--winograd-timings needs --winograd');
    }
    const winogradTimings = winograd && (await readTimings(args['winograd-timings'], winograd));
    if (args.name !== undefined) checkName(args.name);
    await checkOutDir(outDir);
    const flags = await readFlags(flagsValue);
    const result = await importCheckpoint({
      checkpoint,
      flags,
      outDir,
      name: args.name,
      winograd,
      winogradTimings,
      threads,
      log,
    });
    emit(args.json, { artifact: result.outDir, manifest: result.manifest, winograd: result.winograd }, () =>
      [
        `imported ${result.manifest.name}: ${(result.parameters / 1e6).toFixed(2)}M parameters`,
        `  ${result.outDir}/model.fp32.onnx (${(result.fp32Bytes / 1e6).toFixed(1)} MB), manifest.json`,
        ...Object.entries(result.manifest.variants)
          .filter(([, v]) => v.winograd)
          .map(([name, v]) => `  variant ${name}: ${v.file} (${(v.bytes / 1e6).toFixed(1)} MB)`),
        ...(result.winograd && !result.winograd.written ? [`  no fp32-winograd: ${result.winograd.reason}`] : []),
      ].join('\n'),
    );
  },
});

/** --winograd-timings: a file holding what an earlier `import --winograd --json` printed as winograd.timings. */
async function readTimings(path: string | undefined, tile: number): Promise<WinogradTimings | undefined> {
  if (path === undefined) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(await readFile(path, 'utf8'));
  } catch (error) {
    throw new UserError(`--winograd-timings ${path}: ${(error as Error).message}`);
  }
  const problem = winogradTimingsProblem(value, tile);
  if (problem) throw new UserError(`--winograd-timings ${path}: ${problem}`);
  return value as WinogradTimings;
}

/** --out must be a folder (or not exist yet): fail before reading a large checkpoint, not after. */
async function checkOutDir(outDir: string): Promise<void> {
  const found = await stat(outDir).catch(() => undefined);
  if (found && !found.isDirectory()) throw new UserError(`--out ${outDir}: is a file, expected an artifact folder`);
}

/** A --flags value that does not parse (a PNG, a README, a typo'd flag) is named in the message. */
async function readFlags(value: string): Promise<Awaited<ReturnType<typeof loadFlags>>> {
  try {
    return await loadFlags(value);
  } catch (error) {
    const message = (error as Error).message;
    if (message.startsWith('--flags')) throw error;
    throw new UserError(`--flags ${value}: ${message}`, { cause: error });
  }
}

/** The name becomes a folder or key segment when the artifact is pushed: refuse what push would refuse, now. */
function checkName(name: string): void {
  try {
    checkArtifactName(name, '--name');
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}
