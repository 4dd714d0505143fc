/**
 * A local S3 for development: s3rver on 127.0.0.1 with a bucket, data kept under .s3rver/ (git-ignored).
 *   npm run s3:local            # then, in another shell:
 *   export AWS_ENDPOINT_URL_S3=http://127.0.0.1:4568 AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER
 *   npx toolchain push --from artifacts/mnist32 --to s3://qdm/artifacts
 * Options: PORT (4568), BUCKET (qdm), S3RVER_DIR (.s3rver).
 */
import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { resolve } from 'node:path';

const require = createRequire(resolve(import.meta.dirname, '../toolchain/package.json'));
const S3rver = require('s3rver');
const port = Number(process.env.PORT ?? 4568);
const bucket = process.env.BUCKET ?? 'qdm';
const directory = resolve(process.env.S3RVER_DIR ?? resolve(import.meta.dirname, '../.s3rver'));
mkdirSync(directory, { recursive: true });
const server = new S3rver({
  address: '127.0.0.1',
  port,
  directory,
  silent: true,
  configureBuckets: [{ name: bucket }],
});
await server.run();
console.log(`s3rver on http://127.0.0.1:${port}, bucket "${bucket}", data in ${directory}`);
console.log(
  `export AWS_ENDPOINT_URL_S3=http://127.0.0.1:${port} AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER AWS_REGION=us-east-1`,
);
