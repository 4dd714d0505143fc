import type { Clock } from '../clock.ts';
import { notFound } from '../errors.ts';
import { type ArtifactSnapshot, type ArtifactSource, SourceError } from '../sources/source.ts';
import { verifyBytes } from '../sources/verify.ts';
import { asUnavailable } from './catalog.ts';
import type { ModelSession, SessionFactory } from './session.ts';

export interface LoadedSession {
  session: ModelSession;
  /** Time spent reading, verifying and creating the session, for the request that did it (0 when cached). */
  loadMs: number;
}

/**
 * One inference session per isolate per (artifact, variant), keyed also by the variant file's sha256 so a new
 * published version replaces the old session. Bytes are verified against the manifest before a session is made;
 * a mismatch is refused with 503 and nothing is cached.
 */
export class SessionCache {
  readonly #sessions = new Map<string, { sha256: string; session: Promise<ModelSession> }>();
  readonly #source: ArtifactSource;
  readonly #factory: SessionFactory;
  readonly #clock: Clock;

  constructor(source: ArtifactSource, factory: SessionFactory, clock: Clock) {
    this.#source = source;
    this.#factory = factory;
    this.#clock = clock;
  }

  async get(snapshot: ArtifactSnapshot, variant: string): Promise<LoadedSession> {
    const entry = snapshot.manifest.variants[variant];
    if (!entry) {
      const known = Object.keys(snapshot.manifest.variants).join(', ');
      throw notFound('variant', `model ${snapshot.name} has no variant ${JSON.stringify(variant)} (has: ${known})`);
    }
    const key = `${snapshot.name}/${variant}`;
    const cached = this.#sessions.get(key);
    if (cached?.sha256 === entry.sha256) return { session: await cached.session, loadMs: 0 };

    const started = this.#clock.now();
    const session = this.#load(snapshot, variant);
    this.#sessions.set(key, { sha256: entry.sha256, session });
    try {
      const loaded = await session;
      cached?.session.then((old) => old.release()).catch(() => undefined);
      return { session: loaded, loadMs: this.#clock.now() - started };
    } catch (error) {
      if (this.#sessions.get(key)?.session === session) this.#sessions.delete(key);
      throw asUnavailable(error);
    }
  }

  /** Names of the sessions currently held ("artifact/variant"). */
  loaded(): string[] {
    return [...this.#sessions.keys()];
  }

  async #load(snapshot: ArtifactSnapshot, variant: string): Promise<ModelSession> {
    const entry = snapshot.manifest.variants[variant];
    const bytes = await this.#source.readFile(snapshot, entry.file);
    const where = `${this.#source.location}: ${snapshot.name}/${entry.file}`;
    await verifyBytes(where, bytes, entry);
    try {
      return await this.#factory(bytes);
    } catch (error) {
      throw new SourceError(`${where}: the runtime cannot load it (${(error as Error).message})`);
    }
  }
}
