import type { VariantEntry } from '@qdm/shared';
import type { Clock } from '../clock.ts';
import { notFound } from '../errors.ts';
import { type ArtifactSnapshot, type ArtifactSource, IntegrityError, SourceError } from '../sources/source.ts';
import { streamHash } from '../sources/stream-hash.ts';
import { verifyBytes, verifyDigest } from '../sources/verify.ts';
import { asUnavailable } from './catalog.ts';
import { chooseEdgeGraph } from './edge-graph-choice.ts';
import type { ModelBuffer, ModelSession, SessionFactory, SessionOptions } from './session.ts';
import { batchSteps, type MeteredSession } from './step-batcher.ts';

export interface LoadPhases {
  readMs: number;
  verifyMs: number;
  /** Includes the WASM runtime's initialization for the first session of the isolate. */
  sessionMs: number;
  /** Which file the session came from: the variant's edge graph (pre-optimized) or its portable graph. */
  graph: 'edge' | 'portable';
}

export interface LoadedSession {
  session: MeteredSession;
  /** Time this request waited for the session: reading, verifying and creating it (about 0 when cached). */
  loadMs: number;
  /** How the load split, for the request that did it: read from the store, sha256, session creation. */
  phases?: LoadPhases;
  /** Every `get` must be paired with one `done` once the session is no longer used. */
  done(): void;
}

interface Entry {
  key: string;
  sha256: string;
  bytes: number;
  session: Promise<MeteredSession>;
  /** The session once created: read synchronously by admission control. */
  ready?: MeteredSession;
  phases: LoadPhases;
  users: number;
  lastUsed: number;
  /** Dropped from the cache; released once its last user is done. */
  retired: boolean;
}

/**
 * One inference session per isolate per (artifact, variant), keyed also by the variant file's sha256 so a newly
 * published version replaces the old session. Bytes are verified against the manifest before a session is made; a
 * mismatch is refused with 503 and nothing is cached. When the loaded variants' bytes pass `maxLoadedBytes`, the
 * least recently used idle sessions are released (a Workers isolate has 128 MB).
 */
export class SessionCache {
  readonly #entries = new Map<string, Entry>();
  readonly #source: ArtifactSource;
  readonly #factory: SessionFactory;
  readonly #clock: Clock;
  readonly #maxLoadedBytes: number;
  readonly #stepBatch: number;
  readonly #memoryBudget: number;

  /**
   * `stepBatch`: most samples one model call joins from concurrent requests (1: calls run one at a time);
   * `memoryBudget`: the runtime heap a WASM session may need (picks a wide-step variant's 8-bit-only graph).
   */
  constructor(
    source: ArtifactSource,
    factory: SessionFactory,
    clock: Clock,
    limits: { maxLoadedBytes?: number; stepBatch?: number; memoryBudget?: number } = {},
  ) {
    this.#source = source;
    this.#factory = factory;
    this.#clock = clock;
    this.#maxLoadedBytes = limits.maxLoadedBytes ?? Infinity;
    this.#stepBatch = limits.stepBatch ?? 1;
    this.#memoryBudget = limits.memoryBudget ?? Infinity;
  }

  async get(snapshot: ArtifactSnapshot, variant: string): Promise<LoadedSession> {
    const spec = snapshot.manifest.variants[variant];
    if (!spec) {
      const known = Object.keys(snapshot.manifest.variants).join(', ');
      throw notFound('variant', `model ${snapshot.name} has no variant ${JSON.stringify(variant)} (has: ${known})`);
    }
    const key = `${snapshot.name}/${variant}`;
    const started = this.#clock.now();
    let entry = this.#entries.get(key);
    let loading = false;
    if (entry?.sha256 !== spec.sha256) {
      if (entry) this.#retire(entry);
      const phases: LoadPhases = { readMs: 0, verifyMs: 0, sessionMs: 0, graph: 'portable' };
      entry = {
        key,
        sha256: spec.sha256,
        bytes: spec.bytes,
        session: this.#load(snapshot, variant, phases).then((session) => batchSteps(session, this.#stepBatch)),
        phases,
        users: 0,
        lastUsed: 0,
        retired: false,
      };
      this.#entries.set(key, entry);
      loading = true;
    }
    entry.users++;
    entry.lastUsed = this.#clock.now();
    const current = entry;
    try {
      const session = await current.session;
      current.ready = session;
      if (loading) this.#evictOver(current);
      const loadMs = this.#clock.now() - started;
      return { session, loadMs, phases: loading ? current.phases : undefined, done: () => this.#done(current) };
    } catch (error) {
      current.users--;
      if (this.#entries.get(key) === current) this.#entries.delete(key);
      throw asUnavailable(error);
    }
  }

  /**
   * The measured time per sample of the held session of (artifact, variant) in calls of `batch`, synchronously:
   * admission control prices a request before awaiting anything, so requests woken together cannot all pass it
   * unpriced.
   */
  msPerSample(name: string, variant: string, batch = 1): number | undefined {
    return this.#entries.get(`${name}/${variant}`)?.ready?.msPerSample(batch);
  }

  /** Names of the sessions currently held ("artifact/variant"). */
  loaded(): string[] {
    return [...this.#entries.keys()];
  }

  #done(entry: Entry): void {
    entry.users--;
    if (entry.retired && entry.users === 0) this.#release(entry);
  }

  #retire(entry: Entry): void {
    if (this.#entries.get(entry.key) === entry) this.#entries.delete(entry.key);
    entry.retired = true;
    if (entry.users === 0) this.#release(entry);
  }

  #release(entry: Entry): void {
    entry.session.then((s) => s.release()).catch(() => undefined);
  }

  /** Least recently used first, never the session just loaded. */
  #evictOver(keep: Entry): void {
    const total = () => [...this.#entries.values()].reduce((n, e) => n + e.bytes, 0);
    const candidates = [...this.#entries.values()].filter((e) => e !== keep).sort((a, b) => a.lastUsed - b.lastUsed);
    for (const entry of candidates) {
      if (total() <= this.#maxLoadedBytes) return;
      this.#retire(entry);
    }
  }

  /**
   * The variant's edge graph when this runtime release made it (no optimizer run at session creation), else its
   * portable graph. An edge graph that cannot be read, verified or loaded falls back to the portable one, except
   * an 8-bit-only graph chosen for the memory budget: the portable graph would pass that budget (refused: 503).
   */
  async #load(snapshot: ArtifactSnapshot, variant: string, phases: LoadPhases): Promise<ModelSession> {
    const entry = snapshot.manifest.variants[variant];
    const choice = chooseEdgeGraph(entry, this.#factory, this.#memoryBudget);
    if (choice) {
      const options = { optimized: true, format: choice.graph.format ?? 'onnx' } as const;
      // The 8-bit-only graph was chosen because the portable one (wide steps) passes the memory budget.
      const portableFits = choice.wideSteps?.served !== false;
      try {
        const session = await this.#create(snapshot, choice.graph, phases, options);
        phases.graph = 'edge';
        return session;
      } catch (error) {
        if (!portableFits) throw error;
        // NOTE: the portable graph is verified on its own; the times below then include the failed attempt.
      }
    }
    return this.#create(snapshot, entry, phases, {});
  }

  async #create(snapshot: ArtifactSnapshot, file: GraphFile, phases: LoadPhases, options: SessionOptions) {
    let mark = this.#clock.now();
    const lap = () => {
      const now = this.#clock.now();
      const ms = now - mark;
      mark = now;
      return ms;
    };
    const where = `${this.#source.location}: ${snapshot.name}/${file.file}`;
    if (options.format === 'ort' && this.#factory.allocate && this.#source.readChunks) {
      return this.#createInPlace(snapshot, file, phases, options, where, lap);
    }
    const bytes = await this.#source.readFile(snapshot, file.file);
    phases.readMs += lap();
    await verifyBytes(where, bytes, file);
    phases.verifyMs += lap();
    try {
      const session = await this.#factory(bytes, options);
      phases.sessionMs += lap();
      return session;
    } catch (error) {
      phases.sessionMs += lap();
      throw new SourceError(`${where}: the runtime cannot load it (${(error as Error).message})`);
    }
  }

  /**
   * Streams the file into a buffer of the runtime's own memory, verifies it there and opens the session over it:
   * the model never exists as a JS copy beside the runtime's (a CIFAR-10 int8 is a large share of a Worker's 128 MB).
   */
  async #createInPlace(
    snapshot: ArtifactSnapshot,
    file: GraphFile,
    phases: LoadPhases,
    options: SessionOptions,
    where: string,
    lap: () => number,
  ): Promise<ModelSession> {
    // NOTE: the store's request goes out before the runtime is ready (its first-byte latency overlaps the runtime's
    // initialization); chunks are pulled only once there is heap to put them in, so no JS copy piles up.
    const chunks = (this.#source.readChunks as NonNullable<ArtifactSource['readChunks']>)(snapshot, file.file)[
      Symbol.asyncIterator
    ]();
    const first = chunks.next();
    first.catch(() => undefined); // awaited below; a failed allocation must not leave it unhandled
    let buffer: ModelBuffer;
    try {
      buffer = await (this.#factory.allocate as NonNullable<SessionFactory['allocate']>)(file.bytes);
    } catch (error) {
      await chunks.return?.().catch(() => undefined);
      throw error;
    }
    try {
      let offset = 0;
      const hash = streamHash();
      for await (const chunk of resumed(first, chunks)) {
        if (offset + chunk.length > file.bytes) {
          throw new IntegrityError(`${where}: more than the ${file.bytes} bytes the manifest says`);
        }
        buffer.write(chunk, offset);
        hash.update(chunk); // NOTE: the heap is a SharedArrayBuffer, which WebCrypto cannot hash afterwards
        offset += chunk.length;
      }
      phases.readMs += lap();
      verifyDigest(where, offset, await hash.digest(), file);
      phases.verifyMs += lap();
    } catch (error) {
      buffer.discard();
      throw error;
    }
    try {
      const session = await buffer.open(options);
      phases.sessionMs += lap();
      return session;
    } catch (error) {
      phases.sessionMs += lap();
      throw new SourceError(`${where}: the runtime cannot load it (${(error as Error).message})`);
    }
  }
}

/** The chunks of an iterator whose first `next()` was already called. */
async function* resumed(
  first: Promise<IteratorResult<Uint8Array>>,
  rest: AsyncIterator<Uint8Array>,
): AsyncGenerator<Uint8Array> {
  try {
    let next = await first;
    while (!next.done) {
      yield next.value;
      next = await rest.next();
    }
  } finally {
    await rest.return?.();
  }
}

/** A file the manifest names with its size and hash. */
type GraphFile = Pick<VariantEntry, 'file' | 'bytes' | 'sha256'>;
