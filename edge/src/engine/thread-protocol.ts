/** The messages between a threaded session (threaded.ts) and its thread (session-thread.ts). */
import type { SessionOptions } from './session.ts';

/** Which runtime the thread runs: onnxruntime-node on an EP, or onnxruntime-web's WASM build (what a Worker runs). */
export type ThreadRuntime = { kind: 'native'; ep: string; threads: number } | { kind: 'wasm' };

export interface ThreadData {
  runtime: ThreadRuntime;
  model: Uint8Array;
  options?: SessionOptions;
}
export type ThreadRequest = { id: number; x: Float32Array; shape: number[]; t: Float32Array } | { release: true };
export type ThreadReply =
  | { ready: true; memoryBytes?: number }
  | { failed: string }
  | { id: number; out: Float32Array; memoryBytes?: number }
  | { id: number; error: string };
