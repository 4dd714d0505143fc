/**
 * Bounded concurrency for uploads and downloads. The first failure stops new tasks and aborts the signal the
 * running ones were given; the pool still waits for them to settle, so the caller can clean up (e.g. abort a
 * multipart upload) knowing nothing is in flight.
 */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  task: (item: T, index: number, signal: AbortSignal) => Promise<R>,
  signal?: AbortSignal,
): Promise<R[]> {
  const controller = new AbortController();
  const onOuterAbort = () => controller.abort(signal?.reason);
  if (signal?.aborted) onOuterAbort();
  signal?.addEventListener('abort', onOuterAbort, { once: true });
  const results = new Array<R>(items.length);
  let next = 0;
  let failure: { error: unknown } | undefined;

  async function worker(): Promise<void> {
    while (failure === undefined && next < items.length) {
      if (controller.signal.aborted) {
        failure = { error: controller.signal.reason };
        return;
      }
      const index = next++;
      try {
        results[index] = await task(items[index], index, controller.signal);
      } catch (error) {
        failure ??= { error };
        controller.abort(error);
      }
    }
  }

  try {
    const workers = Math.max(1, Math.min(limit, items.length));
    await Promise.all(Array.from({ length: workers }, worker));
  } finally {
    signal?.removeEventListener('abort', onOuterAbort);
  }
  if (failure) throw failure.error;
  return results;
}
