/**
 * What the engine needs from an inference runtime: one denoiser forward pass over a batch. Runtimes (ORT-web WASM
 * in workerd and Node, or a fake in tests) are injected through a SessionFactory.
 */
export interface ModelSession {
  /** x: [batch, C, H, W], t: [batch]; returns `out` [batch, outC, H, W]. */
  run(x: Float32Array, xShape: readonly number[], t: Float32Array): Promise<Float32Array>;
  release(): Promise<void>;
}

export type SessionFactory = ((model: Uint8Array) => Promise<ModelSession>) & {
  /** Bytes of the runtime's own memory (the WASM heap holding every session's weights), when known. */
  memoryBytes?: () => number | undefined;
};
