import type { ObjectStore } from './object-store.ts';
import { SourceError } from './source.ts';

/** The part of Cloudflare's R2Bucket binding that the reader uses (typed here to avoid a workers-types dependency). */
export interface R2BucketLike {
  get(key: string): Promise<{ arrayBuffer(): Promise<ArrayBuffer>; body: ReadableStream<Uint8Array> } | null>;
  list(options: { prefix?: string; delimiter?: string; cursor?: string }): Promise<{
    delimitedPrefixes: string[];
    truncated: boolean;
    cursor?: string;
  }>;
}

export function r2Store(bucket: R2BucketLike, bindingName: string): ObjectStore {
  const location = `r2 ${bindingName}`;
  const fail = (what: string, error: unknown) =>
    new SourceError(`${location}: cannot ${what} (${(error as Error).message ?? String(error)})`);
  return {
    location,
    async get(key) {
      try {
        const object = await bucket.get(key);
        return object ? new Uint8Array(await object.arrayBuffer()) : undefined;
      } catch (error) {
        throw fail(`read ${key}`, error);
      }
    },
    async getStream(key) {
      try {
        return (await bucket.get(key))?.body;
      } catch (error) {
        throw fail(`read ${key}`, error);
      }
    },
    async childPrefixes(prefix) {
      const names: string[] = [];
      let cursor: string | undefined;
      try {
        do {
          const page = await bucket.list({ prefix, delimiter: '/', cursor });
          for (const p of page.delimitedPrefixes) names.push(p.slice(prefix.length).replace(/\/$/, ''));
          cursor = page.truncated ? page.cursor : undefined;
        } while (cursor);
      } catch (error) {
        throw fail(`list ${prefix}`, error);
      }
      return names;
    },
  };
}
