import type { ModelSession } from './session.ts';

/** A session that also says how fast it has been: what admission control prices queued work with. */
export interface MeteredSession extends ModelSession {
  /**
   * Recent wall time per sample of one denoiser call, at the batch size where it was highest (undefined before the
   * first call): queued work may run at any batch size, and one sample of a joined call can cost more than one alone
   * (larger activations fall out of cache) or less.
   */
  msPerSample(): number | undefined;
}

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
    msPerSample: () => (perSample.size === 0 ? undefined : Math.max(...perSample.values())),
  };
}
