import { cloudflareTest } from '@cloudflare/vitest-plugin';
import { defineConfig } from 'vitest/config';

// Tests that run inside workerd (the vitest Workers pool) with the bindings from wrangler.toml.
export default defineConfig({
  plugins: [cloudflareTest({ wrangler: { configPath: './wrangler.toml' } })],
  test: {
    include: ['test/workers/**/*.test.ts'],
    globalSetup: ['test/tmp.setup.ts', 'test/workers/node-reference.setup.ts'],
    testTimeout: 60_000,
  },
});
