import type { PreparedSample, SampleResult, SampleTimings } from './engine/engine.ts';
import type { RuntimeInfo } from './engine/session.ts';
import { base64, gridPng, samplePngs, samplesNpy } from './output.ts';

/** What every /sample answer says about itself (JSON body, SSE result, and the X-QDM-* headers). */
export function sampleMeta(p: PreparedSample) {
  const { request, snapshot, entry, plan } = p;
  return {
    model: snapshot.name,
    version: snapshot.version ?? null,
    variant: request.variant,
    precision: entry.precision,
    sha256: entry.sha256,
    seed: request.seed,
    n: request.n,
    steps: plan.steps,
    respacing: plan.respacing,
    sampler: plan.sampler,
    schedule: plan.schedule,
    eta: request.eta,
    shape: [request.n, ...plan.shape],
  };
}

const round = (ms: number) => Math.round(ms * 100) / 100;

function mean(values: number[]): number {
  return values.length === 0 ? 0 : values.reduce((a, b) => a + b, 0) / values.length;
}

export function timingsJson(t: SampleTimings) {
  return {
    loadMs: round(t.loadMs),
    readyMs: round(t.readyMs),
    ...(t.loadPhases && {
      loadReadMs: round(t.loadPhases.readMs),
      loadVerifyMs: round(t.loadPhases.verifyMs),
      loadSessionMs: round(t.loadPhases.sessionMs),
    }),
    stepMs: t.stepMs.map(round),
    meanStepMs: round(mean(t.stepMs)),
    totalMs: round(t.totalMs),
  };
}

/** "native cpu, 2 threads", "wasm wasm, 1 thread" */
export function runtimeLabel(r: RuntimeInfo): string {
  return `${r.runtime} ${r.ep}, ${r.threads} thread${r.threads === 1 ? '' : 's'}`;
}

/** `Server-Timing`: session load (0 when cached), mean denoiser step, and the whole request. */
export function serverTiming(t: SampleTimings): string {
  const steps = t.stepMs.length;
  return [
    `load;dur=${round(t.loadMs)};desc="read+verify+session"`,
    ...(t.loadPhases
      ? [
          `load-read;dur=${round(t.loadPhases.readMs)}`,
          `load-verify;dur=${round(t.loadPhases.verifyMs)}`,
          `load-session;dur=${round(t.loadPhases.sessionMs)};desc="${t.loadPhases.graph} graph"`,
        ]
      : []),
    `ready;dur=${round(t.readyMs)};desc="request to session ready"`,
    `step;dur=${round(mean(t.stepMs))};desc="mean of ${steps} steps"`,
    `step-max;dur=${round(Math.max(0, ...t.stepMs))}`,
    `total;dur=${round(t.totalMs)}`,
    ...(t.runtime ? [`runtime;desc="${runtimeLabel(t.runtime)}"`] : []),
  ].join(', ');
}

export function sampleHeaders(p: PreparedSample): Record<string, string> {
  const meta = sampleMeta(p);
  return {
    'X-QDM-Model': meta.model,
    ...(meta.version ? { 'X-QDM-Model-Version': meta.version } : {}),
    'X-QDM-Sha256': meta.sha256,
    'X-QDM-Variant': meta.variant,
    'X-QDM-Seed': String(meta.seed),
    'X-QDM-Steps': `${meta.steps} (${meta.respacing})`,
    'X-QDM-Sampler': meta.sampler,
  };
}

/** The `format=json` body and the SSE result: metadata, timings, and the samples in the requested encoding. */
export function resultJson(r: SampleResult) {
  const format = r.prepared.request.format;
  const body = { ...sampleMeta(r.prepared), timings: timingsJson(r.timings) };
  if (format === 'npy') return { ...body, npy: base64(samplesNpy(r.samples)) };
  if (format === 'png') return { ...body, grid: base64(gridPng(r.samples)) };
  return { ...body, images: samplePngs(r.samples).map(base64) };
}

/** The plain response body of png/npy (json goes through resultJson). */
export function resultBody(r: SampleResult): { body: Uint8Array; contentType: string } {
  return r.prepared.request.format === 'npy'
    ? { body: samplesNpy(r.samples), contentType: 'application/octet-stream' }
    : { body: gridPng(r.samples), contentType: 'image/png' };
}
