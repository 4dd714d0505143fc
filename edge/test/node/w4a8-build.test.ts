// A W4A8 variant as `toolchain build-artifact --wbits 4` writes it (its defaults: gptq, mixed precision), built
// through the CLI from the tiny test U-Net, served by the edge: the WASM runtimes load its ORT-format edge graph
// (int4 weights stored as int8, the ORT format having no int4), Node native and the browser its portable graph.
import { execFile } from 'node:child_process';
import { cp, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { decodeNpz, MANIFEST_FILE, type Manifest, parseManifest, toUint8NHWC } from '@qdm/shared';
import { beforeAll, describe, expect, it } from 'vitest';
import { tinyUnetArtifact } from '../../../toolchain/test/fixtures/tiny-unet.ts';
import { ortNodeSessions } from '../../src/engine/ort-node.ts';
import { folderSource } from '../../src/sources/folder.ts';
import { appOver, bytes } from './harness.ts';

const toolchainBin = resolve(import.meta.dirname, '../../../toolchain/bin/toolchain.js');
const run = promisify(execFile);
const toolchain = (args: string[]) => run(process.execPath, [toolchainBin, ...args], { maxBuffer: 1 << 24 });

let root: string;
let manifest: Manifest;
const artifact = () => join(root, 'tiny-unet');

/** float32 NCHW from a `format=npy` body (the header is padded to a 64-byte boundary). */
function npyFloats(body: Uint8Array): Float32Array {
  const headerLength = body[8] | (body[9] << 8);
  return new Float32Array(body.slice(10 + headerLength).buffer);
}

beforeAll(async () => {
  root = await mkdtemp(join(process.env.QDM_EDGE_TMP ?? '/tmp', 'qdm-w4a8-'));
  await tinyUnetArtifact(artifact());
  const quick = [
    '--calib-samples',
    '16',
    '--calib-trajectories',
    '4',
    '--calib-steps',
    'ddim8',
    '--report-samples',
    '2',
  ];
  await toolchain(['build-artifact', '--artifact', artifact(), '--wbits', '4', ...quick, '--threads', '1', '--quiet']);
  manifest = parseManifest(JSON.parse(await readFile(join(artifact(), MANIFEST_FILE), 'utf8')));
}, 300_000);

/** The same store with the w4a8 variant's edge graph left out of the manifest: the edge loads the portable graph. */
async function portableOnly(): Promise<string> {
  const other = await mkdtemp(join(process.env.QDM_EDGE_TMP ?? '/tmp', 'qdm-w4a8-portable-'));
  await cp(artifact(), join(other, 'tiny-unet'), { recursive: true });
  const edited = structuredClone(manifest);
  delete edited.variants.w4a8.edgeGraph;
  await writeFile(join(other, 'tiny-unet', MANIFEST_FILE), JSON.stringify(edited));
  return other;
}

const query = '/sample?variant=w4a8&seed=7&n=2&steps=ddim10&format=npy';

describe('a W4A8 build served by the edge', () => {
  it('has an ORT-format edge graph with its 4-bit tensors as int8, and says why in the manifest', () => {
    const w4a8 = manifest.variants.w4a8;
    expect(w4a8.quantization?.weightBits).toBe(4);
    expect(w4a8.quantization?.recon).toBe('gptq');
    const graph = w4a8.edgeGraph!;
    expect(graph.format).toBe('ort');
    expect(graph.fourBitAsInt8?.tensors).toBeGreaterThan(0);
    expect(graph.fourBitAsInt8?.reason).toMatch(/int4/);
    expect(graph.memory?.heapBytes.length).toBeGreaterThan(0);
  });

  it('WASM: the edge graph serves the same bytes as the portable int4 graph (what the browser page loads)', async () => {
    const edge = await appOver(folderSource(root)).request(query);
    const portable = await appOver(folderSource(await portableOnly())).request(query);
    expect([edge.status, portable.status]).toEqual([200, 200]);
    expect(edge.headers.get('server-timing')).toMatch(/desc="edge graph"/);
    expect(portable.headers.get('server-timing')).toMatch(/desc="portable graph"/);
    expect(await bytes(edge)).toEqual(await bytes(portable));
  });

  it('Node native serves the bytes `toolchain sample` writes (both onnxruntime-node)', async () => {
    const out = join(root, 'sample.npz');
    await toolchain(
      ['sample', '--artifact', artifact(), '--variant', 'w4a8', '--n', '2', '--seed', '7'].concat([
        '--steps',
        'ddim10',
        '--threads',
        '1',
        '--out',
        out,
        '--quiet',
      ]),
    );
    const npz = decodeNpz(new Uint8Array(await readFile(out)));
    const app = appOver(folderSource(root), {}, { sessions: ortNodeSessions('cpu', 1) });
    const res = await app.request(query);
    expect(res.status).toBe(200);
    const served = npyFloats(await bytes(res));
    expect(served).toEqual(npz.raw.data as Float32Array);
    expect(toUint8NHWC(served, 2, 3, 8, 8)).toEqual(npz.arr_0.data as Uint8Array);
  });
});
