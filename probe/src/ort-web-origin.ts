/**
 * NOTE: onnxruntime-web's bundle, while it is evaluated, resolves its own file URL against `location.origin`
 * whenever a `location` global exists. Node has none. A Deno worker thread (the edge memory probe, a `wasm`
 * session thread) has one, for a file: URL, whose origin is the opaque "null", and `new URL(url, 'null')` throws
 * there ("Invalid URL ... with base 'null'"), so importing ORT failed. This module, imported by ort-web.ts before
 * ORT, hides such a `location` for ORT's evaluation; ort-web.ts restores it right after (ORT keeps the origin it
 * read, undefined, as under Node). Browsers and Workers (no Node `process`, or a real origin) are left alone.
 */
const scope = globalThis as { location?: { origin?: string }; process?: { versions?: { node?: string } } };
const opaque = scope.process?.versions?.node !== undefined && scope.location?.origin === 'null';
const saved = opaque ? Object.getOwnPropertyDescriptor(globalThis, 'location') : undefined;
if (saved?.configurable) Object.defineProperty(globalThis, 'location', { value: undefined, configurable: true });

/** Puts back the `location` hidden while onnxruntime-web was evaluated (a no-op where none was hidden). */
export function restoreLocation(): void {
  if (saved?.configurable) Object.defineProperty(globalThis, 'location', saved);
}
