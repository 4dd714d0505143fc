import { HttpError } from '../errors.ts';

/** One admitted request's share of the queue: its remaining denoiser evaluations and what each costs. */
export interface Ticket {
  /** `samples` evaluations done (one step of a batch of n: n). */
  step(samples: number): void;
  end(): void;
}

/** Time per sample of a session, for calls of `batch` samples; undefined while it has not run. */
export type Price = (batch: number) => number | undefined;

interface Admitted {
  remaining: number;
  /** Samples per step (the request's n). */
  samples: number;
  /** The session it runs on: requests of one session may be joined into one call. */
  session: string;
  msPerSample: Price;
}

/** Wall time per priced millisecond is learned over windows of at least this much queued wall time. */
const PACE_WINDOW_MS = 500;
/**
 * The pace may read below 1 (a batch size not measured yet is priced from the nearest one measured) but not below
 * 0.5 (in deployed Workers the clock stands still during compute, so the wall time reads about 0 there), nor above 4
 * (a stalled window must not lock the queue).
 */
const PACE_RANGE: [number, number] = [0.5, 4];

/**
 * The work admitted and not yet done, across every session of this runtime (a WASM isolate has one thread, and
 * native sessions share the cores): each request's remaining evaluations (samples x steps left) priced at its
 * session's measured time per sample at the batch its queued requests would be joined into, times the pace: how
 * much wall time the queue has really taken per priced millisecond while it was busy (the sampler's own work,
 * encoding responses, reading requests, event-loop turns).
 * Pricing the model calls alone ran low under load (bench/edge-load.ts: p99 past the bound).
 */
export class WorkQueue {
  readonly #admitted = new Set<Admitted>();
  readonly #now: () => number;
  /** Requests admitted before their session had a measured time per sample, at most `unpricedLimit` at once. */
  readonly #unpricedLimit: number;
  #pace = 1;
  #window = { wallMs: 0, pricedMs: 0 };
  /**
   * Time of the last admission, step or end while priced work was queued; undefined while idle or while only cold
   * sessions' work waits (idle time and model loads are not the pace of the queue).
   */
  #lastEventAt: number | undefined;

  /**
   * `unpricedLimit`: how many requests of a session not yet measured (cold, or still loading) are admitted at once;
   * the rest are told to retry, since their wait cannot be priced (one joined model call's worth: QDM_STEP_BATCH).
   */
  constructor(now: () => number = () => performance.now(), unpricedLimit = 8) {
    this.#now = now;
    this.#unpricedLimit = Math.max(1, unpricedLimit);
  }

  /** How long work admitted now would wait: the time to finish what is already admitted. */
  expectedWaitMs(): number {
    const concurrent = this.#concurrency();
    let ms = 0;
    for (const r of this.#admitted) ms += r.remaining * (this.#price(r, concurrent) ?? 0);
    return ms * this.#pace;
  }

  /** Samples per step queued on each session: the batch its requests would be joined into. */
  #concurrency(): Map<string, number> {
    const samples = new Map<string, number>();
    for (const r of this.#admitted)
      if (r.remaining > 0) samples.set(r.session, (samples.get(r.session) ?? 0) + r.samples);
    return samples;
  }

  /** A request's time per sample at the batch its session's queued requests would be joined into. */
  #price(entry: Admitted, concurrent = this.#concurrency()): number | undefined {
    return entry.msPerSample(Math.max(entry.samples, concurrent.get(entry.session) ?? 0));
  }

  /** Wall milliseconds the queue has taken per priced millisecond of model calls (1 until measured). */
  get pace(): number {
    return this.#pace;
  }

  /**
   * 503 `overloaded` with the seconds until the queue should be back under the limit, before any work.
   * `priced`: whether the request's session has a measured time per sample.
   */
  admit(maxQueueMs: number, priced = true): void {
    if (!priced) {
      let unpriced = 0;
      for (const r of this.#admitted) if (r.msPerSample(1) === undefined) unpriced++;
      if (unpriced >= this.#unpricedLimit) {
        throw overloaded(
          `${unpriced} requests already wait on a model that is loading or not yet measured, so the wait cannot ` +
            'be priced: retry in 1 s',
          1,
        );
      }
    }
    const wait = this.expectedWaitMs();
    if (wait <= maxQueueMs) return;
    const retryAfter = Math.max(1, Math.ceil((wait - maxQueueMs) / 1000));
    throw overloaded(
      `the expected wait is ${(wait / 1000).toFixed(1)} s, above this deployment's ${(maxQueueMs / 1000).toFixed(1)} s ` +
        `(QDM_MAX_QUEUE_MS): retry in ${retryAfter} s`,
      retryAfter,
    );
  }

  /** `samples` per step for `steps` steps on `session`, whose calls cost `msPerSample`. */
  begin(session: string, samples: number, steps: number, msPerSample: Price): Ticket {
    const entry: Admitted = { remaining: samples * steps, samples, session, msPerSample };
    this.#observe(0);
    this.#admitted.add(entry);
    this.#observe(0);
    let ended = false;
    return {
      step: (samples) => {
        const price = this.#price(entry) ?? 0;
        entry.remaining = Math.max(0, entry.remaining - samples);
        this.#observe(samples * price);
      },
      end: () => {
        if (ended) return;
        ended = true;
        this.#observe(0);
        this.#admitted.delete(entry);
        this.#observe(0);
      },
    };
  }

  /** Requests admitted and not finished. */
  get size(): number {
    return this.#admitted.size;
  }

  /**
   * Something happened in the queue (an admission, a step of `pricedMs` done, an end): the wall time since the
   * previous event counts towards the pace if priced work was queued all along, so the sampler's work around the
   * steps, encoding answers and reading requests all count, and time with nothing measurable queued does not.
   */
  #observe(pricedMs: number): void {
    const now = this.#now();
    if (this.#lastEventAt !== undefined) {
      this.#window.wallMs += now - this.#lastEventAt;
      this.#window.pricedMs += pricedMs;
    }
    this.#lastEventAt = this.#hasPricedWork() ? now : undefined;
    if (this.#window.wallMs < PACE_WINDOW_MS || this.#window.pricedMs <= 0) return;
    const measured = this.#window.wallMs / this.#window.pricedMs;
    const [low, high] = PACE_RANGE;
    this.#pace = Math.min(high, Math.max(low, 0.5 * this.#pace + 0.5 * measured));
    this.#window = { wallMs: 0, pricedMs: 0 };
  }

  #hasPricedWork(): boolean {
    for (const r of this.#admitted) if (r.msPerSample(1) !== undefined) return true;
    return false;
  }
}

function overloaded(message: string, retryAfterS: number): HttpError {
  return new HttpError(503, 'overloaded', message, undefined, { 'Retry-After': String(retryAfterS) });
}
