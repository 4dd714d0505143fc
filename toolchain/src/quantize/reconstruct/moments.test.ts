import { describe, expect, it } from 'vitest';
import { loadReference } from '../../../test/quantize/reference.ts';
import { jsKernels } from './kernels.ts';
import { ortKernels } from './kernels-ort.ts';
import { type Matrix, matrix } from './matrix.ts';
import { columnRate, type LayerInput, MomentAccumulator, qdropMoments } from './moments.ts';

const ref = loadReference('moments.json');
const kernels = jsKernels();

function expectMatrix(m: Matrix | undefined, expected: number[], digits = 12): void {
  expect(m).toBeDefined();
  expect(m!.data.length).toBe(expected.length);
  m!.data.forEach((v, i) => {
    expect(v).toBeCloseTo(expected[i], digits);
  });
}

// biome-ignore lint/suspicious/noExplicitAny: one fixture case
function layerInput(c: any): LayerInput {
  return c.kind === 'linear'
    ? { kind: 'linear', features: c.features }
    : { kind: 'conv', channels: c.channels, conv: { kernel: c.kernel, stride: c.stride, padding: c.padding } };
}

describe('input second moments (torch unfold reference)', () => {
  for (const c of ref.moments) {
    it(`${c.name}: H = E[x x^T] over im2col columns / rows`, async () => {
      const acc = new MomentAccumulator(layerInput(c), kernels, { chunk: 5 }); // small chunks: several flushes
      // two batches along N give the same moments as one
      const n = c.shape[0];
      const per = c.x.length / n;
      for (let b = 0; b < n; b++) await acc.add(c.x.slice(b * per, (b + 1) * per), [1, ...c.shape.slice(1)]);
      const m = await acc.finish();
      expect(m.count).toBe(c.count);
      expectMatrix(m.h, c.h);
    });

    if (c.cross) {
      it(`${c.name}: E[x~ x~^T] and the cross moment E[x x~^T]`, async () => {
        const acc = new MomentAccumulator(layerInput(c), kernels, { cross: true });
        await acc.add(c.x, c.shape, c.xq);
        const m = await acc.finish();
        expectMatrix(m.h, c.h);
        expectMatrix(m.hq, c.hq);
        expectMatrix(m.cross, c.cross);
      });
    }
  }

  it('subsamples columns at the given rate, unbiased', async () => {
    const c = ref.moments.find((k: { name: string }) => k.name === 'conv3x3');
    await expect(new MomentAccumulator(layerInput(c), kernels).finish()).rejects.toThrow(/no input vectors/);
    // Repeating the batch many times at rate 0.25 keeps ~25% of the columns and estimates the same H.
    const acc = new MomentAccumulator(layerInput(c), kernels, { rate: columnRate(15, 60), seed: 7 });
    for (let i = 0; i < 400; i++) await acc.add(c.x, c.shape);
    const m = await acc.finish();
    expect(m.count / (400 * c.count)).toBeGreaterThan(0.23);
    expect(m.count / (400 * c.count)).toBeLessThan(0.27);
    let maxErr = 0;
    let maxRef = 0;
    m.h.data.forEach((v, i) => {
      maxErr = Math.max(maxErr, Math.abs(v - c.h[i]));
      maxRef = Math.max(maxRef, Math.abs(c.h[i]));
    });
    expect(maxErr / maxRef).toBeLessThan(0.1);
    expect(maxErr).toBeGreaterThan(0); // really sampled
  });

  it('wide inputs (several gram blocks, onnxruntime float32) match a float64 triple loop', async () => {
    const d = 1700; // 768-row blocks: 3 x 3 lower block pairs
    const rows = 50;
    const x = new Float32Array(rows * d);
    for (let i = 0; i < x.length; i++) x[i] = Math.sin(i * 0.37) + 0.1 * Math.cos(i * 1.3);
    const ort = ortKernels({ precision: 'float32', intraOpNumThreads: 1 });
    const acc = new MomentAccumulator({ kind: 'linear', features: d }, ort, { chunk: 32 });
    await acc.add(x, [rows, d]);
    const m = await acc.finish();
    await ort.dispose();
    let maxErr = 0;
    for (let i = 0; i < d; i += 7) {
      for (let j = 0; j < d; j += 3) {
        let s = 0;
        for (let r = 0; r < rows; r++) s += x[r * d + i] * x[r * d + j];
        maxErr = Math.max(maxErr, Math.abs(m.h.data[i * d + j] - s / rows), Math.abs(m.h.data[j * d + i] - s / rows));
      }
    }
    expect(maxErr).toBeLessThan(1e-5);
  });

  it('uint8 codes give the moments of their dequantized values exactly (padding at the zero point)', async () => {
    const input: LayerInput = { kind: 'conv', channels: 3, conv: { kernel: [3, 3], stride: [1, 1], padding: [1, 1] } };
    const shape = [2, 3, 6, 5];
    const codes = Uint8Array.from({ length: 180 }, (_, i) => (i * 97 + 13) % 256);
    const zeroPoint = 37;
    const scale = 0.25; // a power of two: the dequantized values are exact in float32
    const floats = Float32Array.from(codes, (c) => (c - zeroPoint) * scale);
    const reference = new MomentAccumulator(input, kernels);
    await reference.add(floats, shape);
    const h = (await reference.finish()).h;
    const ort = ortKernels({ intraOpNumThreads: 1 });
    for (const k of [kernels, ort]) {
      const acc = new MomentAccumulator(input, k, { codes: { scale, zeroPoint }, chunk: 7 });
      await acc.add(codes, shape);
      expectMatrix((await acc.finish()).h, Array.from(h.data));
    }
    // Wide: several 768-column blocks.
    const wide: LayerInput = { kind: 'linear', features: 1700 };
    const many = Uint8Array.from({ length: 20 * 1700 }, (_, i) => (i * 31 + (i >> 7)) % 256);
    const plain = new MomentAccumulator(wide, kernels);
    await plain.add(
      Float32Array.from(many, (c) => (c - zeroPoint) * scale),
      [20, 1700],
    );
    const coded = new MomentAccumulator(wide, ort, { codes: { scale, zeroPoint } });
    await coded.add(many, [20, 1700]);
    expect(Array.from((await coded.finish()).h.data)).toEqual(Array.from((await plain.finish()).h.data));
    await ort.dispose();
    await expect(
      new MomentAccumulator(input, kernels, { codes: { scale, zeroPoint } }).add(floats, shape),
    ).rejects.toThrow(/Uint8Array/);
  });

  it('rejects mismatched shapes', async () => {
    const acc = new MomentAccumulator({ kind: 'linear', features: 4 }, kernels);
    await expect(acc.add(new Float32Array(10), [2, 5])).rejects.toThrow(/must end in 4/);
    await expect(acc.add(new Float32Array(10), [2, 4])).rejects.toThrow(/does not match/);
  });
});

describe('QDrop mixed-input moments (exact enumeration over drop masks)', () => {
  it('closed form equals the enumeration', () => {
    const q = ref.qdrop;
    const d = q.dim;
    const { g, cross } = qdropMoments(
      { count: 4, h: matrix(d, d, q.h), hq: matrix(d, d, q.hq), cross: matrix(d, d, q.cross) },
      q.floatProb,
    );
    expectMatrix(g, q.g, 14);
    expectMatrix(cross, q.c, 14);
  });
});
