/**
 * The device pack (infra/device-pack, docs/gpu.md "Running the GPU pack"): built here without downloads, it stays
 * within its size limit, carries Node, onnxruntime-node's binding, the bundled bench and run.sh, and runs in an
 * empty environment (`env -i PATH=/usr/bin:/bin`: no project Node, no node_modules) on the tiny U-Net: on the CPU
 * with the build phases, and on WebGPU through SwiftShader where Debian's chromium is installed.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ARCHIVE_NAME, buildPack, MAX_BYTES, PACK_NAME } from '../../infra/device-pack/pack.ts';

const run = promisify(execFile);
const SWIFTSHADER = '/usr/lib/chromium/vk_swiftshader_icd.json';

let dir: string;
let pack: { archive: string; bytes: number; vulkan: boolean };

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'qdm-device-pack-'));
  pack = await buildPack(join(dir, 'out'), { download: false, log: () => {} });
}, 60_000);
afterAll(() => rm(dir, { recursive: true, force: true }));

interface GpuJson {
  commit: string;
  machine: { node: string };
  devices: string[];
  vulkanIcd: string | null;
  unavailable: Record<string, string>;
  results: Record<
    string,
    {
      sampling: { batch: number; loopSteps: number; imagesPerSecond: number }[];
      build: { phases: { name: string; device: string; seconds: number }[] } | null;
      placement: { nodes: number | null; nodesNotOnDevice: number };
    }
  >;
}

/** run.sh beside the archive, in an empty environment: it unpacks under `dir` and writes `outDir`/gpu.json. */
async function runPack(outDir: string, args: string[], env: Record<string, string> = {}): Promise<GpuJson> {
  const script = join(dir, 'out', 'run.sh');
  const envArgs = Object.entries({ PATH: '/usr/bin:/bin', QDM_PACK_DIR: dir, ...env }).map(([k, v]) => `${k}=${v}`);
  const { stdout } = await run('env', ['-i', ...envArgs, script, outDir, '--model', 'tiny', ...args], {
    cwd: dir,
    maxBuffer: 64 * 1024 * 1024,
  });
  const written = JSON.parse(await readFile(join(outDir, 'gpu.json'), 'utf8')) as GpuJson;
  expect(JSON.parse(stdout)).toEqual(written); // the bench prints the JSON it writes
  return written;
}

describe('the device pack', () => {
  it('fits the limit and carries Node, the binding, the bundle and run.sh', async () => {
    expect(pack.archive.endsWith(ARCHIVE_NAME)).toBe(true);
    expect(pack.bytes).toBeLessThanOrEqual(MAX_BYTES);
    const { stdout } = await run('tar', ['-tzf', pack.archive], { maxBuffer: 16 * 1024 * 1024 });
    const files = new Set(stdout.split('\n'));
    for (const file of [
      'bin/node',
      'run.sh',
      'COMMIT',
      'app/gpu.mjs',
      'app/probe-device.mjs',
      'app/heap-probe.mjs',
      'app/node_modules/onnxruntime-node/dist/index.js',
      'app/node_modules/onnxruntime-node/bin/napi-v6/linux/x64/onnxruntime_binding.node',
      'app/node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime.so.1',
      'app/node_modules/onnxruntime-common/dist/cjs/index.js',
      'app/node_modules/onnxruntime-web/dist/ort-wasm-simd-threaded.wasm',
      ...(pack.vulkan ? ['vulkan/libvulkan.so.1'] : []),
    ]) {
      expect(files, file).toContain(`${PACK_NAME}/${file}`);
    }
  });

  it('runs the tiny bench on the CPU with nothing installed', async () => {
    const json = await runPack(join(dir, 'cpu'), ['--devices', 'cpu']);
    expect(json.machine.node).toBe(process.version); // the packed Node (the system's is another version here)
    expect(json.commit).toMatch(/^[0-9a-f]{40}(-dirty)?$/);
    expect(json.devices).toEqual(['cpu']);
    expect(json.vulkanIcd).toBeNull();
    const cpu = json.results.cpu;
    expect(cpu.sampling).toHaveLength(1);
    expect(cpu.sampling[0]).toMatchObject({ batch: 2, loopSteps: 10 });
    expect(cpu.sampling[0].imagesPerSecond).toBeGreaterThan(0);
    const phases = cpu.build?.phases.map((p) => p.name) ?? [];
    expect(phases).toContain('trajectories');
    expect(phases.some((p) => p.startsWith('edge graph'))).toBe(true); // the onnxruntime-web heap probe ran
  }, 60_000);

  it.skipIf(!existsSync(SWIFTSHADER))(
    'runs on WebGPU through SwiftShader with nothing installed',
    async () => {
      // The packed Vulkan loader when there is one, else chromium's.
      const env: Record<string, string> = { VK_ICD_FILENAMES: SWIFTSHADER };
      if (!pack.vulkan) env.LD_LIBRARY_PATH = '/usr/lib/chromium';
      const json = await runPack(join(dir, 'webgpu'), ['--devices', 'webgpu', '--no-build', '--timed-steps', '1'], env);
      expect(json.unavailable).toEqual({});
      expect(json.devices).toEqual(['webgpu']);
      expect(json.vulkanIcd).toBe(SWIFTSHADER);
      const webgpu = json.results.webgpu;
      expect(webgpu.sampling[0].imagesPerSecond).toBeGreaterThan(0);
      expect(webgpu.placement.nodes).toBeGreaterThan(0);
      expect(webgpu.placement.nodesNotOnDevice).toBe(0);
    },
    60_000,
  );
});
