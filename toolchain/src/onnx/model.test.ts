import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { repoRoot, sharedPath } from '../../test/paths.ts';
import { createSession } from '../runtime/ort.ts';
import { GraphBuilder } from './builder.ts';
import { checkModel } from './check.ts';
import type { AttributeValue, OnnxTensor } from './ir.ts';
import { decodeModel, encodeModel } from './model.ts';
import { DATA_TYPE_CODES } from './tensor-proto.ts';

const fixtures = join(repoRoot, 'toolchain/test/fixtures/onnx');

interface TensorJson {
  name: string;
  dims: number[];
  data_type: number;
  values: (number | string)[];
}

function expectTensor(actual: OnnxTensor, expected: TensorJson): void {
  expect(actual.name).toBe(expected.name);
  expect(actual.dims).toEqual(expected.dims);
  expect(DATA_TYPE_CODES[actual.dtype]).toBe(expected.data_type);
  const values = Array.from(actual.data as ArrayLike<number | bigint>, (v) =>
    typeof v === 'bigint' ? v.toString() : v,
  );
  expect(values).toEqual(expected.values);
}

describe('decodeModel on a file written by the onnx package', () => {
  const bytes = new Uint8Array(readFileSync(join(fixtures, 'codec.onnx')));
  const expected = JSON.parse(readFileSync(join(fixtures, 'codec.json'), 'utf8'));
  const model = decodeModel(bytes);

  it('reads the model header, opsets and metadata', () => {
    expect(model.irVersion).toBe(expected.ir_version);
    expect(model.producerName).toBe(expected.producer_name);
    expect(model.producerVersion).toBe(expected.producer_version);
    expect(model.opsetImports.map((o) => [o.domain, o.version])).toEqual(expected.opsets);
    expect(model.metadata).toEqual(expected.metadata);
  });

  it('reads initializers of every dtype, from raw_data and from the typed fields', () => {
    expect(model.graph.initializers).toHaveLength(expected.initializers.length);
    for (const [i, t] of model.graph.initializers.entries()) expectTensor(t, expected.initializers[i]);
  });

  it('reads every attribute type', () => {
    const attrs = model.graph.nodes[0].attributes;
    const typeNames: Record<number, AttributeValue['type']> = {
      1: 'float',
      2: 'int',
      3: 'string',
      4: 'tensor',
      6: 'floats',
      7: 'ints',
      8: 'strings',
    };
    for (const [name, e] of Object.entries<Record<string, unknown>>(expected.attributes)) {
      const a = attrs[name];
      expect(a.type).toBe(typeNames[e.type as number]);
      if (a.type === 'float') expect(a.value).toBe(e.f);
      if (a.type === 'int') expect(a.value).toBe(Number(e.i));
      if (a.type === 'string') expect(a.value).toBe(e.s);
      if (a.type === 'tensor') expectTensor(a.value, e.t as TensorJson);
      if (a.type === 'floats') expect(a.value).toEqual(e.floats);
      if (a.type === 'ints') expect(a.value).toEqual((e.ints as string[]).map(Number));
      if (a.type === 'strings') expect(a.value).toEqual(e.strings);
    }
  });

  it('reads nodes, domains and value infos (symbolic, unknown and missing shapes)', () => {
    expect(model.graph.nodes.map((n) => [n.name, n.opType, n.domain ?? '', n.inputs, n.outputs])).toEqual(
      expected.nodes,
    );
    expect(
      model.graph.inputs.map((v) => [v.name, DATA_TYPE_CODES[v.dtype], v.shape.map((d) => (d === '' ? null : d))]),
    ).toEqual(expected.inputs);
    expect(model.graph.valueInfo.map((v) => !v.unknownRank)).toEqual(expected.value_info_has_shape);
  });

  it('re-encodes to bytes that decode to the same model, and encoding is stable', () => {
    const again = encodeModel(model);
    expect(decodeModel(again)).toEqual(model);
    expect(encodeModel(decodeModel(again))).toEqual(again);
  });
});

describe('mnist classifier round trip', () => {
  it('decode -> encode runs in onnxruntime with identical outputs', async () => {
    const bytes = new Uint8Array(readFileSync(sharedPath('models/mnist-classifier/mnist_classifier.onnx')));
    const model = decodeModel(bytes);
    expect(checkModel(model)).toEqual([]);
    const images = new Float32Array(2 * 3 * 32 * 32).map((_, i) => Math.sin(i * 0.37));
    const feeds = { images: new ort.Tensor('float32', images, [2, 3, 32, 32]) };
    const original = await createSession(bytes, { threads: 1 });
    const rebuilt = await createSession(encodeModel(model), { threads: 1 });
    try {
      const a = await original.run(feeds);
      const b = await rebuilt.run(feeds);
      for (const name of ['logits', 'features', 'spatial']) {
        expect(b[name].dims).toEqual(a[name].dims);
        expect(b[name].data).toEqual(a[name].data);
      }
    } finally {
      await original.release();
      await rebuilt.release();
    }
  });
});

describe('4-bit initializers (opset 21)', () => {
  async function dequantize(dtype: 'int4' | 'uint4', values: number[], zeroPoint: number): Promise<Float32Array> {
    const b = new GraphBuilder('int4');
    const data = dtype === 'int4' ? Int8Array.from(values) : Uint8Array.from(values);
    b.initializer({ name: 'w', dtype, dims: [values.length], data });
    b.initializer({ name: 'scale', dtype: 'float32', dims: [], data: Float32Array.of(0.5) });
    const zp = dtype === 'int4' ? Int8Array.of(zeroPoint) : Uint8Array.of(zeroPoint);
    b.initializer({ name: 'zero', dtype, dims: [], data: zp });
    b.op('dq', 'DequantizeLinear', ['w', 'scale', 'zero']);
    b.output('dq', 'float32', [values.length]);
    const model = b.model({ irVersion: 10, opsetImports: [{ domain: '', version: 21 }] });
    expect(checkModel(model)).toEqual([]);
    const bytes = encodeModel(model);
    expect(decodeModel(bytes).graph.initializers[0].data).toEqual(data);
    const session = await createSession(bytes, { threads: 1 });
    try {
      return (await session.run({})).dq.data as Float32Array;
    } finally {
      await session.release();
    }
  }

  it('packs int4 (odd count) as onnxruntime reads it', async () => {
    const values = [-8, -1, 0, 1, 7, 3, -5];
    const out = await dequantize('int4', values, -2);
    expect(Array.from(out)).toEqual(values.map((v) => (v + 2) * 0.5));
  });

  it('packs uint4 as onnxruntime reads it', async () => {
    const values = [0, 15, 8, 7, 1, 14];
    const out = await dequantize('uint4', values, 8);
    expect(Array.from(out)).toEqual(values.map((v) => (v - 8) * 0.5));
  });

  it('flags 4-bit tensors under opset 17', () => {
    const b = new GraphBuilder('g');
    b.initializer({ name: 'w', dtype: 'int4', dims: [2], data: Int8Array.of(1, 2) });
    expect(checkModel(b.model()).join()).toMatch(/w is int4, which needs opset >= 21/);
  });
});

describe('encodeModel input checks', () => {
  it('refuses a tensor whose data does not match its dims or dtype', () => {
    const b = new GraphBuilder('g');
    b.initializer({ name: 'w', dtype: 'float32', dims: [3], data: new Float32Array(2) });
    expect(() => encodeModel(b.model())).toThrow(/w has 2 values for dims \[3\]/);
    const c = new GraphBuilder('g');
    c.initializer({ name: 'v', dtype: 'float32', dims: [2], data: new Float64Array(2) });
    expect(() => encodeModel(c.model())).toThrow(/v \(float32\) holds a Float64Array/);
  });

  it('refuses 4-bit values out of range', () => {
    const b = new GraphBuilder('g');
    b.initializer({ name: 'w', dtype: 'int4', dims: [1], data: Int8Array.of(8) });
    expect(() => encodeModel(b.model())).toThrow(/int4 value 8 out of range/);
  });
});

describe('decodeModel on a Node Buffer', () => {
  it('reads raw_data from a Buffer that is a view into a larger one (readFileSync of a small file)', () => {
    const b = new GraphBuilder('g');
    const x = b.input('x', 'float32', [2]);
    b.initializer({ name: 'w', dtype: 'float32', dims: [2], data: Float32Array.of(1.5, -2) });
    b.op('add', 'Add', [x, 'w'], {}, 'y');
    b.output('y', 'float32', [2]);
    const bytes = encodeModel(b.model());
    // NOTE: Buffer#slice is a view, unlike Uint8Array#slice; put the model mid-pool as Node's file reads do.
    const pool = Buffer.alloc(bytes.length + 64, 7);
    pool.set(bytes, 32);
    const w = decodeModel(pool.subarray(32, 32 + bytes.length)).graph.initializers[0];
    expect(Array.from(w.data as Float32Array)).toEqual([1.5, -2]);
  });
});
