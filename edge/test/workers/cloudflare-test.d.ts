// The slice of `cloudflare:test` these tests use (the package's own types need @cloudflare/workers-types).
declare module 'cloudflare:test' {
  import type { R2BucketLike } from '../../src/sources/r2.ts';

  export const env: {
    ARTIFACTS: R2BucketLike & {
      put(key: string, value: Uint8Array | string): Promise<unknown>;
      delete(keys: string | string[]): Promise<void>;
    };
    QDM_R2_PREFIX: string;
  };
  export const SELF: { fetch(input: string, init?: RequestInit): Promise<Response> };
}
