/**
 * The `toolchain` entry: lazy-loaded subcommands (one module each, under ../commands), `--help` generated from
 * their declared args, unknown flags refused, and one error policy for all of them (see errors.ts).
 */

import { ManifestError, NpyError, PngError } from '@qdm/shared';
import { type ArgsDef, type CommandDef, runCommand } from 'citty';
import { CLIError, UsageError } from '../errors.ts';
import { renderHelp } from './help.ts';

type Loader = () => Promise<CommandDef<ArgsDef>>;
const load =
  (modulePath: string): Loader =>
  () =>
    import(modulePath).then((m) => m.default as CommandDef<ArgsDef>);

export const commands: Record<string, Loader> = {
  import: load('../commands/import.ts'),
  sample: load('../commands/sample.ts'),
  'fetch-model': load('../commands/fetch-model.ts'),
  'build-artifact': load('../commands/build-artifact.ts'),
  push: load('../commands/push.ts'),
  pull: load('../commands/pull.ts'),
  ls: load('../commands/ls.ts'),
  eval: load('../commands/eval.ts'),
  table: load('../commands/table.ts'),
  compare: load('../commands/compare.ts'),
  merge: load('../commands/merge.ts'),
  demo: load('../commands/demo.ts'),
};

const descriptions: Record<string, string> = {
  import: 'import an improved-diffusion checkpoint as an fp32 ONNX artifact',
  sample: 'DDIM/DDPM sampling from an artifact variant to .npz (+ PNG grid)',
  'fetch-model': 'download a published improved-diffusion checkpoint (cifar10, imagenet64) with its flags',
  'build-artifact': 'calibrate, quantize the whole U-Net, reconstruct, write int8 ONNX to a folder or S3',
  push: 'publish a local artifact folder to s3://bucket/prefix atomically',
  pull: 'download an artifact from S3 (verified against its manifest)',
  ls: 'list artifacts in a folder or S3 prefix',
  eval: 'IS, FID, sFID, precision/recall of samples against a reference',
  table: 'sample fp32 and every int8 variant with the same seeds and tabulate quality',
  compare: 'compare two /sample endpoints: latency, same-seed PSNR/SSIM, FID',
  merge: 'merge sharded sample .npz files into one',
  demo: 'the quick-start job: import ../shared/models/mnist32, build int8, sample both',
};

function rootUsage(): string {
  const width = Math.max(...Object.keys(descriptions).map((k) => k.length));
  const lines = Object.entries(descriptions).map(([k, d]) => `  ${k.padEnd(width)}  ${d}`);
  return [
    'qdm toolchain: quantize improved-diffusion U-Nets to int8 ONNX, evaluate them and publish artifacts',
    '',
    'Usage: toolchain <command> [options]    (toolchain help <command>, or <command> --help, for its options)',
    '',
    'Commands:',
    ...lines,
    '',
    'Every command takes --json (one JSON object on stdout). Progress goes to stderr.',
  ].join('\n');
}

function kebab(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

/** citty ignores unknown flags; a typo such as --step for --steps must not silently fall back to a default. */
function checkFlags(argsDef: ArgsDef, rawArgs: string[], command: string): void {
  const known = new Set<string>(['help', 'h']);
  for (const [name, def] of Object.entries(argsDef)) {
    known.add(name);
    known.add(kebab(name));
    if (def.type === 'boolean') known.add(`no-${kebab(name)}`);
    const alias = (def as { alias?: string | string[] }).alias;
    for (const a of Array.isArray(alias) ? alias : alias ? [alias] : []) known.add(a);
  }
  for (const [i, arg] of rawArgs.entries()) {
    if (arg === '--') break;
    if (!arg.startsWith('-') || /^-\d/.test(arg)) continue;
    const flag = arg.replace(/^--?/, '').split('=')[0];
    if (known.has(flag)) continue;
    const before = rawArgs[i - 1];
    const name = before?.replace(/^--/, '');
    if (name && before.startsWith('--') && argsDef[name]?.type === 'string') {
      // `--flags --image_size 32 ...` unquoted: the option before lost its value to the shell's word splitting.
      throw new UsageError(
        `${before} has no value (${arg} is not an option of "${command}"); quote a value that starts with "-": ${before} "${arg} ..."`,
      );
    }
    throw new UsageError(`unknown option ${arg.split('=')[0]} for "${command}" (see toolchain ${command} --help)`);
  }
}

/**
 * `--flags "--image_size 32 ..."` (improved-diffusion's flags pasted as one value, as the README shows): the
 * parser would read a value starting with "-" as another option. A single argument that starts with "-" and holds
 * whitespace cannot be an option, so it is joined to the string option before it as `--flags=...`.
 */
export function joinDashValues(argsDef: ArgsDef, rawArgs: string[]): string[] {
  const stringFlags = new Set<string>();
  for (const [name, def] of Object.entries(argsDef)) {
    if (def.type === 'string') stringFlags.add(`--${name}`).add(`--${kebab(name)}`);
  }
  const out: string[] = [];
  for (let i = 0; i < rawArgs.length; i++) {
    const arg = rawArgs[i];
    const next = rawArgs[i + 1];
    if (stringFlags.has(arg) && next?.startsWith('-') && /\s/.test(next)) {
      out.push(`${arg}=${next}`);
      i++;
    } else {
      out.push(arg);
    }
  }
  return out;
}

/** File system errors a user can fix, as one line naming the path. */
const FILE_ERRORS: Record<string, string> = {
  ENOENT: 'no such file or directory',
  EEXIST: 'already exists (and is not a folder that can be written into)',
  ENOTDIR: 'a part of this path is a file, not a folder',
  EISDIR: 'is a folder, expected a file',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'read-only file system',
  ENOSPC: 'no space left on the device',
};

function fileErrorMessage(error: unknown): string | undefined {
  if (!(error instanceof Error)) return undefined;
  const { code, path } = error as NodeJS.ErrnoException;
  const text = code ? FILE_ERRORS[code] : undefined;
  return text ? `${path ?? 'file'}: ${text}` : undefined;
}

function wantsJson(rawArgs: string[]): boolean {
  return rawArgs.includes('--json');
}

export async function main(rawArgs: string[]): Promise<number> {
  // `toolchain help sample` is `toolchain sample --help`.
  if (rawArgs[0] === 'help' && rawArgs[1] && commands[rawArgs[1]]) return main([rawArgs[1], '--help']);
  const [name, ...rest] = rawArgs;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(`${rootUsage()}\n`);
    return name ? 0 : 2;
  }
  if (name === '--version' || name === '-v') {
    process.stdout.write('0.1.0\n');
    return 0;
  }
  const loader = commands[name];
  if (!loader) {
    process.stderr.write(`toolchain: unknown command "${name}"\n\n${rootUsage()}\n`);
    return 2;
  }
  try {
    const cmd = await loader();
    const argsDef = ((typeof cmd.args === 'function' ? await cmd.args() : await cmd.args) ?? {}) as ArgsDef;
    if (rest.includes('--help') || rest.includes('-h')) {
      const meta = (typeof cmd.meta === 'function' ? await cmd.meta() : await cmd.meta) ?? {};
      process.stdout.write(`${renderHelp(name, meta, argsDef, process.stdout.columns)}\n`);
      return 0;
    }
    const args = joinDashValues(argsDef, rest);
    checkFlags(argsDef, args, name);
    await runCommand(cmd, { rawArgs: args });
    return 0;
  } catch (error) {
    return reportError(error, name, wantsJson(rest));
  }
}

/**
 * The error as a CLIError: itself, citty's own (a usage error), an error of the shared codecs (bad input files), a
 * file system error naming its path; undefined for anything else, a bug.
 */
export function asCliError(error: unknown): CLIError | undefined {
  if (error instanceof CLIError) return error;
  if (!(error instanceof Error)) return undefined;
  if (error.name === 'CLIError') return new UsageError(error.message, { cause: error }); // citty's
  if (error instanceof ManifestError || error instanceof NpyError || error instanceof PngError) {
    return new CLIError(error.message, 1, { cause: error });
  }
  const file = fileErrorMessage(error);
  return file ? new CLIError(file, 1, { cause: error }) : undefined;
}

function reportError(error: unknown, command: string, json: boolean): number {
  const debug = process.env.QDM_DEBUG === '1';
  const known = asCliError(error);
  const code = known?.code ?? 1;
  const message =
    known?.message ??
    `internal error: ${error instanceof Error ? error.message : String(error)} (QDM_DEBUG=1 shows the stack)`;
  if (json) process.stdout.write(`${JSON.stringify({ ok: false, command, error: message, exitCode: code })}\n`);
  process.stderr.write(`toolchain ${command}: ${message}\n`);
  if (code === 2) process.stderr.write(`see: toolchain ${command} --help\n`);
  for (let e = error; debug && e instanceof Error; e = e.cause) if (e.stack) process.stderr.write(`${e.stack}\n`);
  return code;
}
