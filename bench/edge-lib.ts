/**
 * Helpers of the edge benchmarks (bench/edge-*.ts): which artifact to measure, Server-Timing parsing, statistics.
 * Benchmarks print one JSON object on stdout; progress goes to stderr.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { MANIFEST_FILE } from '@qdm/shared';

export const repoRoot = resolve(import.meta.dirname, '..');

export interface BenchArtifact {
  root: string;
  name: string;
  /** False when the requested artifact was missing and the generated test artifact stands in. */
  requested: boolean;
}

/**
 * The artifact to measure: `--model` (default mnist32, as `npm run demo` builds it) under QDM_ARTIFACTS or
 * `artifacts/`. With `--allow-fixture` a missing one is replaced by the generated test artifact, and the JSON says so.
 */
export async function benchArtifact(model: string, allowFixture: boolean): Promise<BenchArtifact> {
  const root = resolve(process.env.QDM_ARTIFACTS ?? join(repoRoot, 'artifacts'));
  if (existsSync(join(root, model, MANIFEST_FILE))) return { root, name: model, requested: true };
  if (!allowFixture) {
    throw new Error(`no artifact ${model} in ${root}: run \`npm run demo\` (or pass --allow-fixture)`);
  }
  const { folderStore, unetArtifact } = await import('@qdm/edge/testing');
  return { root: await folderStore(await unetArtifact()), name: 'unet', requested: false };
}

/** `Server-Timing` -> { name: dur } */
export function serverTiming(header: string | null): Record<string, number> {
  const out: Record<string, number> = {};
  for (const part of (header ?? '').split(',')) {
    const [name, ...params] = part.trim().split(';');
    const dur = params.map((p) => p.trim()).find((p) => p.startsWith('dur='));
    if (name && dur) out[name] = Number(dur.slice(4));
  }
  return out;
}

/** The `desc` of one Server-Timing metric, e.g. which graph a session was loaded from. */
export function serverTimingDesc(header: string | null, metric: string): string | undefined {
  const part = (header ?? '').split(',').find((p) => p.trim().split(';')[0] === metric);
  return part ? /desc="([^"]*)"/.exec(part)?.[1] : undefined;
}

export function quantile(values: number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

export const median = (values: number[]) => quantile(values, 0.5);
export const round = (v: number, digits = 2) => Math.round(v * 10 ** digits) / 10 ** digits;
export const mib = (bytes: number) => round(bytes / 2 ** 20, 1);

export function log(message: string): void {
  process.stderr.write(`${message}\n`);
}

/**
 * Per-step latency of each variant: the mean denoiser step of each request, median over requests. Requests take
 * turns between variants (a, b, a, b, ...), so load that drifts during the run (a shared machine) hits all of them
 * alike and their ratio stays meaningful.
 */
export async function measureSteps(
  fetchSample: (query: string) => Promise<Response>,
  queries: Record<string, string>,
  requests: number,
): Promise<Record<string, { stepMs: number; samples: number[]; requestMs: number }>> {
  const samples: Record<string, number[]> = Object.fromEntries(Object.keys(queries).map((v) => [v, []]));
  const spent: Record<string, number> = {};
  for (let i = 0; i < requests; i++) {
    for (const [variant, query] of Object.entries(queries)) {
      const started = performance.now();
      const res = await fetchSample(query);
      if (res.status !== 200) throw new Error(`${query}: ${res.status} ${await res.text()}`);
      await res.arrayBuffer();
      spent[variant] = (spent[variant] ?? 0) + performance.now() - started;
      samples[variant].push(serverTiming(res.headers.get('server-timing')).step);
    }
  }
  return Object.fromEntries(
    Object.entries(samples).map(([variant, v]) => [
      variant,
      { stepMs: round(median(v)), samples: v.map((x) => round(x)), requestMs: round(spent[variant] / requests) },
    ]),
  );
}

export interface ColdStart {
  variant: string;
  loadMs: number;
  readMs: number;
  verifyMs: number;
  sessionMs: number;
  /** "edge": pre-optimized at build time (the manifest's edgeGraph); "portable": optimized at load. */
  graph: string | undefined;
  firstRequestMs: number;
}

export interface VariantMeasurements {
  /** The first request of the first variant: wasm runtime init + artifact read/verify + session. */
  coldStart: ColdStart | undefined;
  /** Per variant: its load time (first request), median step, step samples, mean warm request. */
  results: Record<string, { loadMs: number; stepMs: number; stepSamplesMs: number[]; warmRequestMs: number }>;
}

/** Each variant's first request (its load), then `requests` warm requests per variant taking turns. */
export async function measureVariants(
  label: string,
  fetchSample: (query: string) => Promise<Response>,
  queries: Record<string, string>,
  requests: number,
): Promise<VariantMeasurements> {
  const loads: Record<string, number> = {};
  let coldStart: ColdStart | undefined;
  for (const [i, [variant, query]] of Object.entries(queries).entries()) {
    log(`${label}: ${variant}: first request`);
    const started = performance.now();
    const first = await fetchSample(query);
    if (first.status !== 200) throw new Error(`${variant}: ${first.status} ${await first.text()}`);
    await first.arrayBuffer();
    const firstMs = performance.now() - started;
    const header = first.headers.get('server-timing');
    const timing = serverTiming(header);
    // Only the first variant pays the wasm runtime initialization: that request is the process's cold start.
    if (i === 0)
      coldStart = {
        variant,
        loadMs: round(timing.load),
        readMs: round(timing['load-read']),
        verifyMs: round(timing['load-verify']),
        sessionMs: round(timing['load-session']),
        graph: serverTimingDesc(header, 'load-session'),
        firstRequestMs: round(firstMs),
      };
    loads[variant] = round(timing.load);
  }
  log(`${label}: ${requests} warm requests per variant, taking turns`);
  const warm = await measureSteps(fetchSample, queries, requests);
  const results: VariantMeasurements['results'] = {};
  for (const variant of Object.keys(queries)) {
    results[variant] = {
      loadMs: loads[variant],
      stepMs: warm[variant].stepMs,
      stepSamplesMs: warm[variant].samples,
      warmRequestMs: warm[variant].requestMs,
    };
  }
  return { coldStart, results };
}
