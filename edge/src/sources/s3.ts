import { GetObjectCommand, ListObjectsV2Command, NoSuchKey, S3Client } from '@aws-sdk/client-s3';
import type { ObjectStore } from './object-store.ts';
import { SourceError } from './source.ts';

export interface S3Location {
  bucket: string;
  prefix: string;
}

/** `s3://bucket/prefix` -> { bucket, prefix }; undefined for anything else. */
export function parseS3Url(url: string): S3Location | undefined {
  const match = /^s3:\/\/([^/]+)\/?(.*)$/.exec(url);
  return match ? { bucket: match[1], prefix: match[2].replace(/\/+$/, '') } : undefined;
}

/**
 * S3 client from the standard AWS environment, as the toolchain reads it: credentials from AWS_ACCESS_KEY_ID /
 * AWS_SECRET_ACCESS_KEY (or the SDK's default chain), AWS_REGION or AWS_DEFAULT_REGION (default us-east-1),
 * AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL for S3-compatible servers, AWS_MAX_ATTEMPTS.
 * NOTE: S3-compatible servers (s3rver, MinIO, R2's S3 API) need path-style addressing when an endpoint is set, and
 * several do not speak the SDK's default CRC32 checksum framing; integrity is ours anyway (sha256 per manifest).
 */
export function s3ClientFromEnv(env: Record<string, string | undefined>): S3Client {
  const endpoint = env.AWS_ENDPOINT_URL_S3 || env.AWS_ENDPOINT_URL || undefined;
  const attempts = Number(env.AWS_MAX_ATTEMPTS || 3);
  const { AWS_ACCESS_KEY_ID: accessKeyId, AWS_SECRET_ACCESS_KEY: secretAccessKey } = env;
  const sessionToken = env.AWS_SESSION_TOKEN || undefined;
  return new S3Client({
    ...(accessKeyId && secretAccessKey ? { credentials: { accessKeyId, secretAccessKey, sessionToken } } : {}),
    region: env.AWS_REGION || env.AWS_DEFAULT_REGION || 'us-east-1',
    ...(endpoint ? { endpoint, forcePathStyle: true } : {}),
    maxAttempts: Number.isInteger(attempts) && attempts > 0 ? attempts : 3,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

function isMissing(error: unknown): boolean {
  const e = error as { name?: string; $metadata?: { httpStatusCode?: number } };
  return error instanceof NoSuchKey || e?.name === 'NoSuchKey' || e?.$metadata?.httpStatusCode === 404;
}

export function s3Store(client: S3Client, bucket: string): ObjectStore {
  const location = `s3://${bucket}`;
  const fail = (what: string, error: unknown) =>
    new SourceError(`${location}: cannot ${what} (${(error as Error).name ?? 'error'}: ${(error as Error).message})`);
  return {
    location,
    async getStream(key) {
      try {
        const out = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
        return out.Body ? (out.Body.transformToWebStream() as ReadableStream<Uint8Array>) : undefined;
      } catch (error) {
        if (isMissing(error)) return undefined;
        throw fail(`read ${key}`, error);
      }
    },
    async get(key) {
      try {
        const out = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
        return out.Body ? await out.Body.transformToByteArray() : new Uint8Array(0);
      } catch (error) {
        if (isMissing(error)) return undefined;
        throw fail(`read ${key}`, error);
      }
    },
    async childPrefixes(prefix) {
      const names: string[] = [];
      let token: string | undefined;
      try {
        do {
          const page = await client.send(
            new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, Delimiter: '/', ContinuationToken: token }),
          );
          for (const p of page.CommonPrefixes ?? []) {
            if (p.Prefix) names.push(p.Prefix.slice(prefix.length).replace(/\/$/, ''));
          }
          token = page.IsTruncated ? page.NextContinuationToken : undefined;
        } while (token);
      } catch (error) {
        throw fail(`list ${prefix}`, error);
      }
      return names;
    },
  };
}
