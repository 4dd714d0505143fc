import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeFakeArtifact } from '../../test/fake-artifact.ts';
import { type S3rverHandle, startS3rver } from '../../test/s3rver.ts';
import { formatLs, run as ls } from './ls.ts';
import { run as pull } from './pull.ts';
import { run as push } from './push.ts';

let server: S3rverHandle;
let tmp: string;

beforeAll(async () => {
  server = await startS3rver();
  tmp = await mkdtemp(join(tmpdir(), 'qdm-store-cmd-'));
});

afterAll(async () => {
  await server?.stop();
  await rm(tmp, { recursive: true, force: true });
});

describe('push / ls / pull', () => {
  it('moves an artifact to S3 under its manifest name and back, relative paths against cwd', async () => {
    const a = await makeFakeArtifact(join(tmp, 'built'), { name: 'mnist32-w8a8' });
    const env = server.env;
    const pushed = await push({ from: 'built', to: `s3://${server.bucket}/cmd`, env, cwd: tmp });
    expect(pushed).toMatchObject({ name: 'mnist32-w8a8', store: `s3://${server.bucket}/cmd`, unchanged: false });

    const listed = await ls({ at: `s3://${server.bucket}/cmd`, env });
    expect(listed.artifacts.map((e) => [e.name, e.version, e.variants.int8.precision])).toEqual([
      ['mnist32-w8a8', pushed.version, 'w8a8'],
    ]);
    expect(formatLs(listed)).toMatch(/^mnist32-w8a8 {2}\S+ {2}\S+ {2}fp32 0\.0 MB, int8 0\.0 MB$/);

    const pulled = await pull({ from: `s3://${server.bucket}/cmd`, name: 'mnist32-w8a8', env, cwd: tmp });
    expect(pulled.dir).toBe(join(tmp, 'mnist32-w8a8'));
    for (const [file, bytes] of a.files) expect((await readFile(join(pulled.dir, file))).equals(bytes)).toBe(true);

    const local = await push({ from: pulled.dir, to: 'store', name: 'copy', cwd: tmp });
    expect(local.store).toBe(join(tmp, 'store'));
    expect((await ls({ at: join(tmp, 'store') })).artifacts.map((e) => e.name)).toEqual(['copy']);
    await mkdir(join(tmp, 'empty'));
    expect(formatLs(await ls({ at: join(tmp, 'empty') }))).toBe(`${join(tmp, 'empty')}: no artifacts`);
    await expect(ls({ at: join(tmp, 'mistyped') })).rejects.toThrow(`${join(tmp, 'mistyped')}: no such folder`);
  });
});
