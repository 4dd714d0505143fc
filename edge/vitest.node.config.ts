import { defineConfig } from 'vitest/config';

// Tests that run on Node: unit tests beside the code, and the app over folder and S3 (s3rver) sources.
export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/node/**/*.test.ts'],
    globalSetup: ['test/tmp.setup.ts'],
    testTimeout: 60_000,
  },
});
