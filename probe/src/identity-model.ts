/**
 * The smallest ONNX model onnxruntime accepts (y = Identity(x), float32 [1]), encoded here so the WASM runtime can
 * be initialized before the first real session: the heap must exist before a model can be placed in it.
 */

function varint(value: number): number[] {
  const out: number[] = [];
  let v = value;
  do {
    let byte = v & 0x7f;
    v >>>= 7;
    if (v > 0) byte |= 0x80;
    out.push(byte);
  } while (v > 0);
  return out;
}

const text = (s: string) => [...new TextEncoder().encode(s)];
const field = (number: number, payload: number[]) => [
  ...varint((number << 3) | 2),
  ...varint(payload.length),
  ...payload,
];
const int = (number: number, value: number) => [...varint(number << 3), ...varint(value)];

// ValueInfoProto{name, type: TypeProto{tensor_type: {elem_type: FLOAT, shape: [1]}}}
const valueInfo = (name: string) =>
  field(1, text(name)).concat(field(2, field(1, [...int(1, 1), ...field(2, field(1, int(1, 1)))])));

const graph = [
  ...field(1, [...field(1, text('x')), ...field(2, text('y')), ...field(4, text('Identity'))]), // node
  ...field(2, text('identity')), // name
  ...field(11, valueInfo('x')), // input
  ...field(12, valueInfo('y')), // output
];

/** ModelProto{ir_version 8, graph, opset_import {version 17}} */
export const identityModel = new Uint8Array([...int(1, 8), ...field(7, graph), ...field(8, int(2, 17))]);
