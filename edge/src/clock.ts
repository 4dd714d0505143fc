/**
 * Milliseconds from an arbitrary origin. Injected so tests can drive timings.
 * NOTE: in deployed Workers the clock advances only across I/O, so on-edge timings of pure compute read as 0;
 * local workerd and Node measure real time.
 */
export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => performance.now() };
