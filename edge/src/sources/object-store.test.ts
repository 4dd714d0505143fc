import { latestKey, versionFileKey } from '@qdm/shared';
import { beforeEach, describe, expect, it } from 'vitest';
import { convArtifact, type FixtureArtifact } from '../../test/fixtures/artifact.ts';
import { publishVersioned } from '../../test/fixtures/publish.ts';
import { type ObjectStore, versionedSource } from './object-store.ts';
import { IntegrityError, SourceError } from './source.ts';

/** An in-memory store with S3/R2 listing semantics (delimiter "/"). */
function memoryStore(): ObjectStore & { objects: Map<string, Uint8Array> } {
  const objects = new Map<string, Uint8Array>();
  return {
    objects,
    location: 'memory',
    get: async (key) => objects.get(key),
    async childPrefixes(prefix) {
      const names = new Set<string>();
      for (const key of objects.keys()) {
        if (key.startsWith(prefix) && key.slice(prefix.length).includes('/')) {
          names.add(key.slice(prefix.length).split('/')[0]);
        }
      }
      return [...names];
    },
  };
}

const text = (s: string) => new TextEncoder().encode(s);
let store: ReturnType<typeof memoryStore>;
let artifact: FixtureArtifact;

beforeEach(async () => {
  store = memoryStore();
  artifact = await convArtifact('conv');
  const put = async (key: string, bytes: Uint8Array) => {
    store.objects.set(key, bytes);
  };
  await publishVersioned(put, 'root/dir', artifact, 'v7');
});

describe('versionedSource', () => {
  it('lists only prefixes with a latest.json and opens the version it points to', async () => {
    store.objects.set('root/dir/half-written/versions/v1/model.fp32.onnx', text('x'));
    const source = versionedSource(store, '/root/dir/');
    expect(source.location).toBe('memory/root/dir');
    expect(await source.names()).toEqual(['conv']);
    const snapshot = await source.open('conv');
    expect(snapshot).toMatchObject({ name: 'conv', version: 'v7' });
    const file = artifact.manifest.variants.fp32.file;
    expect(await source.readFile(snapshot!, file)).toEqual(artifact.files[file]);
    expect(await source.open('half-written')).toBeUndefined();
    expect(await source.open('../conv')).toBeUndefined();
  });

  it('refuses a latest.json that is not a pointer, and a manifest that does not match it', async () => {
    const source = versionedSource(store, 'root/dir');
    store.objects.set(latestKey('root/dir/conv'), text('{"version": "../x"}'));
    await expect(source.open('conv')).rejects.toBeInstanceOf(SourceError);
    const pointer = { version: 'v7', manifestSha256: '0'.repeat(64), publishedAt: '' };
    store.objects.set(latestKey('root/dir/conv'), text(JSON.stringify(pointer)));
    await expect(source.open('conv')).rejects.toBeInstanceOf(IntegrityError);
  });

  it('names the missing object when a version lacks a file', async () => {
    const source = versionedSource(store, 'root/dir');
    const snapshot = await source.open('conv');
    store.objects.delete(versionFileKey('root/dir/conv', 'v7', 'model.alt.onnx'));
    await expect(source.readFile(snapshot!, 'model.alt.onnx')).rejects.toThrow(
      'memory: missing root/dir/conv/versions/v7/model.alt.onnx',
    );
  });
});
