/**
 * What onnxruntime actually runs: the graph after its optimizations at level 'all' (written with
 * `optimizedModelFilePath`), counted by op type. QDQ groups that fused show up as QLinear or integer nodes; float
 * Conv/MatMul/Gemm that remain are layers still computing in float.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import type { OnnxGraph, OnnxModel, OnnxNode } from '../../onnx/ir.ts';
import { decodeModel, encodeModel } from '../../onnx/model.ts';
import type { OptimizationLevel } from '../../runtime/ort.ts';

/** Ops that compute on integers (onnxruntime's QDQ fusions and integer kernels). */
export const INTEGER_OPS = new Set([
  'QLinearConv',
  'QLinearMatMul',
  'MatMulIntegerToFloat',
  'DynamicQuantizeMatMul',
  'QGemm',
  'QLinearAdd',
  'QLinearMul',
  'QLinearSigmoid',
  'QLinearLeakyRelu',
  'QLinearConcat',
  'QLinearSoftmax',
  'QLinearAveragePool',
  'QLinearGlobalAveragePool',
  'QLinearWhere',
  'ConvInteger',
  'MatMulInteger',
  'MatMulNBits',
]);

/** Float ops that carry a layer's multiply-accumulates (onnxruntime's fused variants included). */
export const FLOAT_LAYER_OPS = new Set(['Conv', 'FusedConv', 'MatMul', 'FusedMatMul', 'Gemm', 'FusedGemm']);

export interface FusionReport {
  level: OptimizationLevel;
  /** Node count per op type (domain-qualified when not the default domain, e.g. `com.microsoft.nchwc:Conv`). */
  ops: Record<string, number>;
  /** Per integer op type (any domain). */
  integerNodes: Record<string, number>;
  integerTotal: number;
  /** Float Conv/MatMul/Gemm (and fused variants, any domain) left in the optimized graph. */
  floatLayers: Record<string, number>;
  floatLayerTotal: number;
  quantizeLinear: number;
  dequantizeLinear: number;
  nodes: number;
}

export async function inspectFusion(model: OnnxModel, level: OptimizationLevel = 'all'): Promise<FusionReport> {
  const dir = await mkdtemp(join(tmpdir(), 'qdm-fusion-'));
  const path = join(dir, 'optimized.onnx');
  try {
    const session = await ort.InferenceSession.create(encodeModel(model), {
      graphOptimizationLevel: level,
      intraOpNumThreads: 1,
      interOpNumThreads: 1,
      optimizedModelFilePath: path,
      // NOTE: onnxruntime warns that a level-'all' graph may be hardware specific; we only count its nodes.
      logSeverityLevel: 3,
    });
    await session.release();
    const file = await readFile(path);
    // NOTE: a plain Uint8Array view, not the Buffer: Buffer#slice does not copy, which the codec relies on.
    return countOps(decodeModel(new Uint8Array(file.buffer, file.byteOffset, file.byteLength)), level);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export function countOps(optimized: OnnxModel, level: OptimizationLevel): FusionReport {
  const ops: Record<string, number> = {};
  const integerNodes: Record<string, number> = {};
  const floatLayers: Record<string, number> = {};
  const bump = (r: Record<string, number>, k: string) => {
    r[k] = (r[k] ?? 0) + 1;
  };
  const nodes = graphNodes(optimized.graph);
  for (const node of nodes) {
    const domain = node.domain ?? '';
    bump(ops, domain && domain !== 'ai.onnx' ? `${domain}:${node.opType}` : node.opType);
    if (INTEGER_OPS.has(node.opType)) bump(integerNodes, node.opType);
    if (FLOAT_LAYER_OPS.has(node.opType)) bump(floatLayers, node.opType);
  }
  const sum = (r: Record<string, number>) => Object.values(r).reduce((a, b) => a + b, 0);
  return {
    level,
    ops,
    integerNodes,
    integerTotal: sum(integerNodes),
    floatLayers,
    floatLayerTotal: sum(floatLayers),
    quantizeLinear: nodes.filter((n) => n.opType === 'QuantizeLinear').length,
    dequantizeLinear: nodes.filter((n) => n.opType === 'DequantizeLinear').length,
    nodes: nodes.length,
  };
}

/** Every node of `graph`, its subgraphs' (If branches: wide-steps.ts) included. */
export function graphNodes(graph: OnnxGraph): OnnxNode[] {
  const nodes: OnnxNode[] = [];
  const walk = (g: OnnxGraph) => {
    for (const node of g.nodes) {
      nodes.push(node);
      for (const attr of Object.values(node.attributes)) if (attr.type === 'graph') walk(attr.value);
    }
  };
  walk(graph);
  return nodes;
}
