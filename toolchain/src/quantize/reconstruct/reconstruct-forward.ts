/**
 * A forward pass over a fixed set of calibration pairs, run one segment at a time (see reconstruct-stages.ts):
 * each batch keeps its live values between segments, so the whole pass costs one forward of the model however
 * many stages it is cut into, and memory holds only the live set of every batch.
 */
import * as ort from 'onnxruntime-node';
import type { CalibrationSet } from '../../calibrate/trajectory.ts';
import type { OnnxModel } from '../../onnx/ir.ts';
import { encodeModel } from '../../onnx/model.ts';
import { createSession, type OptimizationLevel } from '../../runtime/ort.ts';
import { type Segment, SegmentCursor, segmentModel } from './reconstruct-stages.ts';

export interface SegmentedPassOptions {
  threads?: number;
  optimization?: OptimizationLevel;
}

type Store = Map<string, ort.Tensor>;

export class SegmentedPass {
  /** Read at every `advance`: initializers replaced in it in the meantime are what the next segment runs. */
  readonly model: OnnxModel;
  readonly samples: number;
  private readonly cursor: SegmentCursor;
  private readonly stores: Store[];
  private readonly options: SegmentedPassOptions;
  /** Seconds spent creating sessions and running them. */
  seconds = 0;
  /** Of which creating the segments' sessions. */
  sessionSeconds = 0;

  /** `batches`: the graph inputs of each batch (x, t). `allTargets`: every value a stage will ask for. */
  constructor(
    model: OnnxModel,
    batches: Record<string, ort.Tensor>[],
    allTargets: Iterable<string>,
    options: SegmentedPassOptions = {},
  ) {
    this.model = model;
    this.samples = batches.reduce((n, b) => n + (b.x ?? Object.values(b)[0]).dims[0], 0);
    this.cursor = new SegmentCursor(model.graph, allTargets);
    this.stores = batches.map((feeds) => new Map(Object.entries(feeds).filter(([k]) => this.cursor.live.has(k))));
    this.options = options;
  }

  get batches(): number {
    return this.stores.length;
  }

  /**
   * Runs the next segment, the one that computes `targets`. Returns a reader of each batch's target values;
   * call `done()` when every batch has been read.
   */
  async advance(targets: readonly string[]): Promise<StageValues> {
    const start = performance.now();
    const segment = this.cursor.next(targets);
    const session = segment.nodes.length > 0 ? await this.open(segment) : undefined;
    this.seconds += (performance.now() - start) / 1000;
    this.sessionSeconds += (performance.now() - start) / 1000;
    let closed = false;
    return {
      read: async (b) => {
        const t0 = performance.now();
        const store = this.stores[b];
        const out = new Map<string, ort.Tensor>();
        if (session) {
          const feeds = Object.fromEntries(segment.inputs.map((v) => [v, storeValue(store, v)]));
          const result = await session.run(feeds);
          for (const v of segment.outputs) out.set(v, result[v]);
        }
        const values = targets.map((v) => out.get(v) ?? storeValue(store, v));
        for (const [v, t] of out) if (this.cursor.live.has(v)) store.set(v, t);
        for (const v of [...store.keys()]) if (!this.cursor.live.has(v)) store.delete(v);
        this.seconds += (performance.now() - t0) / 1000;
        return values;
      },
      done: async () => {
        if (closed) return;
        closed = true;
        await session?.release();
      },
    };
  }

  private async open(segment: Segment) {
    const types = this.stores[0];
    const bytes = encodeModel(segmentModel(this.model, segment, (v) => storeValue(types, v).type as 'float32'));
    return createSession(bytes, { threads: this.options.threads, optimization: this.options.optimization ?? 'basic' });
  }
}

export interface StageValues {
  /** The targets' values of batch `b` (in the order asked). Read every batch once before the next `advance`. */
  read(b: number): Promise<ort.Tensor[]>;
  done(): Promise<void>;
}

function storeValue(store: Store, value: string): ort.Tensor {
  const t = store.get(value);
  if (!t) throw new Error(`reconstruction: value ${value} is not live`);
  return t;
}

/** `samples` pairs spread evenly over the set (every step represented when it allows), as batched feeds. */
export function calibrationBatches(set: CalibrationSet, samples: number, batch: number): Record<string, ort.Tensor>[] {
  const n = Math.min(set.count, samples);
  if (n < 1) throw new Error('reconstruction needs at least one calibration pair');
  const size = set.shape[0] * set.shape[1] * set.shape[2];
  const picks = Array.from({ length: n }, (_, k) => Math.floor(((k + 0.5) * set.count) / n));
  const out: Record<string, ort.Tensor>[] = [];
  for (let first = 0; first < n; first += batch) {
    const chosen = picks.slice(first, first + batch);
    const x = new Float32Array(chosen.length * size);
    chosen.forEach((p, j) => {
      x.set(set.x.subarray(p * size, (p + 1) * size), j * size);
    });
    out.push({
      x: new ort.Tensor('float32', x, [chosen.length, ...set.shape]),
      t: new ort.Tensor(
        'float32',
        Float32Array.from(chosen, (p) => set.t[p]),
        [chosen.length],
      ),
    });
  }
  return out;
}
