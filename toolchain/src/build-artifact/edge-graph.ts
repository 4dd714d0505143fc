/**
 * The edge graph: a variant as onnxruntime's optimizer leaves it (QDQ pairs fused into QLinearConv/QGemm, float
 * fusions applied), written at build time so the edge skips that work when it creates a session. On
 * onnxruntime-web the optimizer is most of a cold start from the QDQ graph (bench/edge-node.ts
 * `--portable-graphs` against the default); the outputs are the same bit for bit.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { measureEdgeMemory } from '@qdm/edge-probe/measure-memory';
import type { EdgeGraph } from '@qdm/shared';
import * as ort from 'onnxruntime-node';
import { sha256Bytes, writeFileAtomic } from '../artifact/folder.ts';
import { CLIError } from '../errors.ts';
import type { OnnxGraph, OnnxModel, OnnxTensor } from '../onnx/ir.ts';
import { decodeModel, encodeModel } from '../onnx/model.ts';

/**
 * 'extended': the QDQ and float fusions the web runtime would apply itself, without the layout level ('all' adds
 * NCHWc kernels that exist only in x86 builds, and NHWC transposes that onnxruntime-web does not run faster).
 */
export const EDGE_GRAPH_LEVEL = 'extended';

/**
 * NOTE: transformers that rewrite the graph for the build machine's CPU: on AVX2 without VNNI onnxruntime turns
 * int8 weights into uint8 (a u8s8 overflow workaround). Disabled so the edge graph does not depend on where it was
 * built; both are exact rewrites, so results do not change either way.
 */
const MACHINE_SPECIFIC = ['Avx2WeightS8ToU8Transformer', 'QDQS8ToU8Transformer'];

export function edgeGraphRuntime(): string {
  return `onnxruntime ${ort.env.versions.common}`;
}

/**
 * The edge writes 'ort' (onnxruntime's flatbuffer format): the WASM runtime reads its weights in place instead of
 * copying them, which is what lets a CIFAR-10-sized int8 U-Net fit a 128 MB Worker. 'onnx' is for inspection.
 */
export type EdgeGraphFormat = 'onnx' | 'ort';

/** Saves `model` as onnxruntime leaves it after optimizing at `level`, in `format`. */
async function saveOptimized(
  model: Uint8Array,
  format: EdgeGraphFormat,
  level: typeof EDGE_GRAPH_LEVEL | 'disabled',
): Promise<Uint8Array> {
  const dir = await mkdtemp(join(tmpdir(), 'qdm-edge-graph-'));
  const path = join(dir, `edge.${format}`);
  try {
    const session = await ort.InferenceSession.create(model, {
      graphOptimizationLevel: level,
      intraOpNumThreads: 1,
      interOpNumThreads: 1,
      optimizedModelFilePath: path,
      extra: {
        optimization: { disable_specified_optimizers: MACHINE_SPECIFIC.join(',') },
        session: { save_model_format: format.toUpperCase() },
      },
      logSeverityLevel: 3,
    });
    await session.release();
    return new Uint8Array(await readFile(path));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The graph's and its subgraphs' (If branches) constant tensors. */
function* constantTensors(graph: OnnxGraph): Generator<OnnxTensor> {
  yield* graph.initializers;
  for (const node of graph.nodes) {
    for (const attribute of Object.values(node.attributes)) {
      if (attribute.type === 'tensor') yield attribute.value;
      else if (attribute.type === 'graph') yield* constantTensors(attribute.value);
    }
  }
}

/**
 * Stores every int4/uint4 tensor of `model` as int8/uint8 with the same values (in place); returns how many.
 * DequantizeLinear computes (q - zero point) * scale in float either way, so every output is the same bit for bit.
 */
export function widenFourBit(model: OnnxModel): number {
  let count = 0;
  for (const tensor of constantTensors(model.graph)) {
    if (tensor.dtype === 'int4' || tensor.dtype === 'uint4') {
      tensor.dtype = tensor.dtype === 'int4' ? 'int8' : 'uint8';
      count++;
    }
  }
  return count;
}

/** Why an edge graph stores 4-bit weights in bytes (recorded in the manifest beside the count). */
export const FOUR_BIT_AS_INT8_REASON =
  'the ORT format cannot hold int4 tensors (onnxruntime refuses to load them), so the edge graph stores the 4-bit ' +
  'weights and zero points as int8 with the same values after optimizing: the same DequantizeLinear + float ' +
  'kernels and outputs as the int4 graph, a larger edge file; the variant file itself stays int4';

export interface OptimizedGraph {
  bytes: Uint8Array;
  /** int4/uint4 tensors stored as int8/uint8 (ORT format only; 0 when the variant has none). */
  widenedFourBit: number;
}

/**
 * The optimized graph of `model` as ONNX or ORT-format bytes. The ORT format has no int4 type: a graph with 4-bit
 * tensors is optimized as ONNX first (so the optimizer makes the same kernel choices as for the int4 graph:
 * DequantizeLinear + float Conv, not the integer kernels int8 weights would get), its 4-bit tensors widened to
 * bytes, then converted to ORT with optimization disabled.
 */
export async function optimizeForEdgeGraph(model: Uint8Array, format: EdgeGraphFormat): Promise<OptimizedGraph> {
  if (format === 'onnx' || !hasFourBit(model)) {
    return { bytes: await saveOptimized(model, format, EDGE_GRAPH_LEVEL), widenedFourBit: 0 };
  }
  const optimized = decodeModel(await saveOptimized(model, 'onnx', EDGE_GRAPH_LEVEL));
  const widenedFourBit = widenFourBit(optimized);
  return { bytes: await saveOptimized(encodeModel(optimized), 'ort', 'disabled'), widenedFourBit };
}

/** The optimized graph of `model` as ONNX or ORT-format bytes (see optimizeForEdgeGraph). */
export async function optimizeForEdge(model: Uint8Array, format: EdgeGraphFormat = 'onnx'): Promise<Uint8Array> {
  return (await optimizeForEdgeGraph(model, format)).bytes;
}

function hasFourBit(model: Uint8Array): boolean {
  for (const tensor of constantTensors(decodeModel(model).graph)) {
    if (tensor.dtype === 'int4' || tensor.dtype === 'uint4') return true;
  }
  return false;
}

/** `model.int8.onnx` -> `model.int8.edge.ort` */
export function edgeGraphFile(variantFile: string, format: EdgeGraphFormat = 'ort'): string {
  return variantFile.replace(/(\.onnx)?$/, `.edge.${format}`);
}

export interface EdgeGraphOptions {
  /** [C, H, W] of the model input: the edge memory probe runs one step at n = 1, 2, 4 and 8. */
  shape: [number, number, number];
  /** The graph has wide steps: the probe also runs a step on its float-activation branch (t = 0). */
  wideSteps?: boolean;
}

/** An edge graph that the edge runtime could not load: it is not written, the variant serves its portable graph. */
export class EdgeGraphError extends CLIError {
  override name = 'EdgeGraphError';
}

/**
 * Optimizes the variant `model` (stored as `variantFile`), loads it once in the edge WASM runtime as the edge
 * loads it (measuring its heap), and only then writes its ORT-format edge graph beside it and returns the manifest
 * entry. A graph the runtime cannot load is never written: EdgeGraphError.
 */
export async function writeEdgeGraph(
  dir: string,
  variantFile: string,
  model: Uint8Array,
  options: EdgeGraphOptions,
): Promise<EdgeGraph> {
  const { bytes, widenedFourBit } = await optimizeForEdgeGraph(model, 'ort');
  const file = edgeGraphFile(variantFile);
  const memory = await measureEdgeMemory(bytes, {
    shape: options.shape,
    times: options.wideSteps ? [500, 0] : [500],
    session: { optimized: true, format: 'ort' },
  }).catch((error: unknown) => {
    const cause = error instanceof Error ? error.message : String(error);
    throw new EdgeGraphError(`${file}: the edge runtime cannot load it (${cause.split('\n')[0]}); not written`);
  });
  await writeFileAtomic(dir, file, bytes);
  return {
    file,
    bytes: bytes.length,
    sha256: sha256Bytes(bytes),
    runtime: edgeGraphRuntime(),
    level: EDGE_GRAPH_LEVEL,
    format: 'ort',
    memory,
    ...(widenedFourBit > 0 ? { fourBitAsInt8: { tensors: widenedFourBit, reason: FOUR_BIT_AS_INT8_REASON } } : {}),
  };
}
