import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeNpy } from '@qdm/shared';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { hashInput, hashWeights } from '../../test/fixtures/unet/hash-tensors.ts';
import { repoRoot } from '../../test/paths.ts';
import { assertValidModel } from '../onnx/check.ts';
import { encodeModel } from '../onnx/model.ts';
import { winogradConvs } from '../onnx/winograd.ts';
import { createSession } from '../runtime/ort.ts';
import { parseFlags } from './flags.ts';
import { buildUNet, UNetWeightsError } from './unet.ts';
import { convLayouts, unetLayout } from './unet-layout.ts';

const fixtures = join(repoRoot, 'toolchain/test/fixtures/unet');

interface ReferenceCase {
  name: string;
  flags: string;
  seed: number;
  t: number[];
  y?: number[];
  keys: [string, number[]][];
}

const reference = JSON.parse(readFileSync(join(fixtures, 'reference.json'), 'utf8')) as {
  batch: number;
  input_stream: number;
  cases: ReferenceCase[];
};
const randomCases = reference.cases.filter((c) => c.keys);

async function runUNet(model: ReturnType<typeof buildUNet>, c: ReferenceCase, size: number): Promise<Float32Array> {
  const session = await createSession(encodeModel(model), { threads: 1 });
  try {
    const n = reference.batch;
    const feeds: Record<string, ort.Tensor> = {
      x: new ort.Tensor('float32', hashInput(c.seed, reference.input_stream, [n, 3, size, size]), [n, 3, size, size]),
      t: new ort.Tensor('float32', Float32Array.from(c.t), [n]),
    };
    if (c.y) feeds.y = new ort.Tensor('int64', BigInt64Array.from(c.y, BigInt), [n]);
    const result = await session.run(feeds);
    return result.out.data as Float32Array;
  } finally {
    await session.release();
  }
}

function maxAbsDiff(a: Float32Array, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i] - b[i]));
  return max;
}

describe('buildUNet matches improved-diffusion UNetModel (random hashed weights)', () => {
  for (const c of randomCases) {
    it(c.name, async () => {
      const { unet } = parseFlags(c.flags);
      const model = buildUNet(unet, hashWeights(c.seed, c.keys));
      assertValidModel(model);
      const out = await runUNet(model, c, unet.imageSize);
      const expected = decodeNpy(readFileSync(join(fixtures, `${c.name}.npy`)));
      expect(expected.shape).toEqual([reference.batch, unet.learnSigma ? 6 : 3, unet.imageSize, unet.imageSize]);
      expect(maxAbsDiff(out, expected.data as Float32Array)).toBeLessThanOrEqual(1e-4);
    });
  }
});

describe('buildUNet with the winograd option matches improved-diffusion UNetModel', () => {
  for (const name of ['cifar-layout', 'scale-shift-sigma']) {
    for (const tile of [2, 4] as const) {
      it(`${name}, F(${tile}x${tile},3x3)`, async () => {
        const c = randomCases.find((r) => r.name === name)!;
        const { unet } = parseFlags(c.flags);
        const weights = hashWeights(c.seed, c.keys);
        const direct = buildUNet(unet, weights).graph.nodes.filter((n) => n.opType === 'Conv').length;
        const model = buildUNet(unet, weights, { winograd: tile });
        assertValidModel(model);
        const rewritten = model.graph.nodes.filter((n) => n.name.endsWith('/winograd/products')).length;
        expect(rewritten).toBeGreaterThan(0);
        expect(model.graph.nodes.filter((n) => n.opType === 'Conv').length).toBe(direct);
        expect(model.graph.nodes.some((n) => n.name === 'input_blocks.0.0' && n.opType === 'Conv')).toBe(true);
        const out = await runUNet(model, c, unet.imageSize);
        const expected = decodeNpy(readFileSync(join(fixtures, `${c.name}.npy`)));
        expect(maxAbsDiff(out, expected.data as Float32Array)).toBeLessThanOrEqual(1e-4);
      });
    }
  }
});

it('two winogradConvs passes with different tiles on one graph (F4 at >= 16 px, F2 at 8 px) still match', async () => {
  const c = randomCases.find((r) => r.name === 'cifar-layout')!;
  const { unet } = parseFlags(c.flags);
  const convs = convLayouts(unetLayout(unet)).filter((l) => Math.min(l.inChannels, l.outChannels) >= 32);
  const pick = (keep: (size: number) => boolean) =>
    new Map(convs.filter((l) => keep(l.size)).map((l) => [l.path, l.size] as const));
  let model = buildUNet(unet, hashWeights(c.seed, c.keys));
  model = winogradConvs(model, { tile: 4, convs: pick((size) => size >= 16) }).model;
  const second = winogradConvs(model, { tile: 2, convs: pick((size) => size === 8) });
  expect(second.rewritten.length).toBeGreaterThan(0);
  assertValidModel(second.model);
  const out = await runUNet(second.model, c, unet.imageSize);
  const expected = decodeNpy(readFileSync(join(fixtures, `${c.name}.npy`)));
  expect(maxAbsDiff(out, expected.data as Float32Array)).toBeLessThanOrEqual(1e-4);
});

describe('buildUNet weight validation', () => {
  const c = randomCases[0];
  const { unet } = parseFlags(c.flags);

  it('reports every missing, unexpected and mis-shaped tensor in one error, before building', () => {
    const weights = hashWeights(c.seed, c.keys);
    weights.delete('input_blocks.1.0.in_layers.2.weight');
    weights.delete('out.2.bias');
    weights.set('module.extra', weights.get('out.0.bias')!);
    const qkv = weights.get('input_blocks.4.1.qkv.weight')!;
    weights.set('input_blocks.4.1.qkv.weight', { ...qkv, shape: [qkv.shape[0], qkv.shape[1], 1, 1] });
    try {
      buildUNet(unet, weights);
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(UNetWeightsError);
      const err = e as UNetWeightsError;
      expect(err.missing).toEqual(['input_blocks.1.0.in_layers.2.weight', 'out.2.bias']);
      expect(err.unexpected).toEqual(['module.extra']);
      expect(err.misshaped).toEqual([
        { name: 'input_blocks.4.1.qkv.weight', expected: [192, 64, 1], actual: [192, 64, 1, 1] },
      ]);
      expect(err.message).toMatch(/missing out\.2\.bias/);
    }
  });

  it('says in one line when the checkpoint is not this U-Net at all, and caps long lists', () => {
    const foreign = new Map([...hashWeights(c.seed, c.keys)].map(([name, t]) => [`encoder.${name}`, t]));
    expect(() => buildUNet(unet, foreign)).toThrow(/^none of the \d+ tensors .* \(it holds \d+: encoder\./);
    const half = hashWeights(c.seed, c.keys);
    for (const name of [...half.keys()].filter((_, i) => i % 2 === 0)) half.delete(name);
    try {
      buildUNet(unet, half);
      expect.unreachable();
    } catch (e) {
      const err = e as UNetWeightsError;
      expect(err.missing.length).toBeGreaterThan(20);
      expect(err.message.split('\n')).toHaveLength(22); // the headline, 20 problems, "... and N more"
      expect(err.message).toMatch(new RegExp(`\\.\\.\\. and ${err.missing.length - 20} more$`));
    }
  });

  it('refuses weights for different flags (a learn_sigma checkpoint without learn_sigma)', () => {
    const flags = parseFlags(`${c.flags} --learn_sigma False`).unet;
    expect(() => buildUNet(flags, hashWeights(c.seed, c.keys))).toThrow(/wrong shape out\.2\.weight: \[6, 32, 3, 3\]/);
  });
});

describe('buildUNet graph conventions', () => {
  const c = randomCases.find((r) => r.name === 'scale-shift-sigma')!;
  const { unet } = parseFlags(c.flags);
  const model = buildUNet(unet, hashWeights(c.seed, c.keys));
  const nodes = new Map(model.graph.nodes.map((n) => [n.name, n]));

  it('has inputs x, t and output out with a dynamic batch, opset 17', () => {
    expect(model.graph.inputs).toEqual([
      { name: 'x', dtype: 'float32', shape: ['N', 3, 16, 16] },
      { name: 't', dtype: 'float32', shape: ['N'] },
    ]);
    expect(model.graph.outputs).toEqual([{ name: 'out', dtype: 'float32', shape: ['N', 6, 16, 16] }]);
    expect([model.irVersion, model.opsetImports]).toEqual([8, [{ domain: '', version: 17 }]]);
  });

  it('names nodes by module path and initializers by state_dict key', () => {
    const conv = nodes.get('input_blocks.1.0.in_layers.2')!;
    expect(conv.opType).toBe('Conv');
    expect(conv.inputs.slice(1)).toEqual(['input_blocks.1.0.in_layers.2.weight', 'input_blocks.1.0.in_layers.2.bias']);
    expect(conv.outputs).toEqual(['input_blocks.1.0.in_layers.2']);
    expect(nodes.get('input_blocks.3.0.op')?.opType).toBe('Conv');
    expect(nodes.get('output_blocks.2.2.conv')?.opType).toBe('Conv');
    expect(nodes.get('input_blocks.4.1.qkv')?.inputs[1]).toBe('input_blocks.4.1.qkv.weight');
    expect(nodes.get('output_blocks.0.0.skip_connection')?.inputs[0]).toBe('output_blocks.0/concat');
    expect(nodes.get('output_blocks.0/concat')?.opType).toBe('Concat');
    expect(nodes.get('input_blocks.1.0.emb_layers/scale')?.outputs).toEqual(['input_blocks.1.0.emb_layers/scale']);
    expect(nodes.get('input_blocks.1.0.emb_layers/shift')?.outputs).toEqual(['input_blocks.1.0.emb_layers/shift']);
    expect(nodes.get('middle_block.1/softmax')?.opType).toBe('Softmax');
    expect(nodes.get('out.2')?.outputs).toEqual(['out']);
    const initializers = new Set(model.graph.initializers.map((t) => t.name));
    for (const [key] of c.keys) expect(initializers.has(key)).toBe(true);
  });

  it('runs any batch size', async () => {
    const session = await createSession(encodeModel(model), { threads: 1 });
    try {
      for (const n of [1, 3]) {
        const x = new Float32Array(n * 3 * 16 * 16).fill(0.25);
        const out = await session.run({
          x: new ort.Tensor('float32', x, [n, 3, 16, 16]),
          t: new ort.Tensor('float32', new Float32Array(n).fill(10.5), [n]),
        });
        expect(out.out.dims).toEqual([n, 6, 16, 16]);
      }
    } finally {
      await session.release();
    }
  });
});
