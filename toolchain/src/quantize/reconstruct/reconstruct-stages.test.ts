import { describe, expect, it } from 'vitest';
import type { OnnxGraph, OnnxNode } from '../../onnx/ir.ts';
import { moduleOf, SegmentCursor } from './reconstruct-stages.ts';

const node = (name: string, opType: string, inputs: string[]): OnnxNode => ({
  name,
  opType,
  inputs,
  outputs: [name],
  attributes: {},
});

// x -> a -> b -> d, with c = a + b never needed, and k = Unsqueeze(initializer w) read by b and d.
const graph: OnnxGraph = {
  name: 'g',
  nodes: [
    node('k', 'Unsqueeze', ['w', 'axes']),
    node('a', 'Relu', ['x']),
    node('b', 'Mul', ['a', 'k']),
    node('c', 'Add', ['a', 'b']),
    node('d', 'Mul', ['b', 'k']),
  ],
  initializers: [
    { name: 'w', dtype: 'float32', dims: [1], data: Float32Array.of(2) },
    { name: 'axes', dtype: 'int64', dims: [1], data: BigInt64Array.of(0n) },
  ],
  inputs: [{ name: 'x', dtype: 'float32', shape: [1] }],
  outputs: [{ name: 'c', dtype: 'float32', shape: [1] }],
  valueInfo: [],
};
const names = (nodes: OnnxNode[]) => nodes.map((n) => n.name);

describe('SegmentCursor', () => {
  it('runs each node once, repeats constant helpers, and keeps a value live until its last use', () => {
    const cursor = new SegmentCursor(graph, ['a', 'a', 'd']);
    expect([...cursor.live]).toEqual(['x']);
    const first = cursor.next(['a']);
    expect(names(first.nodes)).toEqual(['a']);
    expect(first.inputs).toEqual(['x']);
    expect(first.outputs).toEqual(['a']);
    expect([...cursor.live]).toEqual(['a']); // x has no reader left
    // `a` is asked for again although node b, which reads it, runs now: it must survive this segment.
    const second = cursor.next(['a', 'd']);
    expect(names(second.nodes)).toEqual(['k', 'b', 'd']);
    expect(second.inputs).toEqual(['a']);
    expect(second.outputs).toEqual(['d']);
    expect([...cursor.live]).toEqual([]); // c (never needed) does not keep a or b alive
  });

  it('gives a later segment the constant helper again', () => {
    const cursor = new SegmentCursor(graph, ['b', 'd']);
    expect(names(cursor.next(['b']).nodes)).toEqual(['k', 'a', 'b']);
    const last = cursor.next(['d']);
    expect(names(last.nodes)).toEqual(['k', 'd']);
    expect(last.inputs).toEqual(['b']);
  });
});

describe('moduleOf', () => {
  it('names the U-Net module a node belongs to', () => {
    expect(moduleOf('input_blocks.10.0.in_layers.2')).toBe('input_blocks.10');
    expect(moduleOf('output_blocks.2.0.skip_connection/h')).toBe('output_blocks.2');
    expect(moduleOf('middle_block.1.qkv')).toBe('middle_block');
    expect(moduleOf('time_embed.0')).toBe('time_embed');
    expect(moduleOf('out.2')).toBe('out');
  });
});
