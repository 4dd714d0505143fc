import { HttpError } from '../errors.ts';

/** One admitted request's share of the queue: its remaining denoiser evaluations and what each costs. */
export interface Ticket {
  /** `samples` evaluations done (one step of a batch of n: n). */
  step(samples: number): void;
  end(): void;
}

/**
 * The work admitted and not yet done, across every session of this runtime (a WASM isolate has one thread, and
 * native sessions share the cores): each request's remaining evaluations (samples x steps left) priced at its
 * session's measured time per sample.
 */
export class WorkQueue {
  readonly #admitted = new Set<{ remaining: number; msPerSample: () => number | undefined }>();

  /** How long work admitted now would wait: the time to finish what is already admitted. */
  expectedWaitMs(): number {
    let ms = 0;
    // NOTE: a session not yet measured prices at 0: a cold burst is admitted; the next requests see real prices.
    for (const r of this.#admitted) ms += r.remaining * (r.msPerSample() ?? 0);
    return ms;
  }

  /** 503 `overloaded` with the seconds until the queue should be back under the limit, before any work. */
  admit(maxQueueMs: number): void {
    const wait = this.expectedWaitMs();
    if (wait <= maxQueueMs) return;
    const retryAfter = Math.max(1, Math.ceil((wait - maxQueueMs) / 1000));
    throw new HttpError(
      503,
      'overloaded',
      `the expected wait is ${(wait / 1000).toFixed(1)} s, above this deployment's ${(maxQueueMs / 1000).toFixed(1)} s ` +
        `(QDM_MAX_QUEUE_MS): retry in ${retryAfter} s`,
      undefined,
      { 'Retry-After': String(retryAfter) },
    );
  }

  begin(evaluations: number, msPerSample: () => number | undefined): Ticket {
    const entry = { remaining: evaluations, msPerSample };
    this.#admitted.add(entry);
    return {
      step: (samples) => {
        entry.remaining = Math.max(0, entry.remaining - samples);
      },
      end: () => {
        this.#admitted.delete(entry);
      },
    };
  }

  /** Requests admitted and not finished. */
  get size(): number {
    return this.#admitted.size;
  }
}
