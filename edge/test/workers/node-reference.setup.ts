// Global setup of the Workers project; runs on Node before workerd starts: builds the test artifacts and answers
// CROSS_RUNTIME_QUERIES with the Node app, so the tests inside workerd can compare bytes.
import type { TestProject } from 'vitest/node';
import { folderSource } from '../../src/sources/folder.ts';
import { convArtifact } from '../fixtures/artifact.ts';
import { CROSS_RUNTIME_QUERIES, type NodeReference, toBase64, toReference } from '../fixtures/cross-runtime.ts';
import { folderStore } from '../fixtures/folder.ts';
import { unetArtifact } from '../fixtures/unet-artifact.ts';
import { appOver } from '../node/harness.ts';

export default async function setup(project: TestProject) {
  const artifacts = [await unetArtifact(), await convArtifact()];
  const app = appOver(folderSource(await folderStore(...artifacts)));
  const outputs: Record<string, string> = {};
  for (const query of CROSS_RUNTIME_QUERIES) {
    const res = await app.request(query);
    if (res.status !== 200) throw new Error(`node reference: ${query} -> ${res.status} ${await res.text()}`);
    outputs[query] = toBase64(new Uint8Array(await res.arrayBuffer()));
  }
  const reference: NodeReference = { artifacts: artifacts.map(toReference), outputs };
  project.provide('nodeReference', reference);
}
