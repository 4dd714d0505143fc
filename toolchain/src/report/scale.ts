/** Axis arithmetic for the report's charts: data extent -> nice rounded domain, tick values, value -> pixel. */

export interface Scale {
  domain: [number, number];
  ticks: number[];
  log: boolean;
  /** Maps a value in the domain to [0, 1]. */
  unit(value: number): number;
}

/** The smallest 1, 2 or 5 x 10^k at or above span/count: about `count` round steps cover the span. */
export function niceStep(span: number, count: number): number {
  const raw = span / Math.max(1, count);
  const power = 10 ** Math.floor(Math.log10(raw));
  const fraction = raw / power;
  const nice = fraction <= 1 ? 1 : fraction <= 2 ? 2 : fraction <= 5 ? 5 : 10;
  return nice * power;
}

/** Finite values only; for a log axis also positive ones. */
export function extent(values: Iterable<number>, log = false): [number, number] | undefined {
  let lo = Number.POSITIVE_INFINITY;
  let hi = Number.NEGATIVE_INFINITY;
  for (const v of values) {
    if (!Number.isFinite(v) || (log && v <= 0)) continue;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return lo <= hi ? [lo, hi] : undefined;
}

/**
 * `nice` widens the domain to whole ticks (good for value axes); otherwise the domain is the data extent and
 * ticks are the round values inside it (good for step and layer axes, which should not start at -10).
 */
export function linearScale(range: [number, number] | undefined, tickCount = 5, nice = true): Scale {
  let [lo, hi] = range ?? [0, 1];
  if (lo === hi) {
    // NOTE: a constant series still needs a span; pad by 10% of its size (or 1 around zero).
    const pad = lo === 0 ? 1 : Math.abs(lo) * 0.1;
    lo -= pad;
    hi += pad;
  }
  const step = niceStep(hi - lo, tickCount);
  const first = nice ? Math.floor(lo / step + 1e-9) * step : lo;
  const last = nice ? Math.ceil(hi / step - 1e-9) * step : hi;
  const ticks: number[] = [];
  const firstTick = Math.ceil(first / step - 1e-9);
  for (let k = firstTick; k * step <= last + step * 1e-9; k++) ticks.push(roundToStep(k * step, step));
  const span = last - first;
  return { domain: [first, last], ticks, log: false, unit: (v) => (v - first) / span };
}

/** Whole decades, so every tick is a power of ten (and 2x, 5x inside a domain under two decades). */
export function logScale(range: [number, number] | undefined): Scale {
  const [lo, hi] = range ?? [1, 10];
  const first = Math.floor(Math.log10(lo) + 1e-9);
  const last = Math.max(first + 1, Math.ceil(Math.log10(hi) - 1e-9));
  const every = Math.ceil((last - first) / 6);
  const ticks: number[] = [];
  for (let e = first; e <= last; e += every) {
    ticks.push(10 ** e);
    if (last - first <= 2 && e < last) ticks.push(2 * 10 ** e, 5 * 10 ** e);
  }
  const span = last - first;
  return { domain: [10 ** first, 10 ** last], ticks, log: true, unit: (v) => (Math.log10(v) - first) / span };
}

/** Removes float noise such as 0.30000000000000004 from a tick. */
function roundToStep(value: number, step: number): number {
  const decimals = Math.max(0, -Math.floor(Math.log10(step)) + 1);
  return Number(value.toFixed(Math.min(decimals, 20)));
}

const SUPERSCRIPT: Record<string, string> = {
  '-': '⁻',
  '0': '⁰',
  '1': '¹',
  '2': '²',
  '3': '³',
  '4': '⁴',
  '5': '⁵',
  '6': '⁶',
  '7': '⁷',
  '8': '⁸',
  '9': '⁹',
};

/** Tick label: decimals to match the tick spacing; powers of ten as 10⁻³ on log axes. */
export function tickLabel(value: number, scale: Scale): string {
  if (scale.log) {
    const exponent = Math.round(Math.log10(value));
    if (Math.abs(value - 10 ** exponent) < 1e-9 * value) {
      if (exponent >= 0 && exponent <= 3) return String(10 ** exponent);
      return `10${[...String(exponent)].map((c) => SUPERSCRIPT[c]).join('')}`;
    }
    return value >= 1 ? String(value) : value.toPrecision(1);
  }
  const step = scale.ticks.length > 1 ? scale.ticks[1] - scale.ticks[0] : 1;
  const decimals = Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
  const magnitude = Math.max(Math.abs(scale.domain[0]), Math.abs(scale.domain[1]));
  if (magnitude >= 1e5 || (magnitude > 0 && magnitude < 1e-3)) return value === 0 ? '0' : value.toExponential(1);
  return value.toFixed(decimals);
}
