/**
 * Channel count (dim 1) of a value in an NCHW/NCL graph, found by walking back to a node that fixes it. Enough
 * for the U-Net graphs (convs, element-wise ops, concats, resizes, reshapes to constant shapes); anything else
 * answers undefined and the caller says which value it could not size.
 */
import type { GraphIndex } from '../graph-index.ts';

/** Ops whose output has the channels of their first input. */
const CHANNEL_PRESERVING = new Set([
  'Add',
  'Sub',
  'Mul',
  'Div',
  'Sigmoid',
  'Relu',
  'Resize',
  'QuantizeLinear',
  'DequantizeLinear',
  'InstanceNormalization',
  'Identity',
]);

export function valueChannels(index: GraphIndex, value: string, depth = 0): number | undefined {
  if (depth > 64) return undefined;
  const input = index.graph.inputs.find((i) => i.name === value);
  if (input) return typeof input.shape[1] === 'number' ? input.shape[1] : undefined;
  const node = index.producer(value);
  if (!node) return undefined;
  switch (node.opType) {
    case 'Conv':
      return index.initializer(node.inputs[1])?.dims[0];
    case 'Concat': {
      const axis = node.attributes.axis;
      if (axis?.type !== 'int' || axis.value !== 1) return undefined;
      let sum = 0;
      for (const part of node.inputs) {
        const c = valueChannels(index, part, depth + 1);
        if (c === undefined) return undefined;
        sum += c;
      }
      return sum;
    }
    case 'Reshape': {
      const target = index.initializer(node.inputs[1]);
      const c = target ? Number(target.data[1]) : 0;
      return c > 0 ? c : c === 0 && target ? valueChannels(index, node.inputs[0], depth + 1) : undefined;
    }
    default:
      return CHANNEL_PRESERVING.has(node.opType) ? valueChannels(index, node.inputs[0], depth + 1) : undefined;
  }
}
