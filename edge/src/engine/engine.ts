import type { VariantEntry } from '@qdm/shared';
import type { Clock } from '../clock.ts';
import type { EdgeConfig } from '../config.ts';
import { notFound } from '../errors.ts';
import type { Samples } from '../output.ts';
import type { SampleRequest } from '../sample-request.ts';
import type { ArtifactSnapshot, ArtifactSource } from '../sources/source.ts';
import { type Catalog, createCatalog } from './catalog.ts';
import { planSample, type SamplePlan } from './plan.ts';
import { runDdim, type StepProgress } from './sampler.ts';
import type { SessionFactory } from './session.ts';
import { type LoadedSession, SessionCache } from './session-cache.ts';

/** Everything about one sampling run that is known before the first step (and goes into response headers). */
export interface PreparedSample {
  request: SampleRequest & { model: string };
  snapshot: ArtifactSnapshot;
  entry: VariantEntry;
  plan: SamplePlan;
  loaded: LoadedSession;
  startedAt: number;
}

export interface SampleTimings {
  loadMs: number;
  stepMs: number[];
  totalMs: number;
}

export interface SampleResult {
  prepared: PreparedSample;
  samples: Samples;
  timings: SampleTimings;
}

export interface Engine {
  catalog: Catalog;
  sessions: SessionCache;
  /** Resolves the artifact, checks the request against it and loads (or reuses) the session: 400/404/422/503. */
  prepare(request: SampleRequest): Promise<PreparedSample>;
  run(
    prepared: PreparedSample,
    onStep?: (p: StepProgress) => void | Promise<void>,
    signal?: AbortSignal,
  ): Promise<SampleResult>;
}

export function createEngine(
  source: ArtifactSource,
  factory: SessionFactory,
  clock: Clock,
  config: EdgeConfig,
): Engine {
  const catalog = createCatalog(source, clock, config.manifestTtlMs);
  const sessions = new SessionCache(source, factory, clock);

  async function defaultModel(): Promise<string> {
    const [first] = await catalog.names();
    if (first === undefined) throw notFound('model', `no artifacts in ${source.location}`);
    return first;
  }

  return {
    catalog,
    sessions,
    async prepare(request) {
      const startedAt = clock.now();
      const model = request.model ?? (await defaultModel());
      const snapshot = await catalog.open(model);
      const plan = planSample(request, snapshot.manifest, config);
      const loaded = await sessions.get(snapshot, request.variant);
      const entry = snapshot.manifest.variants[request.variant];
      return { request: { ...request, model }, snapshot, entry, plan, loaded, startedAt };
    },
    async run(prepared, onStep, signal) {
      const { plan, request } = prepared;
      const { x, stepMs } = await runDdim(prepared.loaded.session, plan, request, clock, onStep, signal);
      const [c, h, w] = plan.shape;
      return {
        prepared,
        samples: { x, n: request.n, c, h, w },
        timings: { loadMs: prepared.loaded.loadMs, stepMs, totalMs: clock.now() - prepared.startedAt },
      };
    },
  };
}
