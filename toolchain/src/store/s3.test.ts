import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { text } from 'node:stream/consumers';
import { ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeArtifact, makeFakeArtifact } from '../../test/fake-artifact.ts';
import { type S3rverHandle, startS3rver } from '../../test/s3rver.ts';
import type { FileProgress } from './artifact-store.ts';
import { StoreError } from './errors.ts';
import { openStore } from './index.ts';
import { S3Store } from './s3.ts';
import { createS3Client, s3SettingsFromEnv } from './s3-client.ts';
import type { UploadSettings } from './s3-upload.ts';

let server: S3rverHandle;
let tmp: string;
let counter = 0;

beforeAll(async () => {
  server = await startS3rver();
  tmp = await mkdtemp(join(tmpdir(), 'qdm-s3-test-'));
});

afterAll(async () => {
  await server?.stop();
  await rm(tmp, { recursive: true, force: true });
});

/** A client built the way the CLI builds it (from AWS_* variables), recording every command it sends. */
function recordingClient(env: Record<string, string> = server.env): { client: S3Client; commands: string[] } {
  const client = createS3Client(s3SettingsFromEnv(env));
  const commands: string[] = [];
  client.middlewareStack.add(
    (next, context) => async (args) => {
      commands.push(String(context.commandName));
      return next(args);
    },
    { step: 'initialize', name: 'recordCommands' },
  );
  return { client, commands };
}

function newStore(upload: Partial<UploadSettings> = {}, env?: Record<string, string>) {
  const { client, commands } = recordingClient(env);
  const prefix = `root-${++counter}/sub`;
  return { store: new S3Store({ client, bucket: server.bucket, prefix, upload }), commands, prefix };
}

async function fake(options: Parameters<typeof makeFakeArtifact>[1] = {}): Promise<FakeArtifact> {
  return makeFakeArtifact(join(tmp, `src-${++counter}`), options);
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

async function expectFolderHolds(dir: string, artifact: FakeArtifact): Promise<void> {
  const names = (await readdir(dir)).sort();
  expect(names).toEqual([...artifact.files.keys()].sort());
  for (const [file, bytes] of artifact.files) expect((await readFile(join(dir, file))).equals(bytes)).toBe(true);
}

async function keysUnder(prefix: string): Promise<string[]> {
  const out = await server.client.send(new ListObjectsV2Command({ Bucket: server.bucket, Prefix: `${prefix}/` }));
  return (out.Contents ?? []).map((o) => o.Key!.slice(prefix.length + 1)).sort();
}

describe('S3Store against s3rver', () => {
  it('publishes, lists and pulls an artifact in the versioned layout, verifying every file', async () => {
    const { store, prefix } = newStore();
    expect(await store.list()).toEqual({ artifacts: [], problems: [] });
    const a = await fake();
    const progress: FileProgress[] = [];
    const published = await store.publish('mnist', a.dir, { onProgress: (p) => progress.push(p) });
    expect(published.unchanged).toBe(false);
    expect(published.manifestSha256).toBe(sha256(a.manifestBytes));
    expect(published.bytes).toBe([...a.files].reduce((n, [f, b]) => n + (f === 'manifest.json' ? 0 : b.length), 0));
    const v = published.version!;
    expect(await keysUnder(prefix)).toEqual(
      ['mnist/latest.json', ...[...a.files.keys()].map((f) => `mnist/versions/${v}/${f}`)].sort(),
    );
    const pointer = JSON.parse(await text(await store.objects.getStream(`${prefix}/mnist/latest.json`)));
    expect(pointer).toMatchObject({ version: v, manifestSha256: sha256(a.manifestBytes) });
    for (const file of ['model.fp32.onnx', 'model.int8.onnx']) {
      const done = progress.filter((p) => p.file === file && p.phase === 'upload').at(-1)!;
      expect(done.bytesDone).toBe(a.files.get(file)!.length);
      expect(done.bytesTotal).toBe(a.files.get(file)!.length);
    }

    const listing = await store.list();
    expect(listing.problems).toEqual([]);
    expect(listing.artifacts.map((s) => [s.name, s.version, s.manifestSha256])).toEqual([
      ['mnist', v, sha256(a.manifestBytes)],
    ]);
    expect(listing.artifacts[0].bytes).toBe(a.manifest.variants.fp32.bytes + a.manifest.variants.int8.bytes);

    const dest = join(tmp, `pull-${++counter}`);
    const pulled = await store.pull('mnist', dest);
    expect(pulled.version).toBe(v);
    await expectFolderHolds(dest, a);
    const streamed = await text(await store.readFile('mnist', 'report.html'));
    expect(streamed).toBe(a.files.get('report.html')!.toString());

    // Same manifest again: nothing uploaded. A new build: a new version becomes latest, the old one is kept.
    expect((await store.publish('mnist', a.dir)).unchanged).toBe(true);
    const b = await fake({ variants: { fp32: 5000, int8: 2000, w4a8: 1000 } });
    const second = await store.publish('mnist', b.dir);
    expect(second.version).not.toBe(v);
    expect((await store.list()).artifacts.map((s) => s.version)).toEqual([second.version]);
    expect((await keysUnder(prefix)).filter((k) => k.includes(`/versions/${v}/`))).toHaveLength(a.files.size);
    const dest2 = join(tmp, `pull-${++counter}`);
    await store.pull('mnist', dest2);
    await expectFolderHolds(dest2, b);
  });

  it('uploads files above the threshold in parts (s3rver implements multipart)', async () => {
    const { store, commands } = newStore({ partSize: 64 * 1024, multipartThreshold: 100 * 1024, concurrency: 3 });
    const a = await fake({ variants: { fp32: 5 * 64 * 1024 - 17, int8: 90 * 1024 } });
    await store.publish('big', a.dir);
    expect(commands.filter((c) => c === 'CreateMultipartUploadCommand')).toHaveLength(1);
    expect(commands.filter((c) => c === 'UploadPartCommand')).toHaveLength(5);
    expect(commands.filter((c) => c === 'CompleteMultipartUploadCommand')).toHaveLength(1);
    const dest = join(tmp, `pull-${++counter}`);
    await store.pull('big', dest);
    await expectFolderHolds(dest, a);
  });

  it('refuses a local file whose bytes do not match the manifest, before uploading anything', async () => {
    const { store, commands } = newStore();
    const a = await fake();
    const path = join(a.dir, 'model.int8.onnx');
    const bytes = Buffer.from(a.files.get('model.int8.onnx')!);
    bytes[100] ^= 1;
    await writeFile(path, bytes);
    await expect(store.publish('bad', a.dir)).rejects.toThrow(/model\.int8\.onnx: sha256 [0-9a-f]{64} does not match/);
    await writeFile(path, bytes.subarray(1));
    await expect(store.publish('bad', a.dir)).rejects.toThrow(/model\.int8\.onnx: \d+ bytes, the manifest records/);
    expect(commands.filter((c) => c.startsWith('Put') || c.includes('Multipart') || c === 'UploadPartCommand')).toEqual(
      [],
    );
    expect((await store.list()).artifacts).toEqual([]);
  });

  it('an aborted publish leaves the previous version latest, complete and verified', async () => {
    const { store, prefix } = newStore({ partSize: 64 * 1024, multipartThreshold: 64 * 1024, concurrency: 2 });
    const a = await fake({ variants: { fp32: 200_000, int8: 70_000 } });
    const first = await store.publish('model', a.dir);
    const b = await fake({ variants: { fp32: 1024 * 1024, int8: 300_000 } });
    const controller = new AbortController();
    let abortedAt = 0;
    const publishing = store.publish('model', b.dir, {
      signal: controller.signal,
      onProgress: (p) => {
        if (p.phase === 'upload' && p.bytesDone >= 256 * 1024 && !controller.signal.aborted) {
          abortedAt = p.bytesDone;
          controller.abort();
        }
      },
    });
    await expect(publishing).rejects.toThrow(
      new RegExp(`aborted; latest still points to the previous version ${first.version}`),
    );
    expect(abortedAt).toBeGreaterThan(0);
    expect(abortedAt).toBeLessThan(1024 * 1024);
    const keys = await keysUnder(prefix);
    expect(keys.filter((k) => k.endsWith('manifest.json'))).toEqual([`model/versions/${first.version}/manifest.json`]);
    const listing = await store.list();
    expect(listing.artifacts.map((s) => s.version)).toEqual([first.version]);
    const dest = join(tmp, `pull-${++counter}`);
    await store.pull('model', dest);
    await expectFolderHolds(dest, a);
  });

  it('pull refuses an object whose bytes were changed in the bucket, leaving no manifest behind', async () => {
    const { store, prefix } = newStore();
    const a = await fake();
    const { version } = await store.publish('tampered', a.dir);
    const key = `${prefix}/tampered/versions/${version}/model.fp32.onnx`;
    const evil = Buffer.from(a.files.get('model.fp32.onnx')!);
    evil[7] ^= 0xff;
    await server.client.send(new PutObjectCommand({ Bucket: server.bucket, Key: key, Body: evil }));
    const dest = join(tmp, `pull-${++counter}`);
    await expect(store.pull('tampered', dest)).rejects.toThrow(
      new RegExp(`s3://${server.bucket}/${key}: sha256 [0-9a-f]{64} does not match the manifest`),
    );
    expect(await readdir(dest)).not.toContain('manifest.json');
    await expect(text(await store.readFile('tampered', 'model.fp32.onnx'))).rejects.toThrow(/does not match/);
  });

  it('lists a pointer that names a different manifest as a problem, not as an artifact', async () => {
    const { store, prefix } = newStore();
    const a = await fake();
    const { version } = await store.publish('broken', a.dir);
    await store.publish('fine', (await fake()).dir);
    const pointer = { version, manifestSha256: 'f'.repeat(64), publishedAt: new Date().toISOString() };
    const Key = `${prefix}/broken/latest.json`;
    await server.client.send(new PutObjectCommand({ Bucket: server.bucket, Key, Body: JSON.stringify(pointer) }));
    const listing = await store.list();
    expect(listing.artifacts.map((s) => s.name)).toEqual(['fine']);
    expect(listing.problems).toHaveLength(1);
    expect(listing.problems[0].reason).toMatch(/manifest\.json: sha256 [0-9a-f]{64} does not match latest\.json/);
    await expect(store.readManifest('missing')).rejects.toThrow(/missing: no published artifact here/);
  });

  it('opens s3:// locations from the standard AWS variables', async () => {
    const store = openStore(`s3://${server.bucket}/env-${++counter}`, { env: server.env });
    const a = await fake();
    await store.publish('x', a.dir);
    expect((await store.list()).artifacts.map((s) => s.name)).toEqual(['x']);
    const wrong = openStore('s3://no-such-bucket/p', { env: server.env });
    const error = await wrong.list().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreError);
    expect((error as Error).message).toMatch(/^s3:\/\/no-such-bucket\/p\/: listing failed: NoSuchBucket \(HTTP 404\)/);
  });
});

describe('s3SettingsFromEnv', () => {
  it('reads region, endpoint, credentials and attempts; path-style only with a custom endpoint', () => {
    expect(s3SettingsFromEnv({})).toMatchObject({ region: 'us-east-1', forcePathStyle: false, maxAttempts: 5 });
    expect(s3SettingsFromEnv({}).credentials).toBeUndefined();
    const s = s3SettingsFromEnv({
      AWS_REGION: 'auto',
      AWS_ENDPOINT_URL: 'https://acct.r2.cloudflarestorage.com',
      AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:9000',
      AWS_ACCESS_KEY_ID: 'k',
      AWS_SECRET_ACCESS_KEY: 's',
      AWS_MAX_ATTEMPTS: '2',
    });
    expect(s).toMatchObject({
      region: 'auto',
      endpoint: 'http://127.0.0.1:9000',
      forcePathStyle: true,
      maxAttempts: 2,
    });
    expect(s.credentials).toEqual({ accessKeyId: 'k', secretAccessKey: 's' });
    expect(s3SettingsFromEnv({ AWS_ENDPOINT_URL: 'https://e.example' }).endpoint).toBe('https://e.example');
    expect(() => s3SettingsFromEnv({ AWS_ENDPOINT_URL_S3: 'not a url' })).toThrow(/AWS_ENDPOINT_URL_S3: "not a url"/);
    expect(() => s3SettingsFromEnv({ AWS_ACCESS_KEY_ID: 'k' })).toThrow(/set both/);
    expect(() => s3SettingsFromEnv({ AWS_MAX_ATTEMPTS: '0' })).toThrow(/AWS_MAX_ATTEMPTS/);
  });
});
