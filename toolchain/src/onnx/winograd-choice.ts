/**
 * Which convs run as Winograd, decided from timings rather than a size rule: whether F(m x m, 3 x 3) beats
 * onnxruntime's direct Conv depends on the CPU (AVX-512 vs AMX kernels), the channels, the map size, the batch and the
 * threads (it won on one machine and lost on another for the same model: docs/results.md#fp32-forward). Each distinct
 * conv shape is timed once in both forms (runtime/conv-timing.ts); a shape is rewritten only if Winograd was faster by
 * the margin at every batch timed, and the rewritten graph is kept only if, timed whole, it is faster again. These
 * functions are pure: the same recorded timings give the same decision on any machine.
 */

export interface ConvShape {
  inChannels: number;
  outChannels: number;
  /** Side of the square input map. */
  size: number;
}

/** One conv shape at one batch, both forms on the same threads, medians in ms. */
export interface ConvTiming extends ConvShape {
  batch: number;
  threads: number;
  plainMs: number;
  winogradMs: number;
}

/** The whole graph at one batch: plain export vs the graph with the chosen convs rewritten. */
export interface GraphTiming {
  batch: number;
  threads: number;
  plainMs: number;
  winogradMs: number;
}

/** What `import --winograd` measured (or read from `--winograd-timings`): enough to replay the decision. */
export interface WinogradTimings {
  tile: number;
  convs: ConvTiming[];
  graph?: GraphTiming[];
}

/**
 * Winograd must take at most this fraction of the plain time: a shape within 10% of plain is noise on a shared
 * machine, and the rewrite costs memory ((m + 2)^2 / 9 times the 3x3 weights) for nothing.
 */
export const WINOGRAD_MARGIN = 0.9;

export function shapeKey(shape: ConvShape): string {
  return `${shape.inChannels}x${shape.outChannels}@${shape.size}`;
}

/** The distinct shapes of `convs`, in first-seen order. */
export function distinctShapes(convs: readonly ConvShape[]): ConvShape[] {
  const seen = new Map<string, ConvShape>();
  for (const c of convs) {
    const key = shapeKey(c);
    if (!seen.has(key)) seen.set(key, { inChannels: c.inChannels, outChannels: c.outChannels, size: c.size });
  }
  return [...seen.values()];
}

/**
 * The shape keys to rewrite: every batch timed for the shape has winogradMs <= margin * plainMs. A shape with no
 * timing, or a non-finite one, stays plain.
 */
export function chooseWinogradShapes(timings: readonly ConvTiming[], margin = WINOGRAD_MARGIN): Set<string> {
  const verdict = new Map<string, boolean>();
  for (const t of timings) {
    const key = shapeKey(t);
    const faster = isFaster(t.plainMs, t.winogradMs, margin);
    verdict.set(key, (verdict.get(key) ?? true) && faster);
  }
  return new Set([...verdict].filter(([, faster]) => faster).map(([key]) => key));
}

/** The whole rewritten graph is kept only if it is faster by the margin at every batch timed (and one was). */
export function keepWinogradGraph(timings: readonly GraphTiming[], margin = WINOGRAD_MARGIN): boolean {
  return timings.length > 0 && timings.every((t) => isFaster(t.plainMs, t.winogradMs, margin));
}

function isFaster(plainMs: number, winogradMs: number, margin: number): boolean {
  return Number.isFinite(plainMs) && Number.isFinite(winogradMs) && plainMs > 0 && winogradMs <= margin * plainMs;
}

/** Validates a recorded timings object (a `--winograd-timings` file); returns the problem or undefined. */
export function winogradTimingsProblem(value: unknown, tile: number): string | undefined {
  if (typeof value !== 'object' || value === null) return 'not a JSON object';
  const v = value as Partial<WinogradTimings>;
  if (v.tile !== tile) return `recorded for tile ${String(v.tile)}, not ${tile}`;
  if (!Array.isArray(v.convs)) return 'no "convs" array';
  const convKeys = ['inChannels', 'outChannels', 'size', 'batch', 'threads', 'plainMs', 'winogradMs'];
  for (const [i, c] of (v.convs as unknown[]).entries()) {
    const bad = notNumber(c, convKeys);
    if (bad) return `convs[${i}].${bad} is not a number`;
  }
  if (v.graph !== undefined && !Array.isArray(v.graph)) return '"graph" is not an array';
  for (const [i, g] of ((v.graph ?? []) as unknown[]).entries()) {
    const bad = notNumber(g, ['batch', 'threads', 'plainMs', 'winogradMs']);
    if (bad) return `graph[${i}].${bad} is not a number`;
  }
  return undefined;
}

function notNumber(value: unknown, keys: string[]): string | undefined {
  const record = (typeof value === 'object' && value !== null ? value : {}) as Record<string, unknown>;
  return keys.find((k) => typeof record[k] !== 'number');
}
