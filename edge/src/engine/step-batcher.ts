import type { ModelSession } from './session.ts';

/** A session that also says how fast it has been: what admission control prices queued work with. */
export interface MeteredSession extends ModelSession {
  /**
   * Recent wall time per sample of a call of `batch` samples (default 1), from the calls of the measured batch size
   * nearest to it (undefined before the first call). Joining changes the cost of a sample both ways: native
   * mnist32 runs several times cheaper per sample joined by 8, the CIFAR-10 U-Net's activations can fall out of
   * cache.
   */
  msPerSample(batch?: number): number | undefined;
}

/** The measured value at the key nearest to `batch` on a log scale (ties: the larger batch, the cautious price). */
export function nearestBatch(measured: ReadonlyMap<number, number>, batch: number): number | undefined {
  let best: number | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const [size, value] of measured) {
    const distance = Math.abs(Math.log(size / batch));
    if (distance < bestDistance - 1e-9 || (Math.abs(distance - bestDistance) <= 1e-9 && value > (best ?? 0))) {
      best = value;
      bestDistance = distance;
    }
  }
  return best;
}

const nextTurn = (): Promise<void> =>
  new Promise((resolve) => (typeof setImmediate === 'function' ? setImmediate(resolve) : setTimeout(resolve, 0)));

interface Pending {
  x: Float32Array;
  t: Float32Array;
  batch: number;
  resolve(out: Float32Array): void;
  reject(error: unknown): void;
}

/**
 * One model call at a time per session; calls that arrive while one runs wait, and the waiting calls of concurrent
 * requests are joined into one batch of up to `maxBatch` samples (the `t` of each sample is its own, so requests at
 * different steps share a call). Sample k of a request is computed exactly as alone: the U-Net has no cross-sample
 * ops. `maxBatch` 1 only serializes.
 */
export function batchSteps(session: ModelSession, maxBatch: number): MeteredSession {
  const waiting: Pending[] = [];
  let running = false;
  /** Per batch size: an average of recent ms per sample. */
  const perSample = new Map<number, number>();

  async function drain(sampleShape: readonly number[]): Promise<void> {
    running = true;
    // NOTE: the requests one call resolves send their next steps some microtask hops later (the DDIM update in
    // between): without a turn here the first of them ran alone and the rest in the call after it (1, k-1, 1, ...).
    if (maxBatch > 1) await nextTurn();
    while (waiting.length > 0) {
      const group: Pending[] = [waiting.shift() as Pending];
      let batch = group[0].batch;
      while (waiting.length > 0 && batch + waiting[0].batch <= maxBatch) {
        const next = waiting.shift() as Pending;
        group.push(next);
        batch += next.batch;
      }
      const started = performance.now();
      try {
        const out = await runGroup(group, batch, sampleShape);
        const ms = (performance.now() - started) / batch;
        const before = perSample.get(batch);
        perSample.set(batch, before === undefined ? ms : 0.7 * before + 0.3 * ms);
        let offset = 0;
        const outPerSample = out.length / batch;
        for (const p of group) {
          p.resolve(out.slice(offset, offset + p.batch * outPerSample));
          offset += p.batch * outPerSample;
        }
      } catch (error) {
        for (const p of group) p.reject(error);
      }
      if (maxBatch > 1) await nextTurn();
    }
    running = false;
  }

  function runGroup(group: Pending[], batch: number, sampleShape: readonly number[]): Promise<Float32Array> {
    if (group.length === 1) return session.run(group[0].x, [batch, ...sampleShape], group[0].t);
    const x = new Float32Array(group.reduce((n, p) => n + p.x.length, 0));
    const t = new Float32Array(batch);
    let xo = 0;
    let to = 0;
    for (const p of group) {
      x.set(p.x, xo);
      t.set(p.t, to);
      xo += p.x.length;
      to += p.batch;
    }
    return session.run(x, [batch, ...sampleShape], t);
  }

  return {
    run(x, xShape, t) {
      return new Promise((resolve, reject) => {
        waiting.push({ x, t, batch: xShape[0], resolve, reject });
        if (!running) void drain(xShape.slice(1));
      });
    },
    release: () => session.release(),
    msPerSample: (batch = 1) => nearestBatch(perSample, Math.max(1, Math.min(maxBatch, batch))),
  };
}
