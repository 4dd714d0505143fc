import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { repoRoot, sharedPath } from './paths.ts';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs the real `toolchain` binary with the Node running the tests (22+), or with `runtime` (a command and its
 * arguments before the script, e.g. Deno's `[deno, 'run', '-A']`). Asynchronous on purpose: servers the test
 * started in this process (s3rver, HTTP) must keep answering while the child runs.
 */
export function runCli(
  args: string[],
  options: { cwd?: string; env?: Record<string, string>; runtime?: string[] } = {},
): Promise<CliResult> {
  const [command, ...before] = options.runtime ?? [process.execPath];
  return new Promise((done, fail) => {
    const child = spawn(command, [...before, resolve(repoRoot, 'toolchain/bin/toolchain.js'), ...args], {
      cwd: options.cwd ?? repoRoot,
      env: { ...process.env, ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => {
      stdout += s;
    });
    child.stderr.setEncoding('utf8').on('data', (s: string) => {
      stderr += s;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 300_000);
    child.on('error', fail);
    child.on('close', (code) => {
      clearTimeout(timer);
      done({ code: code ?? -1, stdout, stderr });
    });
  });
}

/** `toolchain import` of the trained mnist32 checkpoint in ../shared into `out`; fails the test if it fails. */
export async function importMnist32(out: string): Promise<void> {
  const imported = await runCli([
    'import',
    '--checkpoint',
    sharedPath('models/mnist32/ema.pt'),
    '--flags',
    sharedPath('models/mnist32/flags.json'),
    '--out',
    out,
    '--quiet',
  ]);
  if (imported.code !== 0) throw new Error(`toolchain import failed (${imported.code}): ${imported.stderr}`);
}
