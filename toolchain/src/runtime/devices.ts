/**
 * The devices the toolchain runs models on, as a small registry of onnxruntime execution providers (the way
 * onnxruntime's own backends register): each entry says which EP it is, how to tell whether it can run here and what
 * to install when it cannot. Callers pass a `Device` to createSession (ort.ts) and never branch on it.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CLIError } from '../errors.ts';

export type Device = 'cpu' | 'cuda' | 'webgpu';
export type DeviceChoice = Device | 'auto';
export const DEVICE_CHOICES: readonly DeviceChoice[] = ['cpu', 'cuda', 'webgpu', 'auto'];
/** What `--device auto` tries, in order; cpu always works. */
export const AUTO_ORDER: readonly Device[] = ['cuda', 'webgpu'];

export interface ExecutionProviderEntry {
  device: Device;
  /** onnxruntime's name in `executionProviders`. */
  ep: string;
  /** The provider name onnxruntime writes in its profile (`args.provider` of each node event). */
  profileName: string;
  /** A quick local check before any probe: why the EP cannot load here, or undefined. */
  missing?: () => string | undefined;
  /** What to install (or set) when it is not available: the tail of the one-line error. */
  install: string;
}

/** Thrown when a requested EP cannot run here: a user-facing failure (exit 1) naming what to install. */
export class DeviceUnavailableError extends CLIError {
  override name = 'DeviceUnavailableError';
}

const registry = new Map<Device, ExecutionProviderEntry>();

export function registerExecutionProvider(entry: ExecutionProviderEntry): void {
  registry.set(entry.device, entry);
}

export function executionProvider(device: Device): ExecutionProviderEntry {
  const entry = registry.get(device);
  if (!entry) throw new Error(`no execution provider registered for device ${device}`);
  return entry;
}

/** onnxruntime-node's native folder (where the optional CUDA provider libraries land after its install script). */
function ortBinaryDir(): string {
  const index = createRequire(import.meta.url).resolve('onnxruntime-node');
  return join(dirname(index), '..', 'bin', 'napi-v6', process.platform, process.arch);
}

export const CUDA_INSTALL =
  'install onnxruntime-node\'s CUDA 12 provider: "ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules/onnxruntime-node/script/install" ' +
  '(needs an NVIDIA driver, CUDA 12 and cuDNN 9)';
export const WEBGPU_INSTALL =
  "needs a Vulkan driver (libvulkan1 and the GPU vendor's driver); without a GPU, Debian's chromium ships SwiftShader: " +
  'LD_LIBRARY_PATH=/usr/lib/chromium VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json';

registerExecutionProvider({ device: 'cpu', ep: 'cpu', profileName: 'CPUExecutionProvider', install: '' });
registerExecutionProvider({
  device: 'cuda',
  ep: 'cuda',
  profileName: 'CUDAExecutionProvider',
  missing: () =>
    existsSync(join(ortBinaryDir(), 'libonnxruntime_providers_cuda.so'))
      ? undefined
      : 'onnxruntime-node has no CUDA provider files',
  install: CUDA_INSTALL,
});
registerExecutionProvider({
  device: 'webgpu',
  ep: 'webgpu',
  profileName: 'WebGpuExecutionProvider',
  install: WEBGPU_INSTALL,
});

/** probe-device.ts beside this file; in a bundle (the device pack, infra/device-pack), the bundled probe-device.mjs. */
const PROBE_SCRIPT = ((here) =>
  [join(here, 'probe-device.ts'), join(here, 'probe-device.mjs')].find((f) => existsSync(f)) ??
  join(here, 'probe-device.ts'))(dirname(fileURLToPath(import.meta.url)));
const probes = new Map<Device, Promise<string | undefined>>();

/**
 * Whether `device` can run a model here: undefined, or why not. The probe creates and runs a one-node model in a
 * child process: a missing driver makes onnxruntime/Dawn print native log lines (and can abort the process), which
 * must not reach the user's terminal or kill the command.
 */
export function deviceProblem(device: Device): Promise<string | undefined> {
  if (device === 'cpu') return Promise.resolve(undefined);
  let probe = probes.get(device);
  if (!probe) {
    const quick = executionProvider(device).missing?.();
    probe = quick ? Promise.resolve(quick) : runProbe(executionProvider(device).ep);
    probes.set(device, probe);
  }
  return probe;
}

function runProbe(ep: string): Promise<string | undefined> {
  return new Promise((done) => {
    const child = spawn(process.execPath, [PROBE_SCRIPT, ep], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => {
      stdout += s;
    });
    child.stderr.setEncoding('utf8').on('data', (s: string) => {
      stderr += s;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.on('error', (error) => done(`cannot start the probe: ${error.message}`));
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const line = stdout.trim().split('\n').at(-1) ?? '';
      try {
        const result = JSON.parse(line) as { ok: boolean; error?: string };
        done(result.ok ? undefined : shortReason(result.error ?? 'failed'));
      } catch {
        done(
          `the probe ${signal ? `was killed (${signal})` : `exited ${code}`}: ${shortReason(stderr) || 'no output'}`,
        );
      }
    });
  });
}

/** onnxruntime's messages carry source paths and stack text: keep the first sentence of the last meaningful line. */
export function shortReason(message: string): string {
  const lines = message
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  const line = lines.find((l) => /adapter|load|library|not found|cannot open/i.test(l)) ?? lines.at(-1) ?? '';
  // NOTE: onnxruntime's check failures read "<file:line> <function> <condition> was false. <the reason>".
  const failed = /\b(Failed to [^\n]*)$/.exec(line);
  if (failed) return failed[1].slice(0, 200);
  return line
    .replace(/^.*?\] /, '')
    .replace(/\/onnxruntime_src\/\S+ /g, '')
    .replace(/\s+at .*$/, '')
    .slice(0, 200);
}

/**
 * `--device` -> the device to use: cpu as is; cuda/webgpu only if they run here (else a one-line error naming what
 * to install); auto = the first of cuda, webgpu that runs, else cpu.
 */
export async function resolveDevice(
  choice: DeviceChoice,
  problem: (device: Device) => Promise<string | undefined> = deviceProblem,
): Promise<Device> {
  if (choice === 'auto') {
    for (const device of AUTO_ORDER) if (!(await problem(device))) return device;
    return 'cpu';
  }
  if (choice === 'cpu') return 'cpu';
  const why = await problem(choice);
  if (why) throw new DeviceUnavailableError(`--device ${choice}: ${why}; ${executionProvider(choice).install}`);
  return choice;
}
