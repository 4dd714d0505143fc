// `npm run serve` with a bad setting or a busy port: one line naming the problem and exit 1, no stack trace.
import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const entry = fileURLToPath(new URL('../../src/node.ts', import.meta.url));
let busy: Server;
let busyPort: number;

beforeAll(async () => {
  busy = createServer();
  await new Promise<void>((ready) => busy.listen(0, '127.0.0.1', ready));
  busyPort = (busy.address() as { port: number }).port;
});
afterAll(() => new Promise<void>((done) => busy.close(() => done())));

function start(env: Record<string, string>): Promise<{ code: number | null; stderr: string }> {
  return new Promise((done) => {
    const child = spawn(process.execPath, [entry], {
      env: { ...process.env, HOST: '127.0.0.1', ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (s: string) => {
      stderr += s;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      done({ code, stderr });
    });
  });
}

describe('the Node entry refuses to start, in one line', () => {
  it.each([
    [{ PORT: 'abc' }, /^qdm edge: PORT must be an integer in 0\.\.65535, got "abc"$/],
    [{ PORT: '0', QDM_MAX_N: 'zero' }, /^qdm edge: QDM_MAX_N must be a positive integer, got zero$/],
    [{ PORT: '0', QDM_ARTIFACTS: 's3://' }, /^qdm edge: QDM_ARTIFACTS: .*s3:\/\//],
    [{ PORT: '0', QDM_RUNTIME: 'gpu' }, /^qdm edge: QDM_RUNTIME must be one of native, wasm, got "gpu"$/],
    [{ PORT: '0', QDM_EP: 'tpu' }, /^qdm edge: QDM_EP must be one of cpu, webgpu, cuda, got "tpu"$/],
    [{ PORT: '0', QDM_THREADS: '0' }, /^qdm edge: QDM_THREADS must be a positive integer, got "0"$/],
    [{ PORT: '0', QDM_RUNTIME: 'wasm', QDM_EP: 'cuda' }, /^qdm edge: QDM_EP applies to QDM_RUNTIME=native only/],
    // This machine has no CUDA provider files (package.json's allowScripts skips onnxruntime-node's install step).
    [
      { PORT: '0', QDM_EP: 'cuda' },
      /^qdm edge: QDM_EP=cuda: onnxruntime-node's CUDA provider is not installed; install .*ONNXRUNTIME_NODE_INSTALL=cuda12/,
    ],
    [{ PORT: '0', QDM_MAX_QUEUE_MS: '-5' }, /^qdm edge: QDM_MAX_QUEUE_MS must be a positive integer, got -5$/],
  ])('%o', async (env, message) => {
    const { code, stderr } = await start(env);
    expect(code).toBe(1);
    expect(stderr.trim()).toMatch(message);
    expect(stderr.trim().split('\n')).toHaveLength(1);
  });

  it('names a port that is already in use', async () => {
    const { code, stderr } = await start({ PORT: String(busyPort) });
    expect(code).toBe(1);
    expect(stderr.trim()).toBe(`qdm edge: 127.0.0.1:${busyPort} is already in use (set PORT to another port)`);
  });
});
