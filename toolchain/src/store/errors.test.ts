import { describe, expect, it } from 'vitest';
import { describeCause, storeError } from './errors.ts';

describe('store errors', () => {
  it('tells what to set when the SDK finds no credentials', () => {
    const sdk = Object.assign(new Error('Could not load credentials from any providers'), {
      name: 'CredentialsProviderError',
    });
    expect(storeError('s3://bkt/p/latest.json', 'reading', sdk).message).toBe(
      's3://bkt/p/latest.json: reading failed: no S3 credentials (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE)',
    );
  });

  it('keeps the code, status and attempts of other SDK errors', () => {
    const denied = Object.assign(new Error('Access Denied'), {
      name: 'AccessDenied',
      $metadata: { httpStatusCode: 403, attempts: 3 },
    });
    expect(describeCause(denied)).toBe('AccessDenied (HTTP 403): Access Denied (after 3 attempts)');
  });
});
