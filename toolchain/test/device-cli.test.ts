/**
 * `--device`: the missing-EP and unknown-device errors, and the tiny U-Net on onnxruntime-node's WebGPU EP through
 * SwiftShader (Debian's chromium ships it; CI installs chromium): fp32 images equal the CPU's within 1e-3, and an
 * int8 QDQ variant run as simulated quantization stays within docs/gpu.md's bound of the CPU integer kernels.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeNpz } from '@qdm/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './cli.ts';
import { tinyUnetArtifact } from './fixtures/tiny-unet.ts';

const SWIFTSHADER = '/usr/lib/chromium/vk_swiftshader_icd.json';
const WEBGPU_ENV = { LD_LIBRARY_PATH: '/usr/lib/chromium', VK_ICD_FILENAMES: SWIFTSHADER };
const CUDA_FILES = existsSync(
  join(
    import.meta.dirname,
    '../../node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime_providers_cuda.so',
  ),
);

let dir: string;
let artifact: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'qdm-device-'));
  artifact = await tinyUnetArtifact(join(dir, 'tiny'));
}, 60_000);
afterAll(() => rm(dir, { recursive: true, force: true }));

async function sample(variant: string, device: string, out: string, steps = '3') {
  const args = ['sample', '--artifact', artifact, '--variant', variant, '--n', '2', '--steps', steps, '--seed', '7'];
  const result = await runCli([...args, '--batch', '2', '--device', device, '--out', out, '--json', '--quiet'], {
    env: WEBGPU_ENV,
  });
  if (result.code !== 0) throw new Error(`sample --device ${device} failed (${result.code}): ${result.stderr}`);
  const raw = decodeNpz(new Uint8Array(await readFile(out))).raw.data as Float32Array;
  return { json: JSON.parse(result.stdout), raw };
}

function maxAbs(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** PSNR of images in [-1, 1] (peak-to-peak 2). */
function psnr(a: Float32Array, b: Float32Array): number {
  let se = 0;
  for (let i = 0; i < a.length; i++) se += (a[i] - b[i]) ** 2;
  return 10 * Math.log10(4 / (se / a.length));
}

describe('--device errors', () => {
  it('an unknown device is a usage error naming the choices', async () => {
    const r = await runCli(['sample', '--artifact', artifact, '--device', 'gpu', '--out', join(dir, 'x.npz')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--device must be one of cpu, cuda, webgpu, auto, got "gpu"');
  });

  it.skipIf(CUDA_FILES)('cuda without its provider files fails in one line naming the install step', async () => {
    const r = await runCli(['sample', '--artifact', artifact, '--device', 'cuda', '--out', join(dir, 'x.npz')]);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain('--device cuda: onnxruntime-node has no CUDA provider files');
    expect(r.stderr).toContain('ONNXRUNTIME_NODE_INSTALL=cuda12');
    expect(existsSync(join(dir, 'x.npz'))).toBe(false);
  });

  it('webgpu without a Vulkan driver fails in one line naming what it needs', async () => {
    const r = await runCli(['sample', '--artifact', artifact, '--device', 'webgpu', '--out', join(dir, 'x.npz')], {
      env: { VK_ICD_FILENAMES: join(dir, 'no-such-icd.json'), LD_LIBRARY_PATH: '/nonexistent' },
    });
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/--device webgpu: .*WebGPU adapter.*Vulkan driver/);
  });
});

describe.skipIf(!existsSync(SWIFTSHADER))('webgpu through SwiftShader', () => {
  it('fp32: sample --device webgpu equals --device cpu within 1e-3, every node on the WebGPU EP', async () => {
    const cpu = await sample('fp32', 'cpu', join(dir, 'cpu.npz'));
    const gpu = await sample('fp32', 'webgpu', join(dir, 'webgpu.npz'));
    expect(cpu.json.device).toBe('cpu');
    expect(gpu.json.device).toBe('webgpu');
    expect(gpu.json.placement.sessions).toBe(1);
    expect(gpu.json.placement.nodes).toBeGreaterThan(100);
    expect(gpu.json.placement.nodesNotOnDevice).toBe(0);
    expect(maxAbs(cpu.raw, gpu.raw)).toBeLessThan(1e-3);
  }, 120_000);

  it('int8: simulated quantization on webgpu within 40 dB of the CPU integer kernels; CPU-placed nodes counted', async () => {
    const built = await runCli(
      ['build-artifact', '--artifact', artifact, '--calib-trajectories', '4', '--calib-samples', '16'].concat([
        '--calib-steps',
        'ddim10',
        '--report-samples',
        '0',
        // Wide steps only at the end: the profiled first step runs the QDQ branch, the last the float one.
        '--wide-steps',
        '0,1',
        '--quiet',
      ]),
    );
    expect(built.code, built.stderr).toBe(0);
    const cpu = await sample('int8', 'cpu', join(dir, 'int8-cpu.npz'), '4');
    const gpu = await sample('int8', 'webgpu', join(dir, 'int8-webgpu.npz'), '4');
    // The WebGPU EP has no QuantizeLinear: onnxruntime puts those nodes on the CPU provider, and the count says so.
    expect(gpu.json.placement.nodesNotOnDevice).toBeGreaterThan(0);
    expect(gpu.json.placement.cpuOps.QuantizeLinear).toBeGreaterThan(0);
    const db = psnr(cpu.raw, gpu.raw);
    console.info(`int8 webgpu vs CPU integer kernels: ${db.toFixed(1)} dB, max abs ${maxAbs(cpu.raw, gpu.raw)}`);
    expect(db).toBeGreaterThan(40); // docs/gpu.md, "int8 on a GPU"
    expect(maxAbs(cpu.raw, gpu.raw)).toBeGreaterThan(0); // not the integer kernels: rounding differs somewhere
  }, 180_000);
});
