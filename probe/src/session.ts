/**
 * What the engine needs from an inference runtime: one denoiser forward pass over a batch. Runtimes (ORT-web WASM
 * in workerd and Node, or a fake in tests) are injected through a SessionFactory.
 */
export interface ModelSession {
  /** x: [batch, C, H, W], t: [batch]; returns `out` [batch, outC, H, W]. */
  run(x: Float32Array, xShape: readonly number[], t: Float32Array): Promise<Float32Array>;
  release(): Promise<void>;
}

export interface SessionOptions {
  /** The bytes are an edge graph (already optimized by this runtime's optimizer): skip optimization. */
  optimized?: boolean;
  /** 'ort': onnxruntime's own format (an edge graph), which the runtime may read in place. Default 'onnx'. */
  format?: 'onnx' | 'ort';
}

/** What runs the models, as `/healthz`, `/models` and `Server-Timing` name it. */
export interface RuntimeInfo {
  /** 'wasm' (onnxruntime-web, every runtime) or 'native' (onnxruntime-node). */
  runtime: 'wasm' | 'native';
  /** The execution provider: 'wasm', 'cpu', 'webgpu', 'cuda'. */
  ep: string;
  /** intra-op threads of each session. */
  threads: number;
}

/**
 * Model bytes written straight into the runtime's own memory as they arrive from the store, so no JS copy of a
 * large model exists beside the runtime's (a Worker has 128 MB for both).
 */
export interface ModelBuffer {
  readonly byteLength: number;
  write(chunk: Uint8Array, offset: number): void;
  /** A view of the bytes written (a fresh one each call: the runtime's memory may grow and move). */
  bytes(): Uint8Array;
  /** A session over these bytes; it owns the buffer from then on and frees it on release. */
  open(options?: SessionOptions): Promise<ModelSession>;
  /** Frees the buffer when no session was opened (a failed read or verification). */
  discard(): void;
}

export type SessionFactory = ((model: Uint8Array, options?: SessionOptions) => Promise<ModelSession>) & {
  /** A buffer in the runtime's memory for an ORT-format model that sessions read in place (WASM runtimes). */
  allocate?: (byteLength: number) => Promise<ModelBuffer>;
  /**
   * Starts the runtime's one-time initialization (WASM: instantiating onnxruntime, a noticeable part of a cold
   * start) without waiting for it, so it overlaps the manifest and model reads of the first request.
   */
  warm?: () => void;
  /** Bytes of the runtime's own memory (the WASM heap holding every session's weights), when known. */
  memoryBytes?: () => number | undefined;
  /** Name and version ("onnxruntime 1.30.0"); a variant's edge graph is used only when made by the same release. */
  runtime?: string;
  info?: RuntimeInfo;
  /** Whether build-time edge graphs suit this runtime (native builds fuse better for the machine they run on). */
  usesEdgeGraphs?: boolean;
};
