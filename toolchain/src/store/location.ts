/**
 * Where artifacts live: a local folder (`artifacts/`, `./out`, `file:///abs/dir`) or an S3 prefix
 * (`s3://bucket/prefix`, also R2 and other S3-compatible servers through AWS_ENDPOINT_URL_S3).
 * The location is the ROOT under which each artifact has its own `<name>/` folder or prefix.
 */
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { StoreError } from './errors.ts';

export type StoreLocation = { kind: 'local'; path: string } | { kind: 's3'; bucket: string; prefix: string };

// S3 bucket naming rules (also R2's): 3-63 chars of lowercase letters, digits, dots, hyphens; alphanumeric ends.
const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const ARTIFACT_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

function malformed(input: string, why: string): StoreError {
  return new StoreError(input, `${why} (expected s3://bucket/prefix or a folder path)`);
}

function parseS3(input: string): StoreLocation {
  const rest = input.slice('s3://'.length);
  const slash = rest.indexOf('/');
  const bucket = slash < 0 ? rest : rest.slice(0, slash);
  if (bucket.length === 0) throw malformed(input, 'no bucket name');
  if (!BUCKET.test(bucket) || bucket.includes('..')) {
    throw malformed(input, `"${bucket}" is not a valid bucket name (3-63 lowercase letters, digits, dots, hyphens)`);
  }
  const segments = slash < 0 ? [] : rest.slice(slash + 1).split('/');
  while (segments.length > 0 && segments[segments.length - 1] === '') segments.pop();
  for (const segment of segments) {
    if (segment === '' || segment === '.' || segment === '..') {
      throw malformed(input, `the prefix has an empty, "." or ".." segment`);
    }
    if (/[\u0000-\u001f\u007f\\]/.test(segment)) throw malformed(input, 'the prefix has control characters or "\\"');
  }
  return { kind: 's3', bucket, prefix: segments.join('/') };
}

/** Parses a `--out`/`--from` value; relative folder paths resolve against `cwd`. Throws StoreError if malformed. */
export function parseLocation(input: string, cwd: string = process.cwd()): StoreLocation {
  const s = input.trim();
  if (s.length === 0) throw malformed(input, 'empty location');
  if (/^s3:\/\//i.test(s)) return parseS3(`s3://${s.slice(5)}`);
  if (/^s3:/i.test(s)) throw malformed(input, 'an S3 location needs two slashes');
  if (/^file:\/\//i.test(s)) {
    try {
      return { kind: 'local', path: fileURLToPath(s) };
    } catch (error) {
      throw malformed(input, (error as Error).message);
    }
  }
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(s);
  if (scheme) throw malformed(input, `unsupported scheme "${scheme[1]}://"`);
  return { kind: 'local', path: resolve(cwd, s) };
}

export function formatLocation(location: StoreLocation): string {
  if (location.kind === 'local') return location.path;
  return `s3://${location.bucket}${location.prefix ? `/${location.prefix}` : ''}`;
}

/** Artifact names become one folder or key segment: no slashes, no traversal, no hidden names. */
export function checkArtifactName(name: string, where: string): string {
  if (!ARTIFACT_NAME.test(name) || name.includes('..')) {
    throw new StoreError(where, `"${name}" is not a valid artifact name (letters, digits, ".", "_", "-")`);
  }
  return name;
}
