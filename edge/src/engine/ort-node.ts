/**
 * onnxruntime-node (native kernels: MLAS with the machine's AVX2/AVX-512/VNNI, or a GPU EP) as a SessionFactory
 * for the Node entry. Node only: the Worker bundle never imports this file.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Worker } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';
import { identityModel } from './identity-model.ts';
import type { ThreadData, ThreadReply, ThreadRequest } from './ort-node-thread.ts';
import type { ModelSession, SessionFactory } from './session.ts';

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

interface Pending {
  resolve(out: Float32Array): void;
  reject(error: Error): void;
}

/**
 * A session on its own worker thread (ort-node-thread.ts): onnxruntime-node computes on the calling thread, which
 * here is not the server's. Inputs are copied and transferred; the thread is referenced only while a call runs.
 */
async function threadSession(model: Uint8Array, ep: NativeEp, threads: number): Promise<ModelSession> {
  const worker = new Worker(new URL('./ort-node-thread.ts', import.meta.url), {
    workerData: { model, ep, threads } satisfies ThreadData,
  });
  const pending = new Map<number, Pending>();
  let nextId = 0;
  let broken: Error | undefined;
  const breakAll = (error: Error) => {
    broken ??= error;
    for (const p of pending.values()) p.reject(broken);
    pending.clear();
  };
  const exited = new Promise<void>((done) => worker.once('exit', () => done()));
  worker.on('error', breakAll);
  worker.once('exit', (code) => breakAll(new Error(`the onnxruntime-node session thread exited (code ${code})`)));
  await new Promise<void>((resolve, reject) => {
    worker.once('message', (reply: ThreadReply) => {
      if ('failed' in reply) reject(new Error(reply.failed));
      else resolve();
    });
    worker.once('error', reject);
    worker.once('exit', () => reject(broken ?? new Error('the onnxruntime-node session thread exited')));
  });
  worker.on('message', (reply: ThreadReply) => {
    if (!('id' in reply)) return;
    const call = pending.get(reply.id);
    pending.delete(reply.id);
    if (pending.size === 0) worker.unref();
    if ('out' in reply) call?.resolve(reply.out);
    else call?.reject(new Error(reply.error));
  });
  worker.unref();
  return {
    run(x, xShape, t) {
      if (broken) return Promise.reject(broken);
      const id = nextId++;
      const request: ThreadRequest = { id, x: x.slice(), shape: [...xShape], t: t.slice() };
      return new Promise((resolve, reject) => {
        pending.set(id, { resolve, reject });
        worker.ref();
        worker.postMessage(request, [request.x.buffer as ArrayBuffer, request.t.buffer as ArrayBuffer]);
      });
    },
    async release() {
      if (!broken) worker.postMessage({ release: true } satisfies ThreadRequest);
      worker.ref();
      await exited;
    },
  };
}

/**
 * Sessions on onnxruntime-node with `threads` intra-op threads on `ep`, each on a worker thread. Portable graphs
 * only, optimized at load at level 'all' (x86 NCHWc kernels and layout transforms the build-time edge graphs leave
 * out on purpose).
 */
export function ortNodeSessions(ep: NativeEp, threads: number): SessionFactory {
  const factory: SessionFactory = (model) => threadSession(model, ep, threads);
  factory.runtime = `onnxruntime-node ${ort.env.versions.common}`;
  factory.info = { runtime: 'native', ep, threads };
  factory.usesEdgeGraphs = false;
  return factory;
}
