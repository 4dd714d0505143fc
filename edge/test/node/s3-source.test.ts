import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { latestKey, versionFileKey } from '@qdm/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sourceFromEnv } from '../../src/node-runtime.ts';
import { folderSource } from '../../src/sources/folder.ts';
import type { FixtureArtifact } from '../fixtures/artifact.ts';
import { folderStore } from '../fixtures/folder.ts';
import { publishVersioned } from '../fixtures/publish.ts';
import { type LocalS3, startLocalS3 } from '../fixtures/s3rver.ts';
import { unetArtifact } from '../fixtures/unet-artifact.ts';
import { appOver, bytes, json } from './harness.ts';

let s3: LocalS3;
let artifact: FixtureArtifact;

beforeAll(async () => {
  s3 = await startLocalS3();
  artifact = await unetArtifact();
  await publishVersioned(s3.put, 'store', artifact, 'v1');
});

afterAll(async () => {
  await s3?.stop();
});

const s3App = (prefix = 'store') =>
  appOver(sourceFromEnv({ ...s3.env, QDM_ARTIFACTS: `s3://${s3.bucket}/${prefix}` }), { defaultVariant: 'fp32' });

describe('QDM_ARTIFACTS=s3://bucket/prefix (s3rver)', () => {
  it('lists artifacts under the prefix with their published version', async () => {
    const body = (await json(await s3App().request('/models'))) as { source: string; models: { name: string }[] };
    expect(body.source).toBe(`s3://${s3.bucket}/store`);
    expect(body.models).toMatchObject([{ name: 'unet', version: 'v1' }]);
  });

  it('serves the same bytes as the folder store for the same request', async () => {
    const query = '/sample?variant=fp32&seed=17&n=2&steps=ddim5&format=npy';
    const fromS3 = await s3App().request(query);
    expect(fromS3.status).toBe(200);
    expect(fromS3.headers.get('x-qdm-model-version')).toBe('v1');
    const fromFolder = await appOver(folderSource(await folderStore(artifact))).request(query);
    expect(Buffer.from(await bytes(fromS3)).equals(Buffer.from(await bytes(fromFolder)))).toBe(true);
  });

  it('reads what `toolchain push` publishes', async () => {
    const pushed = await unetArtifact('pushed');
    const root = await folderStore(pushed);
    const toolchain = resolve(import.meta.dirname, '../../../toolchain/bin/toolchain.js');
    const args = [toolchain, 'push', '--from', join(root, 'pushed'), '--to', `s3://${s3.bucket}/store`, '--json'];
    await promisify(execFile)(process.execPath, args, { env: { ...process.env, ...s3.env } });
    const query = '/sample?model=pushed&variant=fp32&seed=3&n=1&steps=ddim5&format=npy';
    const res = await s3App().request(query);
    expect(res.status).toBe(200);
    expect(res.headers.get('x-qdm-sha256')).toBe(pushed.manifest.variants.fp32.sha256);
    const local = await appOver(folderSource(root)).request(query);
    expect(Buffer.from(await bytes(res)).equals(Buffer.from(await bytes(local)))).toBe(true);
  });

  it('answers 404 for a model that is not under the prefix', async () => {
    expect((await s3App('elsewhere').request('/sample?model=unet')).status).toBe(404);
  });

  it('refuses a tampered variant object with 503', async () => {
    const bad = await unetArtifact('tampered');
    await publishVersioned(s3.put, 'store', bad, 'v1');
    const file = bad.manifest.variants.alt.file;
    const corrupt = bad.files[file].slice();
    corrupt[10] ^= 0xff;
    await s3.put(versionFileKey('store/tampered', 'v1', file), corrupt);
    const res = await s3App().request('/sample?model=tampered&variant=alt&n=1&steps=ddim5');
    expect(res.status).toBe(503);
    expect(((await json(res)) as { message: string }).message).toMatch(/sha256 [0-9a-f]{64} does not match/);
  });

  it('refuses a manifest that does not match the sha256 in latest.json', async () => {
    const other = await unetArtifact('pointer');
    await publishVersioned(s3.put, 'store', other, 'v1');
    const wrong = createHash('sha256').update('something else').digest('hex');
    const pointer = { version: 'v1', manifestSha256: wrong, publishedAt: '' };
    await s3.put(latestKey('store/pointer'), new TextEncoder().encode(JSON.stringify(pointer)));
    const res = await s3App().request('/sample?model=pointer&variant=fp32&n=1&steps=ddim5');
    expect(res.status).toBe(503);
    expect(((await json(res)) as { message: string }).message).toContain('manifest.json');
  });
});
