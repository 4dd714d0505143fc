// DPM-Solver++(2M) on the edge: the same bytes as `toolchain sample --sampler dpm++2m` on the same runtime
// (onnxruntime-node), from the query and from a JSON body; sample k the same alone or batched; and the shipped
// int8 graph's wide steps (an If on t) picked at the solver's own model times.
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { createDiffusion, decodeNpy, decodeNpz, sampleBy } from '@qdm/shared';
import { decodeModel, encodeModel } from '@qdm/toolchain/onnx';
import { floatActivationGraph, isWideStep, wideStepThresholds, withoutWideSteps } from '@qdm/toolchain/quantize';
import * as ort from 'onnxruntime-node';
import { beforeAll, describe, expect, it } from 'vitest';
import { ortNodeSessions } from '../../src/engine/ort-node.ts';
import { DEFAULT_STEPS } from '../../src/sample-request.ts';
import { folderSource } from '../../src/sources/folder.ts';
import { TEST_DIFFUSION } from '../fixtures/artifact.ts';
import { folderStore } from '../fixtures/folder.ts';
import { unetArtifact } from '../fixtures/unet-artifact.ts';
import { appOver, bytes } from './harness.ts';

const toolchainBin = resolve(import.meta.dirname, '../../../toolchain/bin/toolchain.js');
const run = promisify(execFile);
const native = ortNodeSessions('cpu', 1);
let root: string;

beforeAll(async () => {
  root = await folderStore(await unetArtifact());
});

async function toolchainSample(variant: string, seed: number, n: number, steps: string): Promise<Float32Array> {
  const out = join(root, `toolchain-dpm-${variant}-${seed}-${n}.npz`);
  const args = ['sample', '--artifact', join(root, 'unet'), '--variant', variant, '--n', String(n), '--seed'];
  args.push(String(seed), '--steps', steps, '--sampler', 'dpm++2m', '--threads', '1', '--out', out, '--quiet');
  await run(process.execPath, [toolchainBin, ...args]);
  return decodeNpz(new Uint8Array(await readFile(out))).raw.data as Float32Array;
}

const floats = (body: Uint8Array) => decodeNpy(body).data as Float32Array;
const maxAbs = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);

describe('dpm++2m on the edge', () => {
  it.each(['fp32', 'int8'])(
    '%s: the same bytes as toolchain sample (onnxruntime-node), query and JSON body',
    async (variant) => {
      const [seed, n, steps] = [5, 4, 'ddim10'];
      const reference = await toolchainSample(variant, seed, n, steps);
      const app = appOver(folderSource(root), {}, { sessions: native });
      const get = await app.request(
        `/sample?variant=${variant}&seed=${seed}&n=${n}&steps=${steps}&sampler=dpmpp2m&format=npy`,
      );
      expect(get.status).toBe(200);
      expect(get.headers.get('x-qdm-sampler')).toBe('dpm++2m');
      const post = await app.request('/sample', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ variant, seed, n, steps, sampler: 'dpm++2m', format: 'npy' }),
      });
      expect(post.status).toBe(200);
      const [a, b] = [floats(await bytes(get)), floats(await bytes(post))];
      expect(Buffer.from(a.buffer).equals(Buffer.from(reference.buffer))).toBe(true);
      expect(Buffer.from(b.buffer).equals(Buffer.from(reference.buffer))).toBe(true);
      // and it is not the DDIM answer
      const ddim = floats(
        await bytes(await app.request(`/sample?variant=${variant}&seed=${seed}&n=${n}&steps=${steps}&format=npy`)),
      );
      expect(maxAbs(ddim, a)).toBeGreaterThan(1e-3);
    },
  );

  it('sample k of a seed is the same alone or batched (fp32 and wide-step int8, the WASM runtime)', async () => {
    // NOTE: onnxruntime-node's int8 kernels round a batch of 3 differently from a batch of 1 (~5e-6, DDIM alike);
    // the WASM build every Worker runs gives the same bytes.
    const app = appOver(folderSource(root));
    for (const variant of ['fp32', 'int8']) {
      const query = (n: number) =>
        `/sample?variant=${variant}&seed=21&n=${n}&steps=ddim7&sampler=dpm%2B%2B2m&format=npy`;
      const batched = floats(await bytes(await app.request(query(3))));
      const alone = floats(await bytes(await app.request(query(1))));
      expect(alone.length * 3).toBe(batched.length);
      expect(alone).toEqual(batched.subarray(0, alone.length));
    }
  });

  it('refuses an eta and an unknown sampler with 400 naming the field', async () => {
    const app = appOver(folderSource(root), {}, { sessions: native });
    const eta = await app.request('/sample?variant=fp32&n=1&steps=ddim5&sampler=dpmpp2m&eta=0.5');
    expect(eta.status).toBe(400);
    expect(await eta.json()).toMatchObject({ field: 'eta', message: expect.stringMatching(/dpm\+\+2m takes none/) });
    const unknown = await app.request('/sample?variant=fp32&n=1&steps=ddim5&sampler=euler');
    expect(unknown.status).toBe(400);
    expect(await unknown.json()).toMatchObject({ field: 'sampler' });
  });

  it('wide steps: the shipped If graph equals choosing the float or 8-bit graph by t at every solver call', async () => {
    const model = decodeModel((await unetArtifact()).files['model.int8.onnx']);
    const open = (m: typeof model) => ort.InferenceSession.create(encodeModel(m), { intraOpNumThreads: 1 });
    const eight = withoutWideSteps(model);
    const [eightBit, wide] = [await open(eight), await open({ ...eight, graph: floatActivationGraph(eight.graph) })];
    const record = wideStepThresholds(createDiffusion(TEST_DIFFUSION, 'ddim10'), { first: 1, last: 2 }, 'ddim10');
    const seen: boolean[] = [];
    const byT = (only8?: boolean) => async (x: Float32Array, t: Float32Array, n: number) => {
      const isWide = !only8 && isWideStep(record, t[0]);
      if (!only8) seen.push(isWide);
      const feeds = { x: new ort.Tensor('float32', x, [n, 3, 8, 8]), t: new ort.Tensor('float32', t, [n]) };
      return (await (isWide ? wide : eightBit).run(feeds)).out.data as Float32Array;
    };
    // ddim8 is not the respacing the thresholds were set on: the If still keys on the t each call is fed
    const options = {
      diffusion: createDiffusion(TEST_DIFFUSION, 'ddim8'),
      shape: [3, 8, 8] as [number, number, number],
      batch: 2,
      seed: 13,
    };
    const expected = await sampleBy('dpm++2m', byT(), options);
    const only8 = await sampleBy('dpm++2m', byT(true), options);
    expect(seen.filter(Boolean).length).toBeGreaterThan(0);
    expect(seen.filter((w) => !w).length).toBeGreaterThan(0);
    const app = appOver(folderSource(root), {}, { sessions: native });
    const edge = floats(
      await bytes(await app.request('/sample?variant=int8&seed=13&n=2&steps=ddim8&sampler=dpmpp2m&format=npy')),
    );
    expect(maxAbs(edge, expected)).toBeLessThan(1e-4);
    expect(maxAbs(edge, only8)).toBeGreaterThan(10 * Math.max(maxAbs(edge, expected), 1e-6));
    await eightBit.release();
    await wide.release();
  });
});

describe('the schedule a variant was calibrated for', () => {
  it('serves a request that names no sampler or steps with it; /models shows it', async () => {
    const artifact = await unetArtifact();
    artifact.manifest.variants.int8.schedule = { sampler: 'dpm++2m', steps: 'ddim8' };
    const app = appOver(folderSource(await folderStore(artifact)));
    const implicit = await app.request('/sample?variant=int8&seed=3&n=2&format=npy');
    expect(implicit.status).toBe(200);
    expect(implicit.headers.get('x-qdm-sampler')).toBe('dpm++2m');
    expect(implicit.headers.get('x-qdm-steps')).toBe('8 (ddim8)');
    const explicit = await app.request('/sample?variant=int8&seed=3&n=2&steps=ddim8&sampler=dpmpp2m&format=npy');
    expect(await bytes(implicit)).toEqual(await bytes(explicit));
    // each named field wins; fp32 has no schedule and keeps the defaults
    const named = await app.request('/sample?variant=int8&seed=3&n=1&sampler=ddim&format=json');
    expect(await named.json()).toMatchObject({ sampler: 'ddim', respacing: 'ddim8', schedule: 'variant' });
    const fp32 = await app.request('/sample?variant=fp32&seed=3&n=1&format=json');
    expect(await fp32.json()).toMatchObject({ sampler: 'ddim', respacing: DEFAULT_STEPS, schedule: 'default' });
    const eta = await app.request('/sample?variant=int8&seed=3&n=1&eta=0.5');
    expect(eta.status).toBe(400);
    expect(await eta.json()).toMatchObject({ field: 'eta', message: expect.stringMatching(/calibrated schedule/) });
    const models = (await (await app.request('/models')).json()) as {
      models: { variants: Record<string, { schedule: unknown }> }[];
    };
    expect(models.models[0].variants.int8.schedule).toEqual({ sampler: 'dpm++2m', steps: 'ddim8', calibrated: true });
    expect(models.models[0].variants.fp32.schedule).toEqual({
      sampler: 'ddim',
      steps: DEFAULT_STEPS,
      calibrated: false,
    });
  });
});
