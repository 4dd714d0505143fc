import { describe, expect, it } from 'vitest';
import { StoreError } from './errors.ts';
import { checkArtifactName, formatLocation, parseLocation } from './location.ts';

describe('parseLocation', () => {
  it('splits s3://bucket/prefix and trims slashes', () => {
    expect(parseLocation('s3://my-bucket/a/b/')).toEqual({ kind: 's3', bucket: 'my-bucket', prefix: 'a/b' });
    expect(parseLocation('s3://my-bucket')).toEqual({ kind: 's3', bucket: 'my-bucket', prefix: '' });
    expect(parseLocation('S3://my.bucket/x')).toEqual({ kind: 's3', bucket: 'my.bucket', prefix: 'x' });
  });

  it('resolves folder paths and file:// URLs', () => {
    expect(parseLocation('artifacts', '/work/repo')).toEqual({ kind: 'local', path: '/work/repo/artifacts' });
    expect(parseLocation('/abs/out', '/elsewhere')).toEqual({ kind: 'local', path: '/abs/out' });
    expect(parseLocation('file:///tmp/store')).toEqual({ kind: 'local', path: '/tmp/store' });
  });

  it.each([
    ['s3://', /no bucket name/],
    ['s3:///prefix', /no bucket name/],
    ['s3:/bucket/x', /two slashes/],
    ['s3:bucket', /two slashes/],
    ['s3://Bad_Bucket/x', /not a valid bucket name/],
    ['s3://ab/x', /not a valid bucket name/],
    ['s3://bucket/a//b', /empty, "\." or "\.\." segment/],
    ['s3://bucket/a/../b', /segment/],
    ['gs://bucket/x', /unsupported scheme "gs:\/\/"/],
    ['https://example.com/x', /unsupported scheme/],
    ['  ', /empty location/],
  ])('rejects %s with a message naming it', (input, why) => {
    let error: unknown;
    try {
      parseLocation(input);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(StoreError);
    expect((error as Error).message).toMatch(why);
    expect((error as Error).message.startsWith(`${input}:`)).toBe(true);
  });

  it('formats back to the same text', () => {
    for (const s of ['s3://bucket-1/a/b', 's3://bucket-1', '/tmp/x']) expect(formatLocation(parseLocation(s))).toBe(s);
  });
});

describe('checkArtifactName', () => {
  it('accepts plain names and rejects paths', () => {
    expect(checkArtifactName('mnist32-w8a8', 'root')).toBe('mnist32-w8a8');
    for (const bad of ['', '../x', 'a/b', '.hidden', 'a..b'])
      expect(() => checkArtifactName(bad, 'root')).toThrow(StoreError);
  });
});
