import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { createSession } from '../runtime/ort.ts';
import { attr, GraphBuilder } from './builder.ts';
import { assertValidModel } from './check.ts';
import type { OnnxModel } from './ir.ts';
import { encodeModel } from './model.ts';
import { winogradConvs } from './winograd.ts';

function random(n: number, seed: number, scale = 1): Float32Array {
  let state = seed;
  return Float32Array.from({ length: n }, () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return (state / 2 ** 31 - 1) * scale;
  });
}

interface ConvCase {
  c: number;
  k: number;
  size: number;
  bias?: boolean;
}

/** x -> conv3x3 (pads 1) -> Relu -> conv3x3 stride 2 (never rewritten) -> out, plus the first conv as `mid`. */
function convModel({ c, k, size, bias = true }: ConvCase): OnnxModel {
  const b = new GraphBuilder('g');
  const x = b.input('x', 'float32', ['N', c, size, size]);
  b.initializer({ name: 'w', dtype: 'float32', dims: [k, c, 3, 3], data: random(k * c * 9, 7, 1 / Math.sqrt(c * 9)) });
  if (bias) b.initializer({ name: 'bias', dtype: 'float32', dims: [k], data: random(k, 9) });
  b.initializer({ name: 'w2', dtype: 'float32', dims: [4, k, 3, 3], data: random(4 * k * 9, 11, 0.1) });
  const three = { kernel_shape: attr.ints([3, 3]), pads: attr.ints([1, 1, 1, 1]) };
  const mid = b.op('conv', 'Conv', bias ? [x, 'w', 'bias'] : [x, 'w'], three, 'mid');
  const relu = b.op('relu', 'Relu', [mid]);
  b.op('down', 'Conv', [relu, 'w2'], { ...three, strides: attr.ints([2, 2]) }, 'out');
  b.output('mid', 'float32', ['N', k, size, size]);
  b.output('out', 'float32', ['N', 4, size / 2, size / 2]);
  return b.model();
}

async function run(model: OnnxModel, c: number, size: number, batch: number): Promise<Float32Array[]> {
  const session = await createSession(encodeModel(model), { threads: 1 });
  try {
    const x = new ort.Tensor('float32', random(batch * c * size * size, 3), [batch, c, size, size]);
    const result = await session.run({ x });
    return [result.mid.data as Float32Array, result.out.data as Float32Array];
  } finally {
    await session.release();
  }
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i] - b[i]));
  return max;
}

describe('winogradConvs', () => {
  const cases: (ConvCase & { tile: 2 | 4 })[] = [
    { tile: 2, c: 16, k: 32, size: 8 },
    { tile: 2, c: 5, k: 3, size: 6, bias: false },
    { tile: 4, c: 32, k: 64, size: 32 },
    { tile: 4, c: 16, k: 32, size: 8 },
    { tile: 4, c: 48, k: 16, size: 16 },
    { tile: 4, c: 7, k: 5, size: 4, bias: false },
  ];
  for (const { tile, ...conv } of cases) {
    it(`F(${tile}x${tile},3x3) matches onnxruntime's direct Conv: ${JSON.stringify(conv)}`, async () => {
      const model = convModel(conv);
      const convs = new Map([['conv', conv.size]]);
      const { model: rewritten, rewritten: names } = winogradConvs(model, { tile, convs });
      assertValidModel(rewritten);
      expect(names).toEqual(['conv']);
      expect(rewritten.graph.nodes.filter((n) => n.opType === 'Conv').map((n) => n.name)).toEqual([
        'conv/winograd/products',
        'down',
      ]);
      // The graph keeps the 3x3 weight and derives the transformed one from it (folded at session start).
      const initializers = new Map(rewritten.graph.initializers.map((t) => [t.name, t]));
      expect(initializers.get('w')?.dims).toEqual([conv.k, conv.c, 3, 3]);
      const transformed = (tile + 2) ** 2 * conv.k * conv.c;
      expect([...initializers.values()].some((t) => t.data.length === transformed)).toBe(false);
      for (const batch of [1, 3]) {
        const [want, wantOut] = await run(model, conv.c, conv.size, batch);
        const [got, gotOut] = await run(rewritten, conv.c, conv.size, batch);
        expect(maxAbsDiff(got, want)).toBeLessThan(tile === 2 ? 2e-6 : 1e-5);
        expect(maxAbsDiff(gotOut, wantOut)).toBeLessThan(1e-5);
      }
    });
  }

  it('rewrites only the listed convs it can, and refuses sides that are not a multiple of the tile', () => {
    const model = convModel({ c: 4, k: 4, size: 8 });
    const convs = new Map([
      ['conv', 8],
      ['down', 8],
    ]);
    expect(winogradConvs(model, { tile: 2, convs: new Map() }).rewritten).toEqual([]);
    expect(winogradConvs(model, { tile: 2, convs }).rewritten).toEqual(['conv']); // `down` has stride 2
    const dilated = structuredClone(model);
    dilated.graph.nodes[0].attributes.dilations = attr.ints([2, 2]);
    expect(winogradConvs(dilated, { tile: 2, convs }).rewritten).toEqual([]);
    const unpadded = structuredClone(model);
    unpadded.graph.nodes[0].attributes.pads = attr.ints([0, 0, 0, 0]);
    expect(winogradConvs(unpadded, { tile: 2, convs }).model).toEqual(unpadded);
    expect(() => winogradConvs(model, { tile: 4, convs: new Map([['conv', 6]]) })).toThrow(
      /not a multiple of the tile 4/,
    );
  });
});
