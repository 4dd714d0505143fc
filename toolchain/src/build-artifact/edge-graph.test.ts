import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, describe, expect, it } from 'vitest';
import { sha256Bytes } from '../artifact/folder.ts';
import { decodeModel, encodeModel } from '../onnx/model.ts';
import { exportQdq, prepareModel, type QuantizedWeight } from '../quantize/export.ts';
import { indexGraph } from '../quantize/graph-index.ts';
import { observeActivations } from '../quantize/observe.ts';
import { planQuantization } from '../quantize/plan.ts';
import { syntheticCalibration, tinyUNet } from '../quantize/test-model.ts';
import { roundWeightsNearest, weightMatrix } from '../quantize/weights.ts';
import { createSession, type OptimizationLevel } from '../runtime/ort.ts';
import { EdgeGraphError, edgeGraphFile, optimizeForEdge, writeEdgeGraph } from './edge-graph.ts';

const model = tinyUNet();
const set = syntheticCalibration(16, 8);

async function qdqModel(weightBits: 4 | 8 = 8): Promise<Uint8Array> {
  const plan = planQuantization(model.graph, { scheme: 'full', weightBits, activationBits: 8 });
  const stats = await observeActivations(model, plan, set, { observer: { kind: 'minmax' }, threads: 1 });
  const index = indexGraph(prepareModel(model, plan).graph);
  const weights = new Map<string, QuantizedWeight>(
    plan.weights.map((w) => [w.node, roundWeightsNearest(w, weightMatrix(index.initializer(w.weight)!), 'absmax')]),
  );
  return encodeModel(exportQdq(model, plan, stats.ranges, weights));
}

async function run(bytes: Uint8Array, level: OptimizationLevel): Promise<Float32Array> {
  const session = await createSession(bytes, { threads: 1, optimization: level });
  try {
    const out = await session.run({
      x: new ort.Tensor('float32', set.x.slice(0, 2 * 3 * 16 * 16), [2, 3, 16, 16]),
      t: new ort.Tensor('float32', set.t.slice(0, 2), [2]),
    });
    return out.out.data as Float32Array;
  } finally {
    await session.release();
  }
}

const dirs: string[] = [];
afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

describe('edge graph', () => {
  it('is the fused integer graph, and computes exactly what the QDQ graph computes when optimized', async () => {
    const portable = await qdqModel();
    const edge = await optimizeForEdge(portable);
    const ops = decodeModel(edge).graph.nodes.map((n) => n.opType);
    expect(ops).toContain('QLinearConv');
    expect(ops.filter((op) => op === 'DequantizeLinear').length).toBeLessThan(
      decodeModel(portable).graph.nodes.filter((n) => n.opType === 'DequantizeLinear').length / 4,
    );
    // No layout-level rewrites (x86-only NCHWc kernels) in a graph meant for onnxruntime-web.
    expect(decodeModel(edge).graph.nodes.some((n) => n.domain === 'com.microsoft.nchwc')).toBe(false);
    expect(await run(edge, 'disabled')).toEqual(await run(portable, 'extended'));
  });

  it('keeps int8 weights int8 (no rewrite for the build machine)', async () => {
    const edge = decodeModel(await optimizeForEdge(await qdqModel()));
    const init = new Map(edge.graph.initializers.map((t) => [t.name, t]));
    const weights = edge.graph.nodes.filter((n) => n.opType === 'QLinearConv').map((n) => init.get(n.inputs[3]));
    expect(weights.length).toBeGreaterThan(0);
    for (const w of weights) expect(w?.dtype).toBe('int8');
  });

  it('is written beside the variant in ORT format, with the edge heap measured, and described for the manifest', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'qdm-edge-graph-test-'));
    dirs.push(dir);
    const portable = await qdqModel();
    const entry = await writeEdgeGraph(dir, 'model.int8.onnx', portable, { shape: [3, 16, 16] });
    const written = new Uint8Array(await readFile(join(dir, entry.file)));
    expect(entry.file).toBe('model.int8.edge.ort');
    expect(entry.format).toBe('ort');
    expect(entry.bytes).toBe(written.length);
    expect(entry.sha256).toBe(sha256Bytes(written));
    expect(entry.runtime).toBe(`onnxruntime ${ort.env.versions.common}`);
    expect(entry.level).toBe('extended');
    expect(edgeGraphFile('model')).toBe('model.edge.ort');
    // The ORT-format graph computes what the QDQ graph computes.
    expect(await run(written, 'disabled')).toEqual(await run(portable, 'extended'));
    // One heap reading per probed batch; the heap never shrinks and holds at least the weights.
    const memory = entry.memory!;
    expect(memory.heapBytes.map((m) => m.n)).toEqual([1, 2, 4, 8]);
    expect(memory.heapBytes[0].bytes).toBeGreaterThan(written.length);
    for (let i = 1; i < 4; i++) expect(memory.heapBytes[i].bytes).toBeGreaterThanOrEqual(memory.heapBytes[i - 1].bytes);
    expect(memory.runtime).toMatch(/^onnxruntime 1\.\d+\.\d+ wasm$/);
  });

  it('W4A8: an ORT-format edge graph the runtimes load, its int4 weights as int8, same outputs bit for bit', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'qdm-edge-graph-test-'));
    dirs.push(dir);
    const portable = await qdqModel(4);
    const fourBit = decodeModel(portable).graph.initializers.filter((t) => t.dtype === 'int4');
    expect(fourBit.length).toBeGreaterThan(0);
    const entry = await writeEdgeGraph(dir, 'model.w4a8.onnx', portable, { shape: [3, 16, 16] });
    const written = new Uint8Array(await readFile(join(dir, entry.file)));
    expect(entry.fourBitAsInt8?.tensors).toBeGreaterThanOrEqual(fourBit.length);
    expect(entry.fourBitAsInt8?.reason).toMatch(/ORT format/);
    // onnxruntime-node loads it (the WASM runtime did, for the heap probe) and it computes what the int4 graph does.
    expect(await run(written, 'disabled')).toEqual(await run(portable, 'extended'));
    // The optimizer chose the int4 graph's kernels: the 4-bit convs stay DequantizeLinear + float Conv.
    const optimized = decodeModel(await optimizeForEdge(portable));
    expect(optimized.graph.nodes.some((n) => n.opType === 'Conv' || n.opType === 'FusedConv')).toBe(true);
  });

  it('is not written when the edge runtime cannot load it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'qdm-edge-graph-test-'));
    dirs.push(dir);
    const broken = await qdqModel();
    // A graph onnxruntime-node accepts at build time, but with an input shape the probe's step cannot run.
    await expect(writeEdgeGraph(dir, 'model.int8.onnx', broken, { shape: [5, 16, 16] })).rejects.toThrow(
      EdgeGraphError,
    );
    await expect(readFile(join(dir, 'model.int8.edge.ort'))).rejects.toThrow(/ENOENT/);
  });
});
