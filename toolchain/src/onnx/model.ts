/**
 * ModelProto <-> OnnxModel (field numbers from onnx.proto). Encoding sizes the whole model first and writes one
 * buffer; initializer bytes are copied exactly once.
 */
import type { DType } from '@qdm/shared';
import type { AttributeValue, OnnxGraph, OnnxModel, OnnxNode, ValueInfo } from './ir.ts';
import { encodeMessage, ProtoMessage, ProtoReader } from './proto.ts';
import { DATA_TYPE_CODES, decodeTensor, dtypeFromCode, encodeTensor, isFourBit } from './tensor-proto.ts';

/** AttributeProto.AttributeType codes. */
const ATTRIBUTE_CODES = { float: 1, int: 2, string: 3, tensor: 4, graph: 5, floats: 6, ints: 7, strings: 8 } as const;

export function encodeModel(model: OnnxModel): Uint8Array {
  const msg = new ProtoMessage();
  msg.varint(1, model.irVersion);
  if (model.producerName) msg.string(2, model.producerName);
  if (model.producerVersion) msg.string(3, model.producerVersion);
  msg.message(7, encodeGraph(model.graph));
  for (const { domain, version } of model.opsetImports) {
    const opset = new ProtoMessage();
    if (domain) opset.string(1, domain);
    opset.varint(2, version);
    msg.message(8, opset);
  }
  for (const [key, value] of Object.entries(model.metadata)) {
    msg.message(14, new ProtoMessage().string(1, key).string(2, value));
  }
  return encodeMessage(msg);
}

function encodeGraph(graph: OnnxGraph): ProtoMessage {
  const msg = new ProtoMessage();
  for (const node of graph.nodes) msg.message(1, encodeNode(node));
  msg.string(2, graph.name);
  for (const tensor of graph.initializers) msg.message(5, encodeTensor(tensor));
  for (const info of graph.inputs) msg.message(11, encodeValueInfo(info));
  for (const info of graph.outputs) msg.message(12, encodeValueInfo(info));
  for (const info of graph.valueInfo) msg.message(13, encodeValueInfo(info));
  return msg;
}

function encodeNode(node: OnnxNode): ProtoMessage {
  const msg = new ProtoMessage();
  for (const input of node.inputs) msg.string(1, input);
  for (const output of node.outputs) msg.string(2, output);
  if (node.name) msg.string(3, node.name);
  msg.string(4, node.opType);
  for (const [name, value] of Object.entries(node.attributes)) msg.message(5, encodeAttribute(name, value));
  if (node.domain) msg.string(7, node.domain);
  return msg;
}

function encodeAttribute(name: string, attr: AttributeValue): ProtoMessage {
  const msg = new ProtoMessage().string(1, name).varint(20, ATTRIBUTE_CODES[attr.type]);
  switch (attr.type) {
    case 'float':
      return msg.float(2, attr.value);
    case 'int':
      return msg.varint(3, attr.value);
    case 'string':
      return msg.string(4, attr.value);
    case 'tensor':
      return msg.message(5, encodeTensor(attr.value));
    case 'graph':
      return msg.message(6, encodeGraph(attr.value));
    case 'floats':
      for (const v of attr.value) msg.float(7, v);
      return msg;
    case 'ints':
      for (const v of attr.value) msg.varint(8, v);
      return msg;
    case 'strings':
      for (const v of attr.value) msg.string(9, v);
      return msg;
  }
}

function encodeValueInfo(info: ValueInfo): ProtoMessage {
  const tensorType = new ProtoMessage().varint(1, DATA_TYPE_CODES[info.dtype]);
  if (!info.unknownRank) {
    const shape = new ProtoMessage();
    for (const d of info.shape) {
      const dim = new ProtoMessage();
      if (typeof d === 'number') dim.varint(1, d);
      else if (d !== '') dim.string(2, d);
      shape.message(1, dim);
    }
    tensorType.message(2, shape);
  }
  const type = new ProtoMessage().message(1, tensorType);
  return new ProtoMessage().string(1, info.name).message(2, type);
}

export function decodeModel(bytes: Uint8Array): OnnxModel {
  const r = new ProtoReader(bytes);
  const model: OnnxModel = {
    irVersion: 0,
    opsetImports: [],
    producerName: '',
    producerVersion: '',
    graph: { name: '', nodes: [], initializers: [], inputs: [], outputs: [], valueInfo: [] },
    metadata: {},
  };
  while (!r.done()) {
    const { field, wire } = r.next();
    if (field === 1) model.irVersion = r.int64();
    else if (field === 2) model.producerName = r.string();
    else if (field === 3) model.producerVersion = r.string();
    else if (field === 7) model.graph = decodeGraph(r.message());
    else if (field === 8) model.opsetImports.push(decodeOpset(r.message()));
    else if (field === 14) {
      const [key, value] = decodeStringPair(r.message());
      model.metadata[key] = value;
    } else if (field === 25) throw new Error('onnx: model-local functions are not supported');
    else r.skip(wire);
  }
  return model;
}

function decodeOpset(r: ProtoReader): { domain: string; version: number } {
  const opset = { domain: '', version: 0 };
  while (!r.done()) {
    const { field, wire } = r.next();
    if (field === 1) opset.domain = r.string();
    else if (field === 2) opset.version = r.int64();
    else r.skip(wire);
  }
  return opset;
}

function decodeStringPair(r: ProtoReader): [string, string] {
  let key = '';
  let value = '';
  while (!r.done()) {
    const { field, wire } = r.next();
    if (field === 1) key = r.string();
    else if (field === 2) value = r.string();
    else r.skip(wire);
  }
  return [key, value];
}

function decodeGraph(r: ProtoReader): OnnxGraph {
  const graph: OnnxGraph = { name: '', nodes: [], initializers: [], inputs: [], outputs: [], valueInfo: [] };
  while (!r.done()) {
    const { field, wire } = r.next();
    if (field === 1) graph.nodes.push(decodeNode(r.message()));
    else if (field === 2) graph.name = r.string();
    else if (field === 5) graph.initializers.push(decodeTensor(r.message()));
    else if (field === 11) graph.inputs.push(decodeValueInfo(r.message()));
    else if (field === 12) graph.outputs.push(decodeValueInfo(r.message()));
    else if (field === 13) graph.valueInfo.push(decodeValueInfo(r.message()));
    else if (field === 15) throw new Error('onnx: sparse initializers are not supported');
    else r.skip(wire);
  }
  return graph;
}

function decodeNode(r: ProtoReader): OnnxNode {
  const node: OnnxNode = { name: '', opType: '', inputs: [], outputs: [], attributes: {} };
  while (!r.done()) {
    const { field, wire } = r.next();
    if (field === 1) node.inputs.push(r.string());
    else if (field === 2) node.outputs.push(r.string());
    else if (field === 3) node.name = r.string();
    else if (field === 4) node.opType = r.string();
    else if (field === 5) {
      const [name, value] = decodeAttribute(r.message(), node);
      node.attributes[name] = value;
    } else if (field === 7) node.domain = r.string();
    else r.skip(wire);
  }
  return node;
}

function decodeAttribute(r: ProtoReader, node: OnnxNode): [string, AttributeValue] {
  let name = '';
  let code = 0;
  const seen = new Set<number>();
  const scalars: {
    f?: number;
    i?: number;
    s?: Uint8Array;
    t?: AttributeValue & { type: 'tensor' };
    g?: OnnxGraph;
  } = {};
  const floats: number[] = [];
  const ints: number[] = [];
  const strings: string[] = [];
  while (!r.done()) {
    const { field, wire } = r.next();
    seen.add(field);
    if (field === 1) name = r.string();
    else if (field === 20) code = r.int64();
    else if (field === 2) scalars.f = r.float();
    else if (field === 3) scalars.i = r.int64();
    else if (field === 4) scalars.s = r.bytesField();
    else if (field === 5) scalars.t = { type: 'tensor', value: decodeTensor(r.message()) };
    else if (field === 6) scalars.g = decodeGraph(r.message());
    else if (field === 7) r.repeated(wire, (x) => floats.push(x.float()));
    else if (field === 8) r.repeated(wire, (x) => ints.push(x.int64()));
    else if (field === 9) strings.push(r.string());
    else r.skip(wire);
  }
  // Very old writers omit `type`; infer it from the field that is present.
  if (code === 0) code = inferAttributeCode(seen);
  const where = `attribute ${name} of node ${node.name || node.opType}`;
  switch (code) {
    case 1:
      return [name, { type: 'float', value: scalars.f ?? 0 }];
    case 2:
      return [name, { type: 'int', value: scalars.i ?? 0 }];
    case 3:
      return [name, { type: 'string', value: new TextDecoder().decode(scalars.s ?? new Uint8Array()) }];
    case 4:
      if (!scalars.t) throw new Error(`onnx: ${where} has no tensor`);
      return [name, scalars.t];
    case 5:
      if (!scalars.g) throw new Error(`onnx: ${where} has no graph`);
      return [name, { type: 'graph', value: scalars.g }];
    case 6:
      return [name, { type: 'floats', value: floats }];
    case 7:
      return [name, { type: 'ints', value: ints }];
    case 8:
      return [name, { type: 'strings', value: strings }];
    default:
      throw new Error(`onnx: ${where} has unsupported type ${code}`);
  }
}

function inferAttributeCode(seen: Set<number>): number {
  const byField: [number, number][] = [
    [2, 1],
    [3, 2],
    [4, 3],
    [5, 4],
    [6, 5],
    [7, 6],
    [8, 7],
    [9, 8],
  ];
  return byField.find(([field]) => seen.has(field))?.[1] ?? 0;
}

function decodeValueInfo(r: ProtoReader): ValueInfo {
  let name = '';
  let type: ProtoReader | undefined;
  while (!r.done()) {
    const { field, wire } = r.next();
    if (field === 1) name = r.string();
    else if (field === 2) type = r.message();
    else r.skip(wire);
  }
  if (!type) throw new Error(`onnx: value ${name} has no type`);
  let tensorType: ProtoReader | undefined;
  while (!type.done()) {
    const { field, wire } = type.next();
    if (field === 1) tensorType = type.message();
    else type.skip(wire);
  }
  if (!tensorType) throw new Error(`onnx: value ${name} is not a tensor`);
  return { name, ...decodeTensorType(tensorType, name) };
}

function decodeTensorType(r: ProtoReader, name: string): Omit<ValueInfo, 'name'> {
  let code = 0;
  let shape: (number | string)[] | undefined;
  while (!r.done()) {
    const { field, wire } = r.next();
    if (field === 1) code = r.int64();
    else if (field === 2) shape = decodeShape(r.message());
    else r.skip(wire);
  }
  const dtype = dtypeFromCode(code, `value ${name}`);
  if (isFourBit(dtype)) throw new Error(`onnx: value ${name} is ${dtype}, not supported in value info`);
  return shape ? { dtype: dtype as DType, shape } : { dtype: dtype as DType, shape: [], unknownRank: true };
}

function decodeShape(r: ProtoReader): (number | string)[] {
  const shape: (number | string)[] = [];
  while (!r.done()) {
    const { field, wire } = r.next();
    if (field !== 1) {
      r.skip(wire);
      continue;
    }
    const dim = r.message();
    let value: number | string = '';
    while (!dim.done()) {
      const f = dim.next();
      if (f.field === 1) value = dim.int64();
      else if (f.field === 2) value = dim.string();
      else dim.skip(f.wire);
    }
    shape.push(value);
  }
  return shape;
}
