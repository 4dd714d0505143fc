/**
 * The heap probe from its own package: a worker thread loads the graph in onnxruntime-web as the edge does and
 * reports the WASM heap at each batch.
 */
import { describe, expect, it } from 'vitest';
import { measureEdgeMemory } from '../src/measure-memory.ts';

// A minimal ONNX encoder: just what the model below needs (protobuf wire format, lengths as varints).
function varint(value: number): number[] {
  const out: number[] = [];
  let v = value;
  do {
    out.push((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
    v >>>= 7;
  } while (v > 0);
  return out;
}
const text = (s: string) => [...new TextEncoder().encode(s)];
const field = (n: number, payload: number[]) => [...varint((n << 3) | 2), ...varint(payload.length), ...payload];
const int = (n: number, value: number) => [...varint(n << 3), ...varint(value)];
/** ValueInfoProto: float32, dims a number or a symbolic name. */
const valueInfo = (name: string, dims: (number | string)[]) => {
  const shape = dims.flatMap((d) => field(1, typeof d === 'number' ? int(1, d) : field(2, text(d))));
  return [...field(1, text(name)), ...field(2, field(1, [...int(1, 1), ...field(2, shape)]))];
};

/** out = x * 2 + 0 * t (t reshaped to [N, 1, 1, 1]), x [N, 3, 8, 8]: every activation scales with the batch. */
function model(): Uint8Array {
  const node = (inputs: string[], output: string, op: string) => [
    ...inputs.flatMap((i) => field(1, text(i))),
    ...field(2, text(output)),
    ...field(4, text(op)),
  ];
  // TensorProto{dims, data_type FLOAT or INT64, name, raw_data}
  const tensor = (name: string, dims: number[], type: number, raw: Uint8Array) => [
    ...dims.flatMap((d) => int(1, d)),
    ...int(2, type),
    ...field(8, text(name)),
    ...field(9, [...raw]),
  ];
  const graph = [
    ...field(1, node(['t', 'shape'], 't4', 'Reshape')),
    ...field(1, node(['t4', 'zero'], 't0', 'Mul')),
    ...field(1, node(['x', 'two'], 'x2', 'Mul')),
    ...field(1, node(['x2', 't0'], 'out', 'Add')),
    ...field(2, text('probe-test')),
    ...field(5, tensor('shape', [4], 7, new Uint8Array(new BigInt64Array([-1n, 1n, 1n, 1n]).buffer))),
    ...field(5, tensor('zero', [], 1, new Uint8Array(new Float32Array([0]).buffer))),
    ...field(5, tensor('two', [], 1, new Uint8Array(new Float32Array([2]).buffer))),
    ...field(11, valueInfo('x', ['N', 3, 8, 8])),
    ...field(11, valueInfo('t', ['N'])),
    ...field(12, valueInfo('out', ['N', 3, 8, 8])),
  ];
  return new Uint8Array([...int(1, 8), ...field(7, graph), ...field(8, int(2, 17))]);
}

describe('measureEdgeMemory', () => {
  it('reports the heap after each batch, growing with it, from a worker thread of its own', async () => {
    const memory = await measureEdgeMemory(model(), { shape: [3, 8, 8], batches: [1, 64, 16384], session: {} });
    expect(memory.runtime).toMatch(/^onnxruntime 1\.\d+\.\d+ wasm$/);
    expect(memory.heapBytes.map((m) => m.n)).toEqual([1, 64, 16384]);
    const bytes = memory.heapBytes.map((m) => m.bytes);
    expect(bytes[0]).toBeGreaterThan(0);
    expect(bytes[1]).toBeGreaterThanOrEqual(bytes[0]);
    // At n = 16384 one activation is 12 MiB, and the input x and x * 2 are live at once: the heap holds both.
    const activation = 16384 * 3 * 8 * 8 * 4;
    expect(bytes[2]).toBeGreaterThanOrEqual(2 * activation);
    expect(memory.perSampleBytes).toBe(Math.ceil((bytes[2] - bytes[1]) / (16384 - 64)));
  });

  it('rejects when the runtime cannot load the graph (the thread exits with the error)', async () => {
    await expect(
      measureEdgeMemory(new Uint8Array([1, 2, 3]), { shape: [3, 8, 8], batches: [1], session: {} }),
    ).rejects.toThrow();
  });
});
