/**
 * The improved-diffusion UNetModel's module tree as plain data: module paths, channel counts and spatial sizes of
 * every layer, walked exactly as UNetModel.__init__ does. Both the weight check and the graph builder read it.
 */
import { FlagsError, type UNetFlags } from './flags.ts';

export interface ConvLayout {
  kind: 'conv';
  path: string;
  inChannels: number;
  outChannels: number;
  size: number;
}
export interface ResBlockLayout {
  kind: 'res';
  path: string;
  inChannels: number;
  outChannels: number;
  size: number;
}
export interface AttentionLayout {
  kind: 'attention';
  path: string;
  channels: number;
  heads: number;
  size: number;
}
/** Downsample (conv stride 2) or Upsample (nearest x2 then conv); `size` is the input side length. */
export interface ResampleLayout {
  kind: 'down' | 'up';
  path: string;
  channels: number;
  size: number;
}
export type LayerLayout = ConvLayout | ResBlockLayout | AttentionLayout | ResampleLayout;

export interface UNetLayout {
  flags: UNetFlags;
  inChannels: number;
  outChannels: number;
  modelChannels: number;
  timeEmbedDim: number;
  /** Each block is a TimestepEmbedSequential: `input_blocks.<i>` holds layers `input_blocks.<i>.<j>`. */
  inputBlocks: LayerLayout[][];
  middleBlock: LayerLayout[];
  outputBlocks: LayerLayout[][];
  /** Channels of the final `out` GroupNorm/conv input. */
  finalChannels: number;
}

export function unetLayout(flags: UNetFlags): UNetLayout {
  const mc = flags.numChannels;
  const headsUp = flags.numHeadsUpsample === -1 ? flags.numHeads : flags.numHeadsUpsample;
  const attentionDs = new Set(flags.attentionResolutions.map((res) => Math.floor(flags.imageSize / res)));
  const attention = (path: string, channels: number, heads: number, size: number, flag: string): AttentionLayout => {
    if (channels % heads !== 0) {
      throw new FlagsError(`--${flag} ${heads} does not divide the ${channels} channels of ${path}`, flag);
    }
    return { kind: 'attention', path, channels, heads, size };
  };

  const inputBlocks: LayerLayout[][] = [
    [{ kind: 'conv', path: 'input_blocks.0.0', inChannels: 3, outChannels: mc, size: flags.imageSize }],
  ];
  const skipChannels = [mc];
  let ch = mc;
  let ds = 1;
  for (const [level, mult] of flags.channelMult.entries()) {
    const size = flags.imageSize / ds;
    for (let r = 0; r < flags.numResBlocks; r++) {
      const path = `input_blocks.${inputBlocks.length}`;
      const layers: LayerLayout[] = [{ kind: 'res', path: `${path}.0`, inChannels: ch, outChannels: mult * mc, size }];
      ch = mult * mc;
      if (attentionDs.has(ds)) layers.push(attention(`${path}.1`, ch, flags.numHeads, size, 'num_heads'));
      inputBlocks.push(layers);
      skipChannels.push(ch);
    }
    if (level !== flags.channelMult.length - 1) {
      inputBlocks.push([{ kind: 'down', path: `input_blocks.${inputBlocks.length}.0`, channels: ch, size }]);
      skipChannels.push(ch);
      ds *= 2;
    }
  }

  const bottom = flags.imageSize / ds;
  const middleBlock: LayerLayout[] = [
    { kind: 'res', path: 'middle_block.0', inChannels: ch, outChannels: ch, size: bottom },
    attention('middle_block.1', ch, flags.numHeads, bottom, 'num_heads'),
    { kind: 'res', path: 'middle_block.2', inChannels: ch, outChannels: ch, size: bottom },
  ];

  const outputBlocks: LayerLayout[][] = [];
  for (let level = flags.channelMult.length - 1; level >= 0; level--) {
    const mult = flags.channelMult[level];
    const size = flags.imageSize / ds;
    for (let i = 0; i <= flags.numResBlocks; i++) {
      const path = `output_blocks.${outputBlocks.length}`;
      const skip = skipChannels.pop()!;
      const layers: LayerLayout[] = [
        { kind: 'res', path: `${path}.0`, inChannels: ch + skip, outChannels: mc * mult, size },
      ];
      ch = mc * mult;
      if (attentionDs.has(ds)) {
        layers.push(attention(`${path}.${layers.length}`, ch, headsUp, size, 'num_heads_upsample'));
      }
      if (level > 0 && i === flags.numResBlocks) {
        layers.push({ kind: 'up', path: `${path}.${layers.length}`, channels: ch, size });
        ds /= 2;
      }
      outputBlocks.push(layers);
    }
  }

  return {
    flags,
    inChannels: 3,
    outChannels: flags.learnSigma ? 6 : 3,
    modelChannels: mc,
    timeEmbedDim: 4 * mc,
    inputBlocks,
    middleBlock,
    outputBlocks,
    finalChannels: ch,
  };
}

/** Every state_dict key of the model with its shape, in module order. */
export function unetWeightShapes(layout: UNetLayout): Map<string, number[]> {
  const shapes = new Map<string, number[]>();
  const add = (path: string, weight: number[], bias = [weight[0]]) => {
    shapes.set(`${path}.weight`, weight);
    shapes.set(`${path}.bias`, bias);
  };
  const emb = layout.timeEmbedDim;
  add('time_embed.0', [emb, layout.modelChannels]);
  add('time_embed.2', [emb, emb]);
  if (layout.flags.classCond) shapes.set('label_emb.weight', [layout.flags.numClasses, emb]);
  for (const layer of [...layout.inputBlocks.flat(), ...layout.middleBlock, ...layout.outputBlocks.flat()]) {
    addLayerShapes(layer, layout, add);
  }
  add('out.0', [layout.finalChannels]);
  add('out.2', [layout.outChannels, layout.finalChannels, 3, 3]);
  return shapes;
}

function addLayerShapes(
  layer: LayerLayout,
  layout: UNetLayout,
  add: (path: string, weight: number[], bias?: number[]) => void,
): void {
  const p = layer.path;
  switch (layer.kind) {
    case 'conv':
      add(p, [layer.outChannels, layer.inChannels, 3, 3]);
      return;
    case 'res': {
      const { inChannels: cin, outChannels: cout } = layer;
      add(`${p}.in_layers.0`, [cin]);
      add(`${p}.in_layers.2`, [cout, cin, 3, 3]);
      add(`${p}.emb_layers.1`, [layout.flags.useScaleShiftNorm ? 2 * cout : cout, layout.timeEmbedDim]);
      add(`${p}.out_layers.0`, [cout]);
      add(`${p}.out_layers.3`, [cout, cout, 3, 3]);
      if (cin !== cout) add(`${p}.skip_connection`, [cout, cin, 1, 1]);
      return;
    }
    case 'attention': {
      const c = layer.channels;
      add(`${p}.norm`, [c]);
      add(`${p}.qkv`, [3 * c, c, 1]);
      add(`${p}.proj_out`, [c, c, 1]);
      return;
    }
    case 'down':
      add(`${p}.op`, [layer.channels, layer.channels, 3, 3]);
      return;
    case 'up':
      add(`${p}.conv`, [layer.channels, layer.channels, 3, 3]);
      return;
  }
}

/** A 3x3 stride-1 "same" conv of the graph: node name (= module path), channels, spatial side. */
export interface Conv3x3Layout {
  path: string;
  inChannels: number;
  outChannels: number;
  size: number;
}

/** Every 3x3 stride-1 conv, in module order (downsampling convs have stride 2 and are not listed). */
export function convLayouts(layout: UNetLayout): Conv3x3Layout[] {
  const convs: Conv3x3Layout[] = [];
  for (const layer of [...layout.inputBlocks.flat(), ...layout.middleBlock, ...layout.outputBlocks.flat()]) {
    if (layer.kind === 'conv') convs.push(layer);
    if (layer.kind === 'res') {
      const { path, inChannels, outChannels, size } = layer;
      convs.push({ path: `${path}.in_layers.2`, inChannels, outChannels, size });
      convs.push({ path: `${path}.out_layers.3`, inChannels: outChannels, outChannels, size });
    }
    if (layer.kind === 'up') {
      const { path, channels, size } = layer;
      convs.push({ path: `${path}.conv`, inChannels: channels, outChannels: channels, size: 2 * size });
    }
  }
  const size = layout.flags.imageSize;
  convs.push({ path: 'out.2', inChannels: layout.finalChannels, outChannels: layout.outChannels, size });
  return convs;
}

/**
 * Multiply-accumulates per sample in the 3x3 stride-1 convs (9 Cin Cout S^2 each), most of the U-Net's work: the size
 * the session helper picks intra-op threads by (runtime/ort.ts chooseThreads). mnist32: 0.23 G, CIFAR-10: 7.1 G.
 */
export function unetConvMacs(layout: UNetLayout): number {
  return convLayouts(layout).reduce((sum, c) => sum + 9 * c.inChannels * c.outChannels * c.size * c.size, 0);
}
