/**
 * The session contract (ModelSession, SessionFactory, ...) is defined beside the WASM runtime in @qdm/edge-probe,
 * which the toolchain's memory probe shares with the edge; the engine imports it from here.
 */
export type {
  ModelBuffer,
  ModelSession,
  RuntimeInfo,
  SessionFactory,
  SessionOptions,
} from '@qdm/edge-probe/session';

/** "onnxruntime 1.30.0" -> "onnxruntime 1.30": contrib op schemas and fusions may change between releases. */
function release(runtime: string): string {
  return runtime.replace(/^(\S+ \d+\.\d+)\..*$/, '$1');
}

export function sameRelease(a: string | undefined, b: string | undefined): boolean {
  return a !== undefined && b !== undefined && release(a) === release(b);
}
