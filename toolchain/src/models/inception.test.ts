import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeNpy, type Tensor } from '@qdm/shared';
import * as ort from 'onnxruntime-node';
import { beforeAll, describe, expect, it } from 'vitest';
import { inceptionHashWeights } from '../../test/fixtures/inception/hash-weights.ts';
import { hashInput } from '../../test/fixtures/unet/hash-tensors.ts';
import { repoRoot } from '../../test/paths.ts';
import { assertValidModel } from '../onnx/check.ts';
import { encodeModel } from '../onnx/model.ts';
import { createSession, type Session } from '../runtime/ort.ts';
import {
  buildFidInception,
  FID_INCEPTION_FEATURES,
  fidInceptionWeightShapes,
  InceptionWeightsError,
  SPATIAL_SOURCE,
} from './inception.ts';

const fixtures = join(repoRoot, 'toolchain/test/fixtures/inception');

interface ReferenceCase {
  name: string;
  batch: number;
  height: number;
  width: number;
  stream: number;
}

const reference = JSON.parse(readFileSync(join(fixtures, 'reference.json'), 'utf8')) as {
  seed: number;
  cases: ReferenceCase[];
  keys: [string, number[]][];
};
const OUTPUTS = ['logits', 'pool', 'spatial'] as const;

function weights(): Map<string, Tensor> {
  return inceptionHashWeights(reference.seed, reference.keys);
}

/** max |a - b| over max(1, max |b|): absolute near zero, relative for large features. */
function scaledError(actual: Float32Array, expected: Float32Array): number {
  expect(actual.length).toBe(expected.length);
  let diff = 0;
  let scale = 1;
  for (let i = 0; i < expected.length; i++) {
    diff = Math.max(diff, Math.abs(actual[i] - expected[i]));
    scale = Math.max(scale, Math.abs(expected[i]));
  }
  return diff / scale;
}

describe('buildFidInception matches pytorch-fid FID Inception-v3 (random hashed weights)', () => {
  let session: Session;
  beforeAll(async () => {
    const model = buildFidInception(weights());
    assertValidModel(model);
    session = await createSession(encodeModel(model));
    return () => session.release();
  });

  for (const c of reference.cases) {
    it(`${c.name}: logits, pool and spatial within 1e-4 of PyTorch`, async () => {
      const dims = [c.batch, 3, c.height, c.width];
      const images = hashInput(reference.seed, c.stream, dims);
      const result = await session.run({ images: new ort.Tensor('float32', images, dims) });
      for (const name of OUTPUTS) {
        const expected = decodeNpy(readFileSync(join(fixtures, `${c.name}-${name}.npy`)));
        expect(expected.shape).toEqual([c.batch, FID_INCEPTION_FEATURES[name]]);
        expect(result[name].dims).toEqual(expected.shape);
        const error = scaledError(result[name].data as Float32Array, expected.data as Float32Array);
        expect(error, name).toBeLessThanOrEqual(1e-4);
      }
    });
  }
});

describe('buildFidInception weight validation', () => {
  it('expects exactly the keys and shapes of pytorch-fid state_dict', () => {
    expect([...fidInceptionWeightShapes()].sort(([a], [b]) => (a < b ? -1 : 1))).toEqual(reference.keys);
  });

  it('accepts BatchNorm num_batches_tracked counters (int64 scalars in torch state_dicts)', () => {
    const w = weights();
    w.set('Mixed_6d.branch1x1.bn.num_batches_tracked', {
      dtype: 'int64',
      shape: [],
      data: BigInt64Array.of(0n),
    });
    expect(() => buildFidInception(w)).not.toThrow();
  });

  it('reports every missing, unexpected and mis-shaped tensor in one error, before building', () => {
    const w = weights();
    w.delete('Mixed_7c.branch_pool.conv.weight');
    w.delete('fc.bias');
    w.set('AuxLogits.fc.weight', w.get('fc.weight')!);
    const fc = w.get('fc.weight')!;
    w.set('fc.weight', { ...fc, shape: [1000, 2048], data: fc.data.subarray(0, 1000 * 2048) });
    try {
      buildFidInception(w);
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(InceptionWeightsError);
      const err = e as InceptionWeightsError;
      expect(err.missing).toEqual(['Mixed_7c.branch_pool.conv.weight', 'fc.bias']);
      expect(err.unexpected).toEqual(['AuxLogits.fc.weight']);
      expect(err.misshaped).toEqual([{ name: 'fc.weight', expected: [1008, 2048], actual: [1000, 2048] }]);
      expect(err.message).toMatch(/pt_inception-2015-12-05-6726825d\.pth/);
      expect(err.message).toMatch(/wrong shape fc\.weight: \[1000, 2048\], expected \[1008, 2048\]/);
    }
  });

  it('rejects a bad inputSize', () => {
    expect(() => buildFidInception(weights(), { inputSize: 0 })).toThrow(/inputSize/);
  });
});

describe('buildFidInception graph conventions', () => {
  const model = buildFidInception(weights(), { inputSize: 32 });
  const nodes = new Map(model.graph.nodes.map((n) => [n.name, n]));

  it('has input images [N,3,s,s] and outputs logits, pool, spatial, opset 17', () => {
    expect(model.graph.inputs).toEqual([{ name: 'images', dtype: 'float32', shape: ['N', 3, 32, 32] }]);
    expect(model.graph.outputs).toEqual([
      { name: 'logits', dtype: 'float32', shape: ['N', 1008] },
      { name: 'pool', dtype: 'float32', shape: ['N', 2048] },
      { name: 'spatial', dtype: 'float32', shape: ['N', 2023] },
    ]);
    expect(model.opsetImports).toEqual([{ domain: '', version: 17 }]);
  });

  it('resizes bilinearly with half-pixel centers and names nodes by module path', () => {
    const resize = nodes.get('resize')!;
    expect(resize.attributes.mode).toEqual({ type: 'string', value: 'linear' });
    expect(resize.attributes.coordinate_transformation_mode).toEqual({ type: 'string', value: 'half_pixel' });
    expect(nodes.get('Mixed_6d.branch1x1.conv')?.inputs[1]).toBe('Mixed_6d.branch1x1.conv.weight');
    expect(nodes.get('Mixed_6d.branch1x1.bn')?.attributes.epsilon).toEqual({ type: 'float', value: 0.001 });
    expect(nodes.get('spatial/channels')?.inputs[0]).toBe(SPATIAL_SOURCE);
    expect(nodes.get('Mixed_7c/max_pool')?.opType).toBe('MaxPool');
    expect(nodes.get('Mixed_7b/avg_pool')?.opType).toBe('AveragePool');
  });
});
