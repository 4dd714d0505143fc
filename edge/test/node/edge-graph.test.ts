import type { EdgeGraph } from '@qdm/shared';
import { optimizeForEdge } from '@qdm/toolchain';
import { describe, expect, it } from 'vitest';
import { sameRelease } from '../../src/engine/session.ts';
import { folderSource } from '../../src/sources/folder.ts';
import { sha256Hex } from '../../src/sources/verify.ts';
import { convArtifact, type FixtureArtifact } from '../fixtures/artifact.ts';
import { folderStore } from '../fixtures/folder.ts';
import { appOver, bytes, ortSessions } from './harness.ts';

/** The conv artifact with an edge graph for `qdq` (the toolchain's optimizer output, or `graph` as given). */
async function withEdgeGraph(
  runtime: string,
  graph?: Uint8Array,
  format: 'onnx' | 'ort' = 'onnx',
): Promise<FixtureArtifact> {
  const artifact = await convArtifact();
  const portable = artifact.files[artifact.manifest.variants.qdq.file];
  const optimized = await optimizeForEdge(portable, format);
  const file = `model.qdq.edge.${format}`;
  const stored = graph ?? optimized;
  const edgeGraph: EdgeGraph = {
    file,
    bytes: optimized.length,
    sha256: await sha256Hex(optimized),
    runtime,
    level: 'extended',
    format,
  };
  artifact.files[file] = stored;
  artifact.manifest.variants.qdq.edgeGraph = edgeGraph;
  return artifact;
}

async function sampleFrom(artifact: FixtureArtifact) {
  const app = appOver(folderSource(await folderStore(artifact)));
  const res = await app.request('/sample?variant=qdq&seed=3&n=2&steps=ddim5&format=npy');
  expect(res.status).toBe(200);
  const timing = res.headers.get('server-timing') ?? '';
  return { data: await bytes(res), graph: /load-session;[^,]*desc="(\w+) graph"/.exec(timing)?.[1] };
}

describe('edge graphs (pre-optimized at build time)', () => {
  it('loads the edge graph when this runtime release made it, with the same samples as the portable graph', async () => {
    const portable = await sampleFrom(await convArtifact());
    const edge = await sampleFrom(await withEdgeGraph(ortSessions.runtime ?? 'unknown'));
    expect(portable.graph).toBe('portable');
    expect(edge.graph).toBe('edge');
    expect(edge.data).toEqual(portable.data);
  });

  it('reads an ORT-format edge graph in place (weights pinned in the heap), with the same samples, twice', async () => {
    const portable = await sampleFrom(await convArtifact());
    for (let i = 0; i < 2; i++) {
      // A second app: a new session while the first one's pinned block is still held.
      const edge = await sampleFrom(await withEdgeGraph(ortSessions.runtime ?? 'unknown', undefined, 'ort'));
      expect(edge.graph).toBe('edge');
      expect(edge.data).toEqual(portable.data);
    }
  });

  it('streams an ORT-format edge graph into the heap, and falls back when its bytes do not match the sha256', async () => {
    const same = new Uint8Array(await optimizeForEdge((await convArtifact()).files['model.qdq.onnx'], 'ort'));
    same[same.length - 1] ^= 1; // one flipped bit, same length
    const corrupt = await sampleFrom(await withEdgeGraph(ortSessions.runtime ?? 'unknown', same, 'ort'));
    expect(corrupt.graph).toBe('portable');
  });

  it('ignores an edge graph made by another onnxruntime release', async () => {
    const other = await sampleFrom(await withEdgeGraph('onnxruntime 1.29.0'));
    expect(other.graph).toBe('portable');
  });

  it('falls back to the portable graph when the edge graph does not match its sha256', async () => {
    const corrupt = await sampleFrom(await withEdgeGraph(ortSessions.runtime ?? 'unknown', new Uint8Array(10)));
    expect(corrupt.graph).toBe('portable');
  });

  it('compares runtime releases by name, major and minor version', () => {
    expect(sameRelease('onnxruntime 1.30.0', 'onnxruntime 1.30.2')).toBe(true);
    expect(sameRelease('onnxruntime 1.30.0', 'onnxruntime 1.31.0')).toBe(false);
    expect(sameRelease('onnxruntime 1.30.0', 'other 1.30.0')).toBe(false);
    expect(sameRelease('onnxruntime 1.30.0', undefined)).toBe(false);
  });
});
