/**
 * The programs a user runs, as child processes: the `toolchain` CLI and the Node edge server (`npm run serve`).
 * Asynchronous on purpose: s3rver runs in the test process and must keep answering while a child works.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { resolve } from 'node:path';

export const repoRoot = resolve(import.meta.dirname, '../../..');
const toolchainBin = resolve(repoRoot, 'toolchain/bin/toolchain.js');
const edgeEntry = resolve(repoRoot, 'edge/src/node.ts');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
  seconds: number;
}

/** `toolchain ARGS` with the Node running the tests (22+); killed after `timeoutMs`. */
export function toolchain(args: string[], env: Record<string, string> = {}, timeoutMs = 280_000): Promise<CliResult> {
  const started = performance.now();
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [toolchainBin, ...args], {
      cwd: repoRoot,
      env: { ...process.env, ...env },
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
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', fail);
    child.on('close', (code) => {
      clearTimeout(timer);
      done({ code: code ?? -1, stdout, stderr, seconds: (performance.now() - started) / 1000 });
    });
  });
}

/** Throws with the command's stderr unless it exited 0. */
export async function toolchainOk(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  const result = await toolchain(args, env);
  if (result.code !== 0) {
    throw new Error(`toolchain ${args.join(' ')} exited ${result.code}:\n${result.stderr.trim().slice(-3000)}`);
  }
  return result;
}

export interface EdgeServer {
  base: string;
  /** Everything the server wrote to stderr so far. */
  log(): string;
  stop(): Promise<void>;
}

/** `npm run serve -w edge` on 127.0.0.1 and a free port, with the given QDM_* / AWS_* settings. */
export function startEdge(env: Record<string, string>): Promise<EdgeServer> {
  const child: ChildProcess = spawn(process.execPath, [edgeEntry], {
    cwd: resolve(repoRoot, 'edge'),
    env: { ...process.env, HOST: '127.0.0.1', PORT: '0', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let output = '';
  let up = false;
  return new Promise((ready, fail) => {
    const timer = setTimeout(() => fail(new Error(`edge server not up after 60 s:\n${output}`)), 60_000);
    child.stderr?.setEncoding('utf8').on('data', (s: string) => {
      output += s;
      const listening = /qdm edge on (http:\/\/127\.0\.0\.1:\d+)/.exec(output);
      if (listening && !up) {
        up = true;
        clearTimeout(timer);
        ready({
          base: listening[1],
          log: () => output,
          stop: () =>
            new Promise<void>((stopped) => {
              if (child.exitCode !== null) return stopped();
              child.once('exit', () => stopped());
              child.kill('SIGTERM');
            }),
        });
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      if (!up) fail(new Error(`edge server exited (${code}):\n${output}`));
    });
  });
}
