/** `@qdm/toolchain/onnx`: ONNX models as plain objects, their protobuf encoding, and a small graph builder. */

/** Builds a graph node by node (what the model builders use). */
export { attr, GraphBuilder, type ModelOptions } from './builder.ts';
/** Structural checks (every input defined, opsets declared). */
export { assertValidModel, checkModel, OnnxCheckError } from './check.ts';
/** The model as plain objects: graph, nodes, initializers, value infos. */
export type { AttributeValue, OnnxGraph, OnnxModel, OnnxNode, OnnxTensor, ValueInfo } from './ir.ts';
/** Protobuf bytes <-> OnnxModel. */
export { decodeModel, encodeModel } from './model.ts';
/** Winograd F(m, 3) rewrites of 3x3 convs. */
export { type WinogradOptions, type WinogradTile, winogradConvs } from './winograd.ts';
