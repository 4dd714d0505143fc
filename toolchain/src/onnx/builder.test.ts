import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { createSession } from '../runtime/ort.ts';
import { attr, GraphBuilder } from './builder.ts';
import { encodeModel } from './model.ts';

describe('GraphBuilder', () => {
  it('refuses inputs that are not defined yet and duplicate names', () => {
    const b = new GraphBuilder('g');
    b.input('x', 'float32', [2]);
    expect(() => b.op('a', 'Relu', ['y'])).toThrow(/node a reads y, which is not defined yet/);
    b.op('a', 'Relu', ['x']);
    expect(() => b.op('a', 'Relu', ['x'], {}, 'other')).toThrow(/duplicate node name a/);
    expect(() => b.op('b', 'Relu', ['x'], {}, 'a')).toThrow(/value a defined twice/);
    expect(() => b.output('nothing', 'float32', [2])).toThrow(/output nothing is not defined/);
  });

  it('shares constants by name and refuses conflicting redefinitions', () => {
    const b = new GraphBuilder('g');
    expect(b.int64s('shape', [1, 2])).toBe('shape');
    expect(b.int64s('shape', [1, 2])).toBe('shape');
    expect(b.initializers).toHaveLength(1);
    expect(() => b.int64s('shape', [2, 1])).toThrow(/constant shape redefined/);
  });

  it('builds a model onnxruntime runs (multi-output op, attributes, omitted optional input)', async () => {
    const b = new GraphBuilder('g');
    b.input('x', 'float32', ['N', 4]);
    const split = b.int64s('split', [1, 3]);
    const [left, right] = b.opMulti('split', 'Split', ['x', split], ['left', 'right'], { axis: attr.int(1) });
    const sum = b.op('sum', 'ReduceSum', [right, b.int64s('axes', [1])], { keepdims: attr.int(1) });
    const diff = b.op('diff', 'Sub', [sum, left]);
    b.op('out', 'Clip', [diff, '', b.float32Scalar('max', 50)]);
    b.output('out', 'float32', ['N', 1]);
    const session = await createSession(encodeModel(b.model()), { threads: 1 });
    try {
      const x = Float32Array.of(1, 2, 3, 4, 10, 20, 30, 40);
      const out = await session.run({ x: new ort.Tensor('float32', x, [2, 4]) });
      expect(Array.from(out.out.data as Float32Array)).toEqual([2 + 3 + 4 - 1, 50]); // 80 clipped
    } finally {
      await session.release();
    }
  });
});
