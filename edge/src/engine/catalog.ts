import type { Clock } from '../clock.ts';
import { notFound, unavailable } from '../errors.ts';
import { type ArtifactSnapshot, type ArtifactSource, IntegrityError, SourceError } from '../sources/source.ts';

/**
 * Manifests per isolate, re-read from the source after `ttlMs`, so a newly published version is picked up without
 * asking the store on every request.
 */
export interface Catalog {
  names(): Promise<string[]>;
  /** The artifact's snapshot; 404 when unknown, 503 when the store fails or holds an invalid artifact. */
  open(name: string): Promise<ArtifactSnapshot>;
}

/** Source failures become a 503 naming the source and the reason; other errors pass through. */
export function asUnavailable(error: unknown): unknown {
  if (error instanceof SourceError || error instanceof IntegrityError) {
    return unavailable(`artifact refused: ${error.message}`);
  }
  return error;
}

export function createCatalog(source: ArtifactSource, clock: Clock, ttlMs: number): Catalog {
  const cache = new Map<string, { at: number; snapshot: Promise<ArtifactSnapshot | undefined> }>();

  function read(name: string): Promise<ArtifactSnapshot | undefined> {
    const hit = cache.get(name);
    if (hit && clock.now() - hit.at < ttlMs) return hit.snapshot;
    const snapshot = source.open(name);
    cache.set(name, { at: clock.now(), snapshot });
    snapshot.catch(() => cache.delete(name)); // never cache a failure
    return snapshot;
  }

  return {
    async names() {
      try {
        return await source.names();
      } catch (error) {
        throw asUnavailable(error);
      }
    },
    async open(name) {
      let snapshot: ArtifactSnapshot | undefined;
      try {
        snapshot = await read(name);
      } catch (error) {
        throw asUnavailable(error);
      }
      if (!snapshot) throw notFound('model', `unknown model ${JSON.stringify(name)} in ${source.location}`);
      return snapshot;
    },
  };
}
