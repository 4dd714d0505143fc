import { ortWebSessions } from '@qdm/edge-probe/ort-web';
import { type AppDeps, createApp, type EdgeApp } from '../../src/app.ts';
import type { EdgeConfig } from '../../src/config.ts';
import { compileOrtWasm } from '../../src/node-runtime.ts';
import { folderSource } from '../../src/sources/folder.ts';
import type { ArtifactSource } from '../../src/sources/source.ts';
import type { FixtureArtifact } from '../fixtures/artifact.ts';
import { folderStore } from '../fixtures/folder.ts';
import { unetArtifact } from '../fixtures/unet-artifact.ts';

/** One ORT-web factory for the whole test file: the wasm runtime initializes once per process anyway. */
export const ortSessions = ortWebSessions(compileOrtWasm);

export function appOver(source: ArtifactSource, config?: Partial<EdgeConfig>, extra?: Partial<AppDeps>): EdgeApp {
  return createApp({ source, sessions: ortSessions, config, log: () => undefined, ...extra });
}

export async function folderApp(config?: Partial<EdgeConfig>) {
  const artifact: FixtureArtifact = await unetArtifact();
  const root = await folderStore(artifact);
  return { app: appOver(folderSource(root), { defaultVariant: 'fp32', ...config }), root, artifact };
}

export async function json(res: Response): Promise<Record<string, unknown>> {
  return (await res.json()) as Record<string, unknown>;
}

export async function bytes(res: Response): Promise<Uint8Array> {
  return new Uint8Array(await res.arrayBuffer());
}
