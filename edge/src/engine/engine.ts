import type { VariantEntry } from '@qdm/shared';
import type { Clock } from '../clock.ts';
import type { EdgeConfig } from '../config.ts';
import { HttpError, notFound } from '../errors.ts';
import type { Samples } from '../output.ts';
import type { SampleRequest } from '../sample-request.ts';
import type { ArtifactSnapshot, ArtifactSource } from '../sources/source.ts';
import { type Catalog, createCatalog } from './catalog.ts';
import { planSample, type SamplePlan } from './plan.ts';
import { runDdim, type StepProgress } from './sampler.ts';
import type { SessionFactory } from './session.ts';
import { type LoadedSession, type LoadPhases, SessionCache } from './session-cache.ts';

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
  loadPhases?: LoadPhases;
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

const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;

/** A variant above the deployment's size limit is refused before anything is read (Workers: 128 MB isolates). */
export function checkModelSize(model: string, variant: string, bytes: number, config: EdgeConfig): void {
  if (bytes <= config.maxModelBytes) return;
  throw new HttpError(
    422,
    'over_budget',
    `variant ${variant} of ${model} is ${mb(bytes)}; this deployment loads variants up to ${mb(config.maxModelBytes)} ` +
      '(QDM_MAX_MODEL_BYTES): choose a smaller variant such as int8',
    'variant',
  );
}

export function createEngine(
  source: ArtifactSource,
  factory: SessionFactory,
  clock: Clock,
  config: EdgeConfig,
): Engine {
  const catalog = createCatalog(source, clock, config.manifestTtlMs);
  const sessions = new SessionCache(source, factory, clock, config.maxLoadedBytes);

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
      const entry = snapshot.manifest.variants[request.variant];
      if (entry) checkModelSize(snapshot.name, request.variant, entry.bytes, config);
      const loaded = await sessions.get(snapshot, request.variant);
      return { request: { ...request, model }, snapshot, entry, plan, loaded, startedAt };
    },
    async run(prepared, onStep, signal) {
      const { plan, request } = prepared;
      let output: Awaited<ReturnType<typeof runDdim>>;
      try {
        output = await runDdim(prepared.loaded.session, plan, request, clock, onStep, signal);
      } finally {
        prepared.loaded.done();
      }
      const { x, stepMs } = output;
      const [c, h, w] = plan.shape;
      return {
        prepared,
        samples: { x, n: request.n, c, h, w },
        timings: {
          loadMs: prepared.loaded.loadMs,
          loadPhases: prepared.loaded.phases,
          stepMs,
          totalMs: clock.now() - prepared.startedAt,
        },
      };
    },
  };
}
