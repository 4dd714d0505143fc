/**
 * Inception-v3 modules as ONNX subgraphs. Naming follows the U-Net builder: the node producing a module's output
 * carries the module path and its output value has the same name (`Mixed_6d.branch1x1` is that BasicConv2d's
 * ReLU output); its parts are `<path>.conv` and `<path>.bn`, whose initializers are the state_dict keys.
 */
import { attr, type GraphBuilder } from '../onnx/builder.ts';
import {
  BATCH_NORM_EPS,
  type BlockLayout,
  type ConvLayout,
  type PoolLayout,
  type StepLayout,
} from './inception-layout.ts';

/** BasicConv2d: Conv (no bias) -> BatchNormalization (running statistics, eps 0.001) -> ReLU. */
export function basicConv(b: GraphBuilder, x: string, layer: ConvLayout): string {
  const p = layer.path;
  const [padH, padW] = layer.pad;
  const convolved = b.op(`${p}.conv`, 'Conv', [x, `${p}.conv.weight`], {
    kernel_shape: attr.ints(layer.kernel),
    pads: attr.ints([padH, padW, padH, padW]),
    strides: attr.ints([layer.stride, layer.stride]),
  });
  // onnxruntime folds this into the conv weights when it optimizes the session.
  const normed = b.op(
    `${p}.bn`,
    'BatchNormalization',
    [convolved, `${p}.bn.weight`, `${p}.bn.bias`, `${p}.bn.running_mean`, `${p}.bn.running_var`],
    { epsilon: attr.float(BATCH_NORM_EPS) },
  );
  return b.op(p, 'Relu', [normed]);
}

/**
 * 3x3 pool. NOTE: ONNX AveragePool's default count_include_pad=0 averages over the in-image taps only, which is
 * the FID patch (TF's SAME average pool); torchvision's plain blocks would count the zero padding.
 */
export function pool(b: GraphBuilder, x: string, layer: PoolLayout): string {
  const p = layer.pad;
  return b.op(layer.name, layer.kind === 'avg' ? 'AveragePool' : 'MaxPool', [x], {
    kernel_shape: attr.ints([3, 3]),
    pads: attr.ints([p, p, p, p]),
    strides: attr.ints([layer.stride, layer.stride]),
  });
}

export function step(b: GraphBuilder, x: string, layer: StepLayout): string {
  switch (layer.kind) {
    case 'conv':
      return basicConv(b, x, layer);
    case 'avg':
    case 'max':
      return pool(b, x, layer);
    case 'fork': {
      const outs = layer.convs.map((c) => basicConv(b, x, c));
      return b.op(layer.name, 'Concat', outs, { axis: attr.int(1) });
    }
  }
}

/** A Mixed_* block: each branch in order, concatenated along channels; the output value is the block path. */
export function inceptionBlock(b: GraphBuilder, x: string, block: BlockLayout): string {
  const outs = block.branches.map((branch) => branch.reduce((h, layer) => step(b, h, layer), x));
  return b.op(block.path, 'Concat', outs, { axis: attr.int(1) });
}
