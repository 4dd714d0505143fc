import { describe, expect, it } from 'vitest';
import { GraphBuilder } from './builder.ts';
import { assertValidModel, checkModel, OnnxCheckError } from './check.ts';
import type { OnnxModel } from './ir.ts';

function tinyModel(): OnnxModel {
  const b = new GraphBuilder('tiny');
  b.input('x', 'float32', ['N', 2]);
  b.constant('two', 'float32', [], Float32Array.of(2));
  b.op('double', 'Mul', ['x', 'two']);
  b.op('relu', 'Relu', ['double']);
  b.output('relu', 'float32', ['N', 2]);
  return b.model();
}

describe('checkModel', () => {
  it('accepts a well-formed model', () => {
    expect(checkModel(tinyModel())).toEqual([]);
    expect(() => assertValidModel(tinyModel())).not.toThrow();
  });

  it('reports nodes out of topological order', () => {
    const m = tinyModel();
    m.graph.nodes.reverse();
    expect(checkModel(m)).toEqual(['node relu reads double, before it is produced (not topologically sorted)']);
  });

  it('reports undefined inputs and outputs, duplicate values and node names', () => {
    const m = tinyModel();
    m.graph.nodes[1].inputs = ['nowhere'];
    m.graph.nodes[1].name = 'double';
    m.graph.nodes[1].outputs = ['double'];
    const issues = checkModel(m);
    expect(issues).toContain('node double reads nowhere, never defined');
    expect(issues).toContain('node name double is used more than once');
    expect(issues).toContain('value double is defined more than once (output of node double)');
    expect(issues).toContain('graph output relu is never defined');
  });

  it('allows omitted optional inputs and inputs that double as initializers', () => {
    const m = tinyModel();
    m.graph.nodes[1].inputs.push('');
    m.graph.inputs.push({ name: 'two', dtype: 'float32', shape: [] });
    expect(checkModel(m)).toEqual([]);
  });

  it('reports opset problems', () => {
    const m = tinyModel();
    m.opsetImports = [{ domain: 'com.microsoft', version: 1 }];
    m.graph.nodes[0].domain = 'com.example';
    expect(checkModel(m)).toEqual([
      'no opset imported for the default ONNX domain',
      "nodes use domain 'com.example' without an opset import",
    ]);
  });

  it('reports tensors whose data does not fit their dims', () => {
    const m = tinyModel();
    m.graph.initializers[0].dims = [3];
    expect(checkModel(m)).toEqual(['tensor two has 1 values for dims [3]']);
  });

  it('throws every issue at once', () => {
    const m = tinyModel();
    m.graph.nodes.reverse();
    m.irVersion = 2;
    try {
      assertValidModel(m);
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(OnnxCheckError);
      expect((e as OnnxCheckError).issues).toHaveLength(2);
    }
  });
});
