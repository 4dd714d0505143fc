/** Number formatting for the report: one place decides how dB, bytes, seconds and counts read. */

/** Fixed decimals; infinity as the symbol (an exact layer has infinite SQNR), NaN or missing as a dash. */
export function formatNumber(x: number | undefined, digits = 2): string {
  if (x === undefined || Number.isNaN(x)) return '—';
  if (x === Number.POSITIVE_INFINITY) return '∞';
  if (x === Number.NEGATIVE_INFINITY) return '−∞';
  return x.toFixed(digits);
}

/** Errors span decades (1e-7 .. 1e-1), so they read best in exponent form. */
export function formatError(x: number | undefined): string {
  if (x === undefined || !Number.isFinite(x)) return formatNumber(x);
  return x === 0 ? '0' : x.toExponential(2);
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 ** 2) return `${(bytes / 1024).toFixed(1)} KiB`;
  if (bytes < 1024 ** 3) return `${(bytes / 1024 ** 2).toFixed(2)} MiB`;
  return `${(bytes / 1024 ** 3).toFixed(2)} GiB`;
}

export function formatSeconds(seconds: number): string {
  if (seconds < 60) return `${seconds.toFixed(seconds < 10 ? 2 : 1)} s`;
  const minutes = Math.floor(seconds / 60);
  const rest = seconds - minutes * 60;
  if (minutes < 60) return `${minutes} min ${rest.toFixed(0)} s`;
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

/** 52,468,231 -> "52.5 M": parameter counts. */
export function formatCount(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)} G`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)} M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} k`;
  return String(n);
}

/** Seeds in grid order, with consecutive runs folded: [0,1,2,3,7] -> "0–3, 7". */
export function formatSeeds(seeds: readonly number[]): string {
  const parts: string[] = [];
  let start = 0;
  for (let i = 1; i <= seeds.length; i++) {
    if (i < seeds.length && seeds[i] === seeds[i - 1] + 1) continue;
    const first = seeds[start];
    const last = seeds[i - 1];
    parts.push(i - 1 === start ? String(first) : `${first}–${last}`);
    start = i;
  }
  return parts.join(', ');
}
