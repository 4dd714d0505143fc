import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { decodeNpy, decodeNpz, toUint8NHWC } from '@qdm/shared';
import { beforeAll, describe, expect, it } from 'vitest';
import { folderSource } from '../../src/sources/folder.ts';
import { folderStore } from '../fixtures/folder.ts';
import { unetArtifact } from '../fixtures/unet-artifact.ts';
import { appOver, bytes } from './harness.ts';

/**
 * The edge (onnxruntime-web WASM) against `toolchain sample` (onnxruntime-node CPU) on the same artifact, seed and
 * steps: the same DDIM and noise, so the only difference is the two runtimes' float rounding.
 */
const toolchainBin = resolve(import.meta.dirname, '../../../toolchain/bin/toolchain.js');
const run = promisify(execFile);
let root: string;

beforeAll(async () => {
  root = await folderStore(await unetArtifact());
});

async function toolchainSample(variant: string, seed: number, n: number, steps: string, eta: number) {
  const out = join(root, `toolchain-${variant}-${seed}-${eta}.npz`);
  const args = ['sample', '--artifact', join(root, 'unet'), '--variant', variant, '--n', String(n), '--seed'];
  args.push(String(seed), '--steps', steps, '--eta', String(eta), '--threads', '1', '--out', out, '--json');
  await run(process.execPath, [toolchainBin, ...args]);
  const npz = decodeNpz(new Uint8Array(await readFile(out)));
  return { raw: npz.raw.data as Float32Array, images: npz.arr_0.data as Uint8Array };
}

describe('edge vs toolchain sample (onnxruntime-web vs onnxruntime-node)', () => {
  it.each([
    ['fp32', 0],
    ['alt', 0.5],
  ])('%s, eta %s: same images up to runtime rounding', async (variant, eta) => {
    const [seed, n, steps] = [5, 4, 'ddim10'];
    const reference = await toolchainSample(variant as string, seed, n, steps, eta as number);
    const app = appOver(folderSource(root));
    const res = await app.request(
      `/sample?variant=${variant}&seed=${seed}&n=${n}&steps=${steps}&eta=${eta}&format=npy`,
    );
    const edge = decodeNpy(await bytes(res)).data as Float32Array;
    expect(edge.length).toBe(reference.raw.length);
    let maxAbs = 0;
    for (let i = 0; i < edge.length; i++) maxAbs = Math.max(maxAbs, Math.abs(edge[i] - reference.raw[i]));
    const edgeImages = toUint8NHWC(edge, n, 3, 8, 8);
    let differingPixels = 0;
    let maxPixel = 0;
    for (let i = 0; i < edgeImages.length; i++) {
      const d = Math.abs(edgeImages[i] - reference.images[i]);
      if (d > 0) differingPixels++;
      maxPixel = Math.max(maxPixel, d);
    }
    console.log(
      JSON.stringify({
        variant,
        eta,
        maxAbsFloat: maxAbs,
        differingBytes: differingPixels,
        of: edgeImages.length,
        maxPixel,
      }),
    );
    // NOTE: onnxruntime-web's WASM kernels and onnxruntime-node's MLAS order float sums differently.
    expect(maxAbs).toBeLessThan(1e-3);
    expect(maxPixel).toBeLessThanOrEqual(1);
  });
});
