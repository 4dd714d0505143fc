import { cloudflareTest } from '@cloudflare/vitest-plugin';
import { defineConfig } from 'vitest/config';

// Tests that run inside workerd (the vitest Workers pool) with the bindings from wrangler.toml.
export default defineConfig({
  plugins: [
    cloudflareTest({
      wrangler: { configPath: './wrangler.toml' },
      // Bound under test names, so only the tests that hand them to a Worker app use them (the Worker's own
      // names, RATE_LIMITER and METRICS, stay unbound as in the shipped wrangler.toml).
      miniflare: {
        ratelimits: { TEST_RATE_LIMITER: { namespace_id: '1001', simple: { limit: 2, period: 60 } } },
        analyticsEngineDatasets: { TEST_METRICS: { dataset: 'qdm_test' } },
      },
    }),
  ],
  test: {
    include: ['test/workers/**/*.test.ts'],
    globalSetup: ['test/tmp.setup.ts', 'test/workers/node-reference.setup.ts'],
    testTimeout: 60_000,
  },
});
