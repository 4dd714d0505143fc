import { defineConfig } from 'vitest/config';

// The defaults matrix (test/e2e): every recipe flag through the CLI, S3, the Node edge, workerd and Chromium.
// One file, its cells in order: they share one import, one s3rver and one server per runtime.
export default defineConfig({
  test: {
    include: ['test/e2e/**/*.test.ts'],
    globalSetup: ['test/tmp.setup.ts'],
    testTimeout: 120_000,
    hookTimeout: 180_000,
  },
});
