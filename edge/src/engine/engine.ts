import { type EdgeMemory, edgeHeapBytes, largestFittingBatch, type VariantEntry } from '@qdm/shared';
import type { Clock } from '../clock.ts';
import type { EdgeConfig } from '../config.ts';
import { HttpError, notFound } from '../errors.ts';
import type { Samples } from '../output.ts';
import type { SampleRequest } from '../sample-request.ts';
import type { ArtifactSnapshot, ArtifactSource } from '../sources/source.ts';
import { type Ticket, WorkQueue } from './admission.ts';
import { type Catalog, createCatalog } from './catalog.ts';
import { chooseEdgeGraph } from './edge-graph-choice.ts';
import { planSample, type SamplePlan } from './plan.ts';
import { runSampler, type StepProgress } from './sampler.ts';
import type { RuntimeInfo, SessionFactory } from './session.ts';
import { type LoadedSession, type LoadPhases, SessionCache } from './session-cache.ts';

/** Everything about one sampling run that is known before the first step (and goes into response headers). */
export interface PreparedSample {
  request: SampleRequest & { model: string };
  snapshot: ArtifactSnapshot;
  entry: VariantEntry;
  plan: SamplePlan;
  loaded: LoadedSession;
  /** This request's place in the runtime's work queue (admission control). */
  ticket: Ticket;
  startedAt: number;
  /** From the request's start until its session was ready: manifest, admission and (cold) the session's load. */
  readyMs: number;
  /** The wait admission priced this request at (the work admitted before it). */
  queueWaitMs: number;
}

/**
 * Charges a request's model calls (n x steps) to its client before it is admitted (per-client limits): throws to
 * refuse it; the function it returns gives the calls back when admission then refuses the request.
 */
export type Charge = (modelCalls: number) => Promise<(() => void) | undefined>;

export interface SampleTimings {
  /** What ran the steps (Server-Timing names it). */
  runtime?: RuntimeInfo;
  loadMs: number;
  /** Request start to session ready (the cold start of a first request: manifest read + load). */
  readyMs: number;
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
  queue: WorkQueue;
  /** Resolves the artifact, checks the request against it and loads (or reuses) the session: 400/404/422/503. */
  prepare(request: SampleRequest, charge?: Charge): Promise<PreparedSample>;
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

const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;

/**
 * The edge graph's measured heap, when this runtime will load that graph and a budget applies (WASM runtimes):
 * what `/models` states and what a request's n is checked against.
 */
export function variantMemory(
  entry: VariantEntry,
  factory: SessionFactory,
  memoryBudget: number,
): EdgeMemory | undefined {
  if (factory.info?.runtime === 'native') return undefined;
  return chooseEdgeGraph(entry, factory, memoryBudget)?.graph.memory;
}

/** A batch whose measured runtime memory would pass the deployment's budget is refused before anything loads. */
export function checkMemory(
  model: string,
  variant: string,
  n: number,
  memory: EdgeMemory | undefined,
  config: EdgeConfig,
): void {
  if (!memory || !Number.isFinite(config.memoryBudget)) return;
  const needed = edgeHeapBytes(memory, n);
  if (needed <= config.memoryBudget) return;
  const fits = largestFittingBatch(memory, config.memoryBudget, config.maxBatch);
  throw new HttpError(
    422,
    'over_budget',
    `n: ${n} samples of ${model}/${variant} need ${mib(needed)} of runtime memory (measured at build time); ` +
      `this deployment's budget is ${mib(config.memoryBudget)} (QDM_MEMORY_BUDGET): ` +
      (fits > 0 ? `n up to ${fits} fits` : `no n fits: serve ${variant} from Node`),
    'n',
  );
}

export function createEngine(
  source: ArtifactSource,
  factory: SessionFactory,
  clock: Clock,
  config: EdgeConfig,
): Engine {
  const catalog = createCatalog(source, clock, config.manifestTtlMs);
  const sessions = new SessionCache(source, factory, clock, {
    maxLoadedBytes: config.maxLoadedBytes,
    stepBatch: config.stepBatch,
    memoryBudget: config.memoryBudget,
  });
  const queue = new WorkQueue(() => clock.now(), config.stepBatch);

  async function defaultModel(): Promise<string> {
    const [first] = await catalog.names();
    if (first === undefined) throw notFound('model', `no artifacts in ${source.location}`);
    return first;
  }

  return {
    catalog,
    sessions,
    queue,
    async prepare(request, charge) {
      const startedAt = clock.now();
      factory.warm?.(); // the runtime initializes while the manifest is read
      const model = request.model ?? (await defaultModel());
      const snapshot = await catalog.open(model);
      const plan = planSample(request, snapshot.manifest, config);
      const entry = snapshot.manifest.variants[request.variant];
      if (entry) {
        checkModelSize(snapshot.name, request.variant, entry.bytes, config);
        checkMemory(
          snapshot.name,
          request.variant,
          request.n,
          variantMemory(entry, factory, config.memoryBudget),
          config,
        );
      }
      // NOTE: admit and enqueue in one synchronous step: with an await between them, requests resumed together
      // (e.g. all waiting on one manifest re-read) each saw the queue without the others and all passed.
      const refund = charge ? await charge(request.n * plan.steps) : undefined;
      const msPerSample = (batch: number) => sessions.msPerSample(snapshot.name, request.variant, batch);
      const queueWaitMs = queue.expectedWaitMs();
      try {
        queue.admit(config.maxQueueMs, msPerSample(1) !== undefined);
      } catch (error) {
        refund?.();
        throw error;
      }
      const ticket = queue.begin(`${snapshot.name}/${request.variant}`, request.n, plan.steps, msPerSample);
      let loaded: LoadedSession;
      try {
        loaded = await sessions.get(snapshot, request.variant);
      } catch (error) {
        ticket.end();
        throw error;
      }
      const readyMs = clock.now() - startedAt;
      return { request: { ...request, model }, snapshot, entry, plan, loaded, ticket, startedAt, readyMs, queueWaitMs };
    },
    async run(prepared, onStep, signal) {
      const { plan, request } = prepared;
      let output: Awaited<ReturnType<typeof runSampler>>;
      try {
        const step = (p: StepProgress) => {
          prepared.ticket.step(request.n);
          return onStep?.(p);
        };
        output = await runSampler(prepared.loaded.session, plan, request, clock, step, signal);
      } finally {
        prepared.ticket.end();
        prepared.loaded.done();
      }
      const { x, stepMs } = output;
      const [c, h, w] = plan.shape;
      return {
        prepared,
        samples: { x, n: request.n, c, h, w },
        timings: {
          runtime: factory.info,
          loadMs: prepared.loaded.loadMs,
          readyMs: prepared.readyMs,
          loadPhases: prepared.loaded.phases,
          stepMs,
          totalMs: clock.now() - prepared.startedAt,
        },
      };
    },
  };
}
