import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { text } from 'node:stream/consumers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeArtifact, makeFakeArtifact } from '../../test/fake-artifact.ts';
import { StoreError } from './errors.ts';
import { LocalStore } from './local.ts';

let tmp: string;
let counter = 0;

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'qdm-local-store-'));
});

afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

const fresh = (what: string) => join(tmp, `${what}-${++counter}`);
const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

async function expectFolderHolds(dir: string, artifact: FakeArtifact): Promise<void> {
  expect((await readdir(dir)).sort()).toEqual([...artifact.files.keys()].sort());
  for (const [file, bytes] of artifact.files) expect((await readFile(join(dir, file))).equals(bytes)).toBe(true);
}

describe('LocalStore', () => {
  it('publishes into <root>/<name>/, lists, reads and pulls with sha256 checks', async () => {
    const store = new LocalStore(fresh('root'));
    expect(await store.list()).toEqual({ artifacts: [], problems: [] });
    const a = await makeFakeArtifact(fresh('a'), { variants: { fp32: 70_000, int8: 20_000, w4a8: 9_000 } });
    const published = await store.publish('mnist', a.dir);
    expect(published).toMatchObject({ name: 'mnist', unchanged: false, manifestSha256: sha256(a.manifestBytes) });
    await expectFolderHolds(join(store.root, 'mnist'), a);

    const listing = await store.list();
    expect(listing.artifacts.map((s) => [s.name, s.manifestSha256, s.bytes])).toEqual([
      ['mnist', sha256(a.manifestBytes), 99_000],
    ]);
    expect(await text(await store.readFile('mnist', 'report.html'))).toBe(a.files.get('report.html')!.toString());
    await expect(store.readFile('mnist', 'other.onnx')).rejects.toThrow(/not a file of artifact "mnist"/);

    const dest = fresh('pull');
    expect((await store.pull('mnist', dest)).files.map((f) => f.file)).toEqual([
      'model.fp32.onnx',
      'model.int8.onnx',
      'model.w4a8.onnx',
      'report.int8.html',
      'report.w4a8.html',
      'report.html',
    ]);
    await expectFolderHolds(dest, a);

    expect((await store.publish('mnist', a.dir)).unchanged).toBe(true);
    // B drops the w4a8 variant: once B's manifest is in place, A's extra file goes.
    const b = await makeFakeArtifact(fresh('b'), { variants: { fp32: 5_000, int8: 3_000 } });
    const second = await store.publish('mnist', b.dir);
    expect(second.unchanged).toBe(false);
    await expectFolderHolds(join(store.root, 'mnist'), b);
    await store.pull('mnist', dest);
    await expectFolderHolds(dest, b);
  });

  it('refuses a source file that does not match the manifest and leaves the published one intact', async () => {
    const store = new LocalStore(fresh('root'));
    const a = await makeFakeArtifact(fresh('a'));
    await store.publish('m', a.dir);
    const b = await makeFakeArtifact(fresh('b'));
    const bad = Buffer.from(b.files.get('model.int8.onnx')!);
    bad[0] ^= 1;
    await writeFile(join(b.dir, 'model.int8.onnx'), bad);
    await expect(store.publish('m', b.dir)).rejects.toThrow(
      new RegExp(`${join(b.dir, 'model.int8.onnx')}: sha256 [0-9a-f]{64} does not match the manifest`),
    );
    await writeFile(join(b.dir, 'model.int8.onnx'), bad.subarray(10));
    await expect(store.publish('m', b.dir)).rejects.toThrow(/bytes, the manifest records \d+; refusing to publish/);
    await expectFolderHolds(join(store.root, 'm'), a);
  });

  it('verifies an edge graph against its manifest entry like a variant file', async () => {
    const store = new LocalStore(fresh('root'));
    const a = await makeFakeArtifact(fresh('a'));
    const graph = Buffer.from('an optimized graph');
    const manifest = structuredClone(a.manifest);
    manifest.variants.int8.edgeGraph = {
      file: 'model.int8.edge.onnx',
      bytes: graph.length,
      sha256: sha256(graph),
      runtime: 'onnxruntime 1.30.0',
      level: 'extended',
    };
    await writeFile(join(a.dir, 'manifest.json'), JSON.stringify(manifest));
    await writeFile(join(a.dir, 'model.int8.edge.onnx'), graph);
    const pulled = fresh('pulled');
    await store.publish('m', a.dir);
    await store.pull('m', pulled);
    expect((await readFile(join(pulled, 'model.int8.edge.onnx'))).equals(graph)).toBe(true);

    await writeFile(join(a.dir, 'model.int8.edge.onnx'), Buffer.from('an optimized grapH'));
    await expect(new LocalStore(fresh('root')).publish('m', a.dir)).rejects.toThrow(
      /model\.int8\.edge\.onnx: sha256 [0-9a-f]{64} does not/,
    );
  });

  it('an aborted copy leaves the previous artifact and no temp files', async () => {
    const store = new LocalStore(fresh('root'));
    const a = await makeFakeArtifact(fresh('a'));
    await store.publish('m', a.dir);
    const b = await makeFakeArtifact(fresh('b'), { variants: { fp32: 2 * 1024 * 1024, int8: 1024 * 1024 } });
    const controller = new AbortController();
    const publishing = store.publish('m', b.dir, {
      signal: controller.signal,
      onProgress: (p) => {
        if (p.bytesDone > 200_000) controller.abort();
      },
    });
    await expect(publishing).rejects.toThrow(StoreError);
    await expect(publishing).rejects.toThrow(/aborted/);
    await expectFolderHolds(join(store.root, 'm'), a);
  });

  it('lists only folders with a manifest; a manifest that does not parse is a problem', async () => {
    const store = new LocalStore(fresh('root'));
    await store.publish('good', (await makeFakeArtifact(fresh('a'))).dir);
    await mkdir(join(store.root, 'half-copied'));
    await writeFile(join(store.root, 'half-copied', 'model.fp32.onnx'), 'x');
    await mkdir(join(store.root, 'broken'));
    await writeFile(join(store.root, 'broken', 'manifest.json'), '{"schema": "qdm.artifact/1"}');
    const listing = await store.list();
    expect(listing.artifacts.map((s) => s.name)).toEqual(['good']);
    expect(listing.problems.map((p) => p.name)).toEqual(['broken']);
    expect(listing.problems[0].reason).toMatch(/broken\/manifest\.json: manifest: name must be/);
    await expect(store.readManifest('half-copied')).rejects.toThrow(/half-copied: no artifact here/);
    expect((await new LocalStore(fresh('missing')).list()).artifacts).toEqual([]);
  });

  it('reads fail when a stored file was changed on disk', async () => {
    const store = new LocalStore(fresh('root'));
    const a = await makeFakeArtifact(fresh('a'));
    await store.publish('m', a.dir);
    const path = join(store.root, 'm', 'model.fp32.onnx');
    const bytes = await readFile(path);
    bytes[5] ^= 1;
    await writeFile(path, bytes);
    await expect(text(await store.readFile('m', 'model.fp32.onnx'))).rejects.toThrow(/sha256 [0-9a-f]{64} does not/);
    const dest = fresh('pull');
    await expect(store.pull('m', dest)).rejects.toThrow(/model\.fp32\.onnx: sha256/);
    expect(await readdir(dest)).not.toContain('manifest.json');
  });

  it('a changed build report fails the pull like a model file (the manifest records its sha256)', async () => {
    const store = new LocalStore(fresh('root'));
    const a = await makeFakeArtifact(fresh('a'));
    await store.publish('m', a.dir);
    await writeFile(join(store.root, 'm', 'report.html'), '<!doctype html><p>edited</p>');
    const dest = fresh('pull');
    await expect(store.pull('m', dest)).rejects.toThrow(/report\.html/);
    expect(await readdir(dest)).not.toContain('manifest.json');
  });
});
