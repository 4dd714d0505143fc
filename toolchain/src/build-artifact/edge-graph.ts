/**
 * The edge graph: a variant as onnxruntime's optimizer leaves it (QDQ pairs fused into QLinearConv/QGemm, float
 * fusions applied), written at build time so the edge skips that work when it creates a session. On
 * onnxruntime-web the optimizer is most of a cold start from the QDQ graph (bench/edge-node.ts
 * `--portable-graphs` against the default); the outputs are the same bit for bit.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { measureEdgeMemory } from '@qdm/edge/measure-memory';
import type { EdgeGraph } from '@qdm/shared';
import * as ort from 'onnxruntime-node';
import { sha256Bytes, writeFileAtomic } from '../artifact/folder.ts';

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

/** The optimized graph of `model` as ONNX or ORT-format bytes. */
export async function optimizeForEdge(model: Uint8Array, format: EdgeGraphFormat = 'onnx'): Promise<Uint8Array> {
  const dir = await mkdtemp(join(tmpdir(), 'qdm-edge-graph-'));
  const path = join(dir, `edge.${format}`);
  try {
    const session = await ort.InferenceSession.create(model, {
      graphOptimizationLevel: EDGE_GRAPH_LEVEL,
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

/**
 * Optimizes the variant `model` (stored as `variantFile`), writes its ORT-format edge graph beside it, measures
 * the edge WASM runtime's heap with it loaded as the edge loads it, and returns the manifest entry.
 */
export async function writeEdgeGraph(
  dir: string,
  variantFile: string,
  model: Uint8Array,
  options: EdgeGraphOptions,
): Promise<EdgeGraph> {
  const bytes = await optimizeForEdge(model, 'ort');
  const file = edgeGraphFile(variantFile);
  await writeFileAtomic(dir, file, bytes);
  const memory = await measureEdgeMemory(bytes, {
    shape: options.shape,
    times: options.wideSteps ? [500, 0] : [500],
    session: { optimized: true, format: 'ort' },
  });
  return {
    file,
    bytes: bytes.length,
    sha256: sha256Bytes(bytes),
    runtime: edgeGraphRuntime(),
    level: EDGE_GRAPH_LEVEL,
    format: 'ort',
    memory,
  };
}
