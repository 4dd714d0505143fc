/**
 * The FID Inception-v3 as data: torchvision's Inception3 module tree (num_classes 1008, no aux head) with
 * pytorch-fid's FID patches, which match the 2015 TensorFlow graph:
 * - the avg-pool branches of the A, C and E blocks exclude the zero padding from the average
 *   (count_include_pad=False, TF's "SAME" average pool);
 * - Mixed_7c (FIDInceptionE_2) max-pools in its pool branch where torchvision averages.
 * Paths are the torchvision module paths, so weights are found under the state_dict keys.
 */

/** BasicConv2d at `path`: Conv2d (bias=False) `path.conv`, BatchNorm2d(eps 0.001) `path.bn`, ReLU. */
export interface ConvLayout {
  kind: 'conv';
  path: string;
  inChannels: number;
  outChannels: number;
  kernel: [height: number, width: number];
  stride: number;
  pad: [height: number, width: number];
}

/** A 3x3 pool without parameters; `name` is its node name. */
export interface PoolLayout {
  kind: 'avg' | 'max';
  name: string;
  stride: 1 | 2;
  pad: 0 | 1;
}

/** Convs applied in parallel to one input and concatenated (the E blocks' 1x3 / 3x1 pairs). */
export interface ForkLayout {
  kind: 'fork';
  name: string;
  convs: ConvLayout[];
}

export type StepLayout = ConvLayout | PoolLayout | ForkLayout;

/** A Mixed_* block: branches run on the block input, their outputs concatenated along channels in order. */
export interface BlockLayout {
  path: string;
  inChannels: number;
  outChannels: number;
  branches: StepLayout[][];
}

export interface InceptionLayout {
  stem: StepLayout[];
  blocks: BlockLayout[];
  poolChannels: number;
  classes: number;
}

export const BATCH_NORM_EPS = 0.001;

interface ConvOptions {
  stride?: number;
  pad?: number | [number, number];
}

function conv(
  path: string,
  inChannels: number,
  outChannels: number,
  kernel: number | [number, number],
  options: ConvOptions = {},
): ConvLayout {
  const k: [number, number] = typeof kernel === 'number' ? [kernel, kernel] : kernel;
  const pad = options.pad ?? 0;
  return {
    kind: 'conv',
    path,
    inChannels,
    outChannels,
    kernel: k,
    stride: options.stride ?? 1,
    pad: typeof pad === 'number' ? [pad, pad] : pad,
  };
}

const ROW_7: [number, number] = [1, 7];
const COLUMN_7: [number, number] = [7, 1];
const ROW_PAD_7: [number, number] = [0, 3];
const COLUMN_PAD_7: [number, number] = [3, 0];

/** FIDInceptionA: 1x1 / 5x5 / double 3x3 / avg pool + 1x1. */
function blockA(p: string, cin: number, poolFeatures: number): BlockLayout {
  return {
    path: p,
    inChannels: cin,
    outChannels: 64 + 64 + 96 + poolFeatures,
    branches: [
      [conv(`${p}.branch1x1`, cin, 64, 1)],
      [conv(`${p}.branch5x5_1`, cin, 48, 1), conv(`${p}.branch5x5_2`, 48, 64, 5, { pad: 2 })],
      [
        conv(`${p}.branch3x3dbl_1`, cin, 64, 1),
        conv(`${p}.branch3x3dbl_2`, 64, 96, 3, { pad: 1 }),
        conv(`${p}.branch3x3dbl_3`, 96, 96, 3, { pad: 1 }),
      ],
      [{ kind: 'avg', name: `${p}/avg_pool`, stride: 1, pad: 1 }, conv(`${p}.branch_pool`, cin, poolFeatures, 1)],
    ],
  };
}

/** InceptionB (Mixed_6a): the 35 -> 17 reduction. */
function blockB(p: string, cin: number): BlockLayout {
  return {
    path: p,
    inChannels: cin,
    outChannels: 384 + 96 + cin,
    branches: [
      [conv(`${p}.branch3x3`, cin, 384, 3, { stride: 2 })],
      [
        conv(`${p}.branch3x3dbl_1`, cin, 64, 1),
        conv(`${p}.branch3x3dbl_2`, 64, 96, 3, { pad: 1 }),
        conv(`${p}.branch3x3dbl_3`, 96, 96, 3, { stride: 2 }),
      ],
      [{ kind: 'max', name: `${p}/max_pool`, stride: 2, pad: 0 }],
    ],
  };
}

/** FIDInceptionC: 1x1 / 7x7 factorized / double 7x7 factorized / avg pool + 1x1. */
function blockC(p: string, c7: number): BlockLayout {
  const cin = 768;
  return {
    path: p,
    inChannels: cin,
    outChannels: 768,
    branches: [
      [conv(`${p}.branch1x1`, cin, 192, 1)],
      [
        conv(`${p}.branch7x7_1`, cin, c7, 1),
        conv(`${p}.branch7x7_2`, c7, c7, ROW_7, { pad: ROW_PAD_7 }),
        conv(`${p}.branch7x7_3`, c7, 192, COLUMN_7, { pad: COLUMN_PAD_7 }),
      ],
      [
        conv(`${p}.branch7x7dbl_1`, cin, c7, 1),
        conv(`${p}.branch7x7dbl_2`, c7, c7, COLUMN_7, { pad: COLUMN_PAD_7 }),
        conv(`${p}.branch7x7dbl_3`, c7, c7, ROW_7, { pad: ROW_PAD_7 }),
        conv(`${p}.branch7x7dbl_4`, c7, c7, COLUMN_7, { pad: COLUMN_PAD_7 }),
        conv(`${p}.branch7x7dbl_5`, c7, 192, ROW_7, { pad: ROW_PAD_7 }),
      ],
      [{ kind: 'avg', name: `${p}/avg_pool`, stride: 1, pad: 1 }, conv(`${p}.branch_pool`, cin, 192, 1)],
    ],
  };
}

/** InceptionD (Mixed_7a): the 17 -> 8 reduction. */
function blockD(p: string): BlockLayout {
  const cin = 768;
  return {
    path: p,
    inChannels: cin,
    outChannels: 320 + 192 + cin,
    branches: [
      [conv(`${p}.branch3x3_1`, cin, 192, 1), conv(`${p}.branch3x3_2`, 192, 320, 3, { stride: 2 })],
      [
        conv(`${p}.branch7x7x3_1`, cin, 192, 1),
        conv(`${p}.branch7x7x3_2`, 192, 192, ROW_7, { pad: ROW_PAD_7 }),
        conv(`${p}.branch7x7x3_3`, 192, 192, COLUMN_7, { pad: COLUMN_PAD_7 }),
        conv(`${p}.branch7x7x3_4`, 192, 192, 3, { stride: 2 }),
      ],
      [{ kind: 'max', name: `${p}/max_pool`, stride: 2, pad: 0 }],
    ],
  };
}

/** FIDInceptionE_1 (pool 'avg') and FIDInceptionE_2 (pool 'max'). */
function blockE(p: string, cin: number, pool: 'avg' | 'max'): BlockLayout {
  const pair = (a: string, b: string): ForkLayout => ({
    kind: 'fork',
    name: `${p}.${a.slice(0, -1)}/concat`,
    convs: [conv(`${p}.${a}`, 384, 384, [1, 3], { pad: [0, 1] }), conv(`${p}.${b}`, 384, 384, [3, 1], { pad: [1, 0] })],
  });
  return {
    path: p,
    inChannels: cin,
    outChannels: 320 + 768 + 768 + 192,
    branches: [
      [conv(`${p}.branch1x1`, cin, 320, 1)],
      [conv(`${p}.branch3x3_1`, cin, 384, 1), pair('branch3x3_2a', 'branch3x3_2b')],
      [
        conv(`${p}.branch3x3dbl_1`, cin, 448, 1),
        conv(`${p}.branch3x3dbl_2`, 448, 384, 3, { pad: 1 }),
        pair('branch3x3dbl_3a', 'branch3x3dbl_3b'),
      ],
      [{ kind: pool, name: `${p}/${pool}_pool`, stride: 1, pad: 1 }, conv(`${p}.branch_pool`, cin, 192, 1)],
    ],
  };
}

export function fidInceptionLayout(): InceptionLayout {
  return {
    stem: [
      conv('Conv2d_1a_3x3', 3, 32, 3, { stride: 2 }),
      conv('Conv2d_2a_3x3', 32, 32, 3),
      conv('Conv2d_2b_3x3', 32, 64, 3, { pad: 1 }),
      { kind: 'max', name: 'maxpool1', stride: 2, pad: 0 },
      conv('Conv2d_3b_1x1', 64, 80, 1),
      conv('Conv2d_4a_3x3', 80, 192, 3),
      { kind: 'max', name: 'maxpool2', stride: 2, pad: 0 },
    ],
    blocks: [
      blockA('Mixed_5b', 192, 32),
      blockA('Mixed_5c', 256, 64),
      blockA('Mixed_5d', 288, 64),
      blockB('Mixed_6a', 288),
      blockC('Mixed_6b', 128),
      blockC('Mixed_6c', 160),
      blockC('Mixed_6d', 160),
      blockC('Mixed_6e', 192),
      blockD('Mixed_7a'),
      blockE('Mixed_7b', 1280, 'avg'),
      blockE('Mixed_7c', 2048, 'max'),
    ],
    poolChannels: 2048,
    classes: 1008,
  };
}

function stepConvs(step: StepLayout): ConvLayout[] {
  if (step.kind === 'conv') return [step];
  if (step.kind === 'fork') return step.convs;
  return [];
}

/** Every BasicConv2d of the network in module order. */
export function inceptionConvs(layout: InceptionLayout): ConvLayout[] {
  const steps = [...layout.stem, ...layout.blocks.flatMap((block) => block.branches.flat())];
  return steps.flatMap(stepConvs);
}

/**
 * Every state_dict key with its shape, in module order. BatchNorm's `num_batches_tracked` counters are not
 * listed: inference never reads them and checkpoints may or may not carry them.
 */
export function fidInceptionWeightShapes(layout: InceptionLayout = fidInceptionLayout()): Map<string, number[]> {
  const shapes = new Map<string, number[]>();
  for (const c of inceptionConvs(layout)) {
    shapes.set(`${c.path}.conv.weight`, [c.outChannels, c.inChannels, ...c.kernel]);
    for (const field of ['weight', 'bias', 'running_mean', 'running_var']) {
      shapes.set(`${c.path}.bn.${field}`, [c.outChannels]);
    }
  }
  shapes.set('fc.weight', [layout.classes, layout.poolChannels]);
  shapes.set('fc.bias', [layout.classes]);
  return shapes;
}
