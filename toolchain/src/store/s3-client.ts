/**
 * An S3 client configured from the standard AWS environment: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY /
 * AWS_SESSION_TOKEN (otherwise the SDK's default chain: profiles, SSO, instance roles), AWS_REGION (or
 * AWS_DEFAULT_REGION, default us-east-1), AWS_ENDPOINT_URL_S3 (or AWS_ENDPOINT_URL) for S3-compatible servers
 * such as R2, MinIO or s3rver, AWS_MAX_ATTEMPTS and AWS_RETRY_MODE for retries.
 */
import { S3Client } from '@aws-sdk/client-s3';
import { StoreError } from './errors.ts';

export interface S3Settings {
  region: string;
  /** Custom endpoint; when set, requests use path-style URLs (http://host/bucket/key) unless told otherwise. */
  endpoint?: string;
  forcePathStyle: boolean;
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /** Attempts per request including the first; the SDK backs off exponentially on 5xx, throttling, network errors. */
  maxAttempts: number;
  retryMode: 'standard' | 'adaptive';
}

const DEFAULT_MAX_ATTEMPTS = 5;

function nonEmpty(value: string | undefined): string | undefined {
  return value !== undefined && value.trim() !== '' ? value.trim() : undefined;
}

export function s3SettingsFromEnv(env: Record<string, string | undefined> = process.env): S3Settings {
  const endpoint = nonEmpty(env.AWS_ENDPOINT_URL_S3) ?? nonEmpty(env.AWS_ENDPOINT_URL);
  if (endpoint !== undefined && !URL.canParse(endpoint)) {
    throw new StoreError('AWS_ENDPOINT_URL_S3', `"${endpoint}" is not a URL (e.g. http://127.0.0.1:4568)`);
  }
  const accessKeyId = nonEmpty(env.AWS_ACCESS_KEY_ID);
  const secretAccessKey = nonEmpty(env.AWS_SECRET_ACCESS_KEY);
  if ((accessKeyId === undefined) !== (secretAccessKey === undefined)) {
    throw new StoreError('AWS_ACCESS_KEY_ID', 'set both AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or neither');
  }
  const sessionToken = nonEmpty(env.AWS_SESSION_TOKEN);
  const attempts = Number(nonEmpty(env.AWS_MAX_ATTEMPTS) ?? DEFAULT_MAX_ATTEMPTS);
  if (!Number.isInteger(attempts) || attempts < 1) {
    throw new StoreError('AWS_MAX_ATTEMPTS', `must be a positive integer, got "${env.AWS_MAX_ATTEMPTS}"`);
  }
  return {
    region: nonEmpty(env.AWS_REGION) ?? nonEmpty(env.AWS_DEFAULT_REGION) ?? 'us-east-1',
    endpoint,
    forcePathStyle: endpoint !== undefined,
    credentials:
      accessKeyId && secretAccessKey
        ? { accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) }
        : undefined,
    maxAttempts: attempts,
    retryMode: env.AWS_RETRY_MODE === 'adaptive' ? 'adaptive' : 'standard',
  };
}

export function createS3Client(settings: S3Settings): S3Client {
  return new S3Client({
    region: settings.region,
    endpoint: settings.endpoint,
    forcePathStyle: settings.forcePathStyle,
    credentials: settings.credentials,
    maxAttempts: settings.maxAttempts,
    retryMode: settings.retryMode,
    // NOTE: the SDK's default CRC32 trailers (aws-chunked bodies) are not understood by several S3-compatible
    // servers (s3rver stores the chunk framing as data). Integrity is ours anyway: every file is sha256-checked
    // against the manifest on read.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    requestHandler: { connectionTimeout: 10_000, requestTimeout: 120_000 },
  });
}
