/**
 * onnxruntime-node (native kernels: MLAS with the machine's AVX2/AVX-512/VNNI, or a GPU EP) as a SessionFactory
 * for the Node entry. Node only: the Worker bundle never imports this file.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { identityModel } from '@qdm/edge-probe/identity-model';
import * as ort from 'onnxruntime-node';
import type { SessionFactory } from './session.ts';
import { threadSession } from './threaded.ts';

export const NATIVE_EPS = ['cpu', 'webgpu', 'cuda'] as const;
export type NativeEp = (typeof NATIVE_EPS)[number];

/** What to install when an EP cannot run here (the tail of the one-line startup error). */
const INSTALL: Record<NativeEp, string> = {
  cpu: '',
  cuda:
    'install onnxruntime-node\'s CUDA 12 provider: "ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules/onnxruntime-node/script/install" ' +
    '(needs an NVIDIA driver, CUDA 12 and cuDNN 9)',
  webgpu:
    "needs a Vulkan driver (libvulkan1 and the GPU vendor's driver; without a GPU, Debian's chromium ships SwiftShader: " +
    'VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json)',
};

export class RuntimeUnavailableError extends Error {
  override name = 'RuntimeUnavailableError';
}

function cudaProviderInstalled(): boolean {
  const index = createRequire(import.meta.url).resolve('onnxruntime-node');
  const dir = join(dirname(index), '..', 'bin', 'napi-v6', process.platform, process.arch);
  return existsSync(join(dir, 'libonnxruntime_providers_cuda.so'));
}

/** Creates and runs a one-node model on the EP: throws RuntimeUnavailableError naming what to install. */
export async function checkNativeEp(ep: NativeEp): Promise<void> {
  if (ep === 'cpu') return;
  const fail = (why: string) => new RuntimeUnavailableError(`QDM_EP=${ep}: ${why}; ${INSTALL[ep]}`);
  if (ep === 'cuda' && !cudaProviderInstalled()) throw fail("onnxruntime-node's CUDA provider is not installed");
  try {
    const session = await ort.InferenceSession.create(identityModel, { executionProviders: [ep], logSeverityLevel: 4 });
    await session.run({ x: new ort.Tensor('float32', new Float32Array([1]), [1]) });
    await session.release();
  } catch (error) {
    throw fail(
      `onnxruntime-node cannot run it here (${String((error as Error).message)
        .split('\n')[0]
        .slice(0, 160)})`,
    );
  }
}

/**
 * Sessions on onnxruntime-node with `threads` intra-op threads on `ep`, each on a worker thread. Portable graphs
 * only, optimized at load at level 'all' (x86 NCHWc kernels and layout transforms the build-time edge graphs leave
 * out on purpose).
 */
export function ortNodeSessions(ep: NativeEp, threads: number): SessionFactory {
  // NOTE: on a worker thread: onnxruntime-node computes on the calling thread (session-thread.ts says why)
  const factory: SessionFactory = (model) => threadSession({ kind: 'native', ep, threads }, model);
  factory.runtime = `onnxruntime-node ${ort.env.versions.common}`;
  factory.info = { runtime: 'native', ep, threads };
  factory.usesEdgeGraphs = false;
  return factory;
}
