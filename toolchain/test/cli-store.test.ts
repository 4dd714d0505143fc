import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importMnist32, runCli } from './cli.ts';
import { makeFakeArtifact } from './fake-artifact.ts';
import { type S3rverHandle, startS3rver } from './s3rver.ts';

let s3: S3rverHandle;
const work = mkdtempSync(join(tmpdir(), 'qdm-cli-store-'));

beforeAll(async () => {
  s3 = await startS3rver({ bucket: 'models' });
});
afterAll(async () => {
  await s3?.stop();
  rmSync(work, { recursive: true, force: true });
});

describe('toolchain push / ls / pull against S3 (s3rver on 127.0.0.1)', () => {
  it('publishes an artifact, lists it and pulls it back verified', async () => {
    const artifact = await makeFakeArtifact(join(work, 'digits'), { name: 'digits' });
    const env = { ...s3.env, AWS_ENDPOINT_URL_S3: s3.endpoint };
    const pushed = await runCli(['push', '--from', artifact.dir, '--to', 's3://models/team', '--json'], { env });
    expect(pushed.code, pushed.stderr).toBe(0);
    const version = JSON.parse(pushed.stdout).version as string;
    expect(version).toMatch(/^\d{8}T\d{6}Z-/);

    const listed = await runCli(['ls', 's3://models/team', '--json'], { env });
    expect(listed.code, listed.stderr).toBe(0);
    const entries = JSON.parse(listed.stdout).artifacts;
    expect(entries.map((a: { name: string }) => a.name)).toEqual(['digits']);
    expect(entries[0].version).toBe(version);

    const dest = join(work, 'pulled');
    const pulled = await runCli(['pull', '--from', 's3://models/team', '--name', 'digits', '--to', dest, '--json'], {
      env,
    });
    expect(pulled.code, pulled.stderr).toBe(0);
    for (const [file, bytes] of artifact.files) expect(readFileSync(join(dest, file)).equals(bytes)).toBe(true);
  });

  it('names the problem when the bucket does not exist', async () => {
    const env = { ...s3.env, AWS_ENDPOINT_URL_S3: s3.endpoint };
    const result = await runCli(['ls', 's3://no-such-bucket/x'], { env });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/no-such-bucket/);
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });
});

describe('scale-out sampling through S3', () => {
  it('samples shards from an S3 artifact into S3 and merges them there', async () => {
    const env = { ...s3.env, AWS_ENDPOINT_URL_S3: s3.endpoint };
    const local = join(work, 'mnist32');
    await importMnist32(local);
    expect((await runCli(['push', '--from', local, '--to', 's3://models/prod', '--quiet'], { env })).code).toBe(0);
    const common = ['sample', '--artifact', 's3://models/prod/mnist32', '--n', '4', '--steps', 'ddim3', '--quiet'];
    const shards = await Promise.all(
      [0, 1].map((i) => runCli([...common, '--shard', `${i}/2`, '--out', `s3://models/runs/shard-${i}.npz`], { env })),
    );
    for (const shard of shards) expect(shard.code, shard.stderr).toBe(0);
    const merged = await runCli(
      ['merge', '--out', 's3://models/runs/all.npz', 's3://models/runs/shard-1.npz', 's3://models/runs/shard-0.npz'],
      { env },
    );
    expect(merged.code, merged.stderr).toBe(0);
    const single = await runCli([...common, '--out', join(work, 'single.npz')], { env });
    expect(single.code, single.stderr).toBe(0);
    const { GetObjectCommand } = await import('@aws-sdk/client-s3');
    const object = await s3.client.send(new GetObjectCommand({ Bucket: 'models', Key: 'runs/all.npz' }));
    const bytes = Buffer.from(await object.Body!.transformToByteArray());
    expect(bytes.equals(readFileSync(join(work, 'single.npz')))).toBe(true);
  });
});
