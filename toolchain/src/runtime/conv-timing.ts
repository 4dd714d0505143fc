/**
 * The measurements `import --winograd` decides by (onnx/winograd-choice.ts): each distinct 3x3 conv shape as a
 * one-conv graph in both forms, then the whole graph in both forms, on the threads sampling will use, in
 * alternating rounds (the machine may be busy: the two forms see the same load).
 */
import * as ort from 'onnxruntime-node';
import { attr, GraphBuilder } from '../onnx/builder.ts';
import type { OnnxModel } from '../onnx/ir.ts';
import { encodeModel } from '../onnx/model.ts';
import { type WinogradTile, winogradConvs } from '../onnx/winograd.ts';
import type { ConvShape, ConvTiming, GraphTiming } from '../onnx/winograd-choice.ts';
import { createSession, float32Tensor, type Session } from './ort.ts';

export interface TimingOptions {
  tile: WinogradTile;
  batches: readonly number[];
  /** Intra-op threads used at a batch (those `sample` would pick). */
  threadsFor: (batch: number) => number;
  /** Alternating rounds per form (default 5); each round runs the form for at least `minRoundMs`. */
  rounds?: number;
  minRoundMs?: number;
  onProgress?: (done: number, total: number) => void;
}

function seeded(n: number, seed: number, scale: number): Float32Array {
  let state = seed >>> 0;
  return Float32Array.from({ length: n }, () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return (state / 2 ** 31 - 1) * scale;
  });
}

/** One conv `conv` (3x3, pads 1, bias) reading `x` [N, Cin, S, S]. */
function convGraph(shape: ConvShape): OnnxModel {
  const { inChannels: c, outChannels: k, size } = shape;
  const b = new GraphBuilder('conv');
  const x = b.input('x', 'float32', ['N', c, size, size]);
  b.initializer({ name: 'w', dtype: 'float32', dims: [k, c, 3, 3], data: seeded(k * c * 9, 1, 1 / Math.sqrt(9 * c)) });
  b.initializer({ name: 'bias', dtype: 'float32', dims: [k], data: seeded(k, 2, 0.1) });
  b.op('conv', 'Conv', [x, 'w', 'bias'], { kernel_shape: attr.ints([3, 3]), pads: attr.ints([1, 1, 1, 1]) }, 'y');
  b.output('y', 'float32', ['N', k, size, size]);
  return b.model();
}

type Feeds = Record<string, ort.Tensor>;

async function runFor(session: Session, feeds: Feeds, minMs: number): Promise<number> {
  let runs = 0;
  const start = performance.now();
  do {
    await session.run(feeds);
    runs++;
  } while (performance.now() - start < minMs);
  return (performance.now() - start) / runs;
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** Median ms per run of `a` and `b` on the same feeds, alternating rounds after one warm-up run each. */
async function timePair(
  a: Uint8Array,
  b: Uint8Array,
  threads: number,
  feeds: Feeds,
  rounds: number,
  minRoundMs: number,
): Promise<[number, number]> {
  const sessions = [
    await createSession(a, { threads, optimization: 'all' }),
    await createSession(b, { threads, optimization: 'all' }),
  ];
  try {
    for (const s of sessions) await s.run(feeds);
    const times: number[][] = [[], []];
    for (let r = 0; r < rounds; r++) {
      for (const [i, s] of sessions.entries()) times[i].push(await runFor(s, feeds, minRoundMs));
    }
    return [median(times[0]), median(times[1])];
  } finally {
    for (const s of sessions) await s.release();
  }
}

/** Both forms of every shape at every batch. */
export async function timeConvForms(shapes: readonly ConvShape[], options: TimingOptions): Promise<ConvTiming[]> {
  const out: ConvTiming[] = [];
  const total = shapes.length * options.batches.length;
  for (const shape of shapes) {
    const model = convGraph(shape);
    const plain = encodeModel(model);
    const rewritten = winogradConvs(model, { tile: options.tile, convs: new Map([['conv', shape.size]]) });
    const winograd = encodeModel(rewritten.model);
    for (const batch of options.batches) {
      const threads = options.threadsFor(batch);
      const n = batch * shape.inChannels * shape.size * shape.size;
      const feeds = { x: float32Tensor(seeded(n, 3, 1), [batch, shape.inChannels, shape.size, shape.size]) };
      const [plainMs, winogradMs] = await timePair(
        plain,
        winograd,
        threads,
        feeds,
        options.rounds ?? 5,
        options.minRoundMs ?? 20,
      );
      out.push({ ...shape, batch, threads, plainMs, winogradMs });
      options.onProgress?.(out.length, total);
    }
  }
  return out;
}

/** The U-Net graphs (inputs x [N, C, S, S] and t [N]) in both forms at every batch. */
export async function timeGraphs(
  plain: Uint8Array,
  winograd: Uint8Array,
  input: { channels: number; size: number; classCond?: boolean },
  options: Omit<TimingOptions, 'tile'>,
): Promise<GraphTiming[]> {
  const out: GraphTiming[] = [];
  for (const batch of options.batches) {
    const threads = options.threadsFor(batch);
    const { channels: c, size } = input;
    const feeds: Feeds = {
      x: float32Tensor(seeded(batch * c * size * size, 4, 1), [batch, c, size, size]),
      t: float32Tensor(new Float32Array(batch).fill(500.25), [batch]),
    };
    if (input.classCond) feeds.y = new ort.Tensor('int64', new BigInt64Array(batch), [batch]);
    const [plainMs, winogradMs] = await timePair(
      plain,
      winograd,
      threads,
      feeds,
      options.rounds ?? 3,
      options.minRoundMs ?? 0,
    );
    out.push({ batch, threads, plainMs, winogradMs });
    options.onProgress?.(out.length, options.batches.length);
  }
  return out;
}
