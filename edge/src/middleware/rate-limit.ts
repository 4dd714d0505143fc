/**
 * Per-client limits: a token bucket per client (its API key, or its address when keys are off) that refills at
 * `QDM_RATE` model calls per second up to `QDM_RATE_BURST`. A `/sample` request costs its model calls (n x steps,
 * what admission prices) and is charged after it is checked and before it is admitted, so a client over its share
 * is answered 429 without ever entering the admission queue; a request that admission then refuses (503) is
 * refunded. On Workers a rate-limiting binding, where configured, counts requests across isolates.
 */
import { HttpError } from '../errors.ts';

export interface Charged {
  /** `RateLimit-*` headers for the answer. */
  headers: Record<string, string>;
  /** Gives the tokens back (the request was refused after being charged). */
  refund(): void;
}

export interface RateLimiter {
  /** What `/healthz` says about this limit. */
  readonly describe: Record<string, unknown>;
  /** Charges `cost` model calls to `client`, or throws 429 (`Retry-After`, `RateLimit-*`) or 422 (never fits). */
  charge(client: string, cost: number): Charged | Promise<Charged>;
}

interface Bucket {
  tokens: number;
  at: number;
}

/** Most buckets kept; past it, the full ones (clients idle long enough to have refilled) are dropped. */
const MAX_BUCKETS = 10_000;

function rateLimited(message: string, retryAfterS: number, headers: Record<string, string>): HttpError {
  return new HttpError(429, 'rate_limited', message, undefined, { ...headers, 'Retry-After': String(retryAfterS) });
}

/** The in-process (Node) or in-isolate (Workers without a binding) token buckets. */
export class TokenBuckets implements RateLimiter {
  readonly #buckets = new Map<string, Bucket>();
  readonly #rate: number;
  readonly #burst: number;
  readonly #now: () => number;

  /** `rate`: model calls per second; `burst`: the bucket size (model calls); `now`: milliseconds. */
  constructor(rate: number, burst: number, now: () => number = () => performance.now()) {
    this.#rate = rate;
    this.#burst = burst;
    this.#now = now;
  }

  get describe() {
    return { kind: 'token-bucket', modelCallsPerS: this.#rate, burst: this.#burst };
  }

  /** The client's tokens now (a new client has a full bucket). */
  #refill(client: string): Bucket {
    const now = this.#now();
    const bucket = this.#buckets.get(client);
    if (!bucket) {
      if (this.#buckets.size >= MAX_BUCKETS) this.#prune(now);
      const fresh = { tokens: this.#burst, at: now };
      this.#buckets.set(client, fresh);
      return fresh;
    }
    bucket.tokens = Math.min(this.#burst, bucket.tokens + ((now - bucket.at) / 1000) * this.#rate);
    bucket.at = now;
    return bucket;
  }

  #prune(now: number): void {
    for (const [client, b] of this.#buckets) {
      if (b.tokens + ((now - b.at) / 1000) * this.#rate >= this.#burst) this.#buckets.delete(client);
    }
  }

  #headers(tokens: number): Record<string, string> {
    return {
      'RateLimit-Limit': String(this.#burst),
      'RateLimit-Remaining': String(Math.max(0, Math.floor(tokens))),
      // Seconds until the bucket is full again.
      'RateLimit-Reset': String(Math.max(0, Math.ceil((this.#burst - tokens) / this.#rate))),
    };
  }

  charge(client: string, cost: number): Charged {
    if (cost > this.#burst) {
      throw new HttpError(
        422,
        'over_budget',
        `n x steps = ${cost} model calls is above this deployment's per-client burst of ${this.#burst} ` +
          '(QDM_RATE_BURST): ask for fewer samples or steps',
        'n',
      );
    }
    const bucket = this.#refill(client);
    if (bucket.tokens < cost) {
      const retryAfter = Math.max(1, Math.ceil((cost - bucket.tokens) / this.#rate));
      throw rateLimited(
        `this client is over its limit of ${this.#rate} model calls per second (burst ${this.#burst}; QDM_RATE, ` +
          `QDM_RATE_BURST): this request costs ${cost}, retry in ${retryAfter} s`,
        retryAfter,
        this.#headers(bucket.tokens),
      );
    }
    bucket.tokens -= cost;
    let refunded = false;
    return {
      headers: this.#headers(bucket.tokens),
      refund: () => {
        if (refunded) return;
        refunded = true;
        const b = this.#refill(client);
        b.tokens = Math.min(this.#burst, b.tokens + cost);
      },
    };
  }
}

/** The Workers rate-limiting binding (`[[ratelimits]]` or `[[unsafe.bindings]] type = "ratelimit"`). */
export interface RateLimitBinding {
  limit(options: { key: string }): Promise<{ success: boolean }>;
}

export function isRateLimitBinding(value: unknown): value is RateLimitBinding {
  return typeof (value as RateLimitBinding | undefined)?.limit === 'function';
}

/**
 * The platform's limiter: one `limit()` per request (it counts requests per period, across isolates and
 * locations; its limit and period are set in wrangler.toml, which the binding does not expose, so no
 * `RateLimit-*` headers: only `Retry-After`, the period).
 */
export class BindingLimiter implements RateLimiter {
  readonly #binding: RateLimitBinding;
  readonly #periodS: number;

  constructor(binding: RateLimitBinding, periodS: number) {
    this.#binding = binding;
    this.#periodS = periodS;
  }

  get describe() {
    return { kind: 'workers-ratelimit-binding', periodS: this.#periodS, counts: 'requests' };
  }

  async charge(client: string): Promise<Charged> {
    const { success } = await this.#binding.limit({ key: client });
    if (!success) {
      throw rateLimited(
        `this client is over the deployment's request limit (the RATE_LIMITER binding): retry in ${this.#periodS} s`,
        this.#periodS,
        {},
      );
    }
    return { headers: {}, refund: () => undefined };
  }
}

/** Every limiter in turn (the binding across isolates, then the model-call bucket); a refusal refunds the others. */
export function allOf(limiters: RateLimiter[]): RateLimiter | undefined {
  if (limiters.length <= 1) return limiters[0];
  return {
    describe: { all: limiters.map((l) => l.describe) },
    async charge(client, cost) {
      const done: Charged[] = [];
      try {
        for (const limiter of limiters) done.push(await limiter.charge(client, cost));
      } catch (error) {
        for (const d of done) d.refund();
        throw error;
      }
      return {
        headers: Object.assign({}, ...done.map((d) => d.headers)),
        refund: () => {
          for (const d of done) d.refund();
        },
      };
    },
  };
}
