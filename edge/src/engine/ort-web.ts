import * as ort from 'onnxruntime-web/wasm';
import type { ModelSession, SessionFactory } from './session.ts';

/**
 * onnxruntime-web on its single-threaded WASM backend, fed a precompiled `WebAssembly.Module`.
 *
 * NOTE: Workers forbid compiling WebAssembly from bytes at run time, and ORT 1.30 has no option taking a Module.
 * Emscripten does honour an `instantiateWasm(imports, receive)` hook, but ORT builds the Emscripten config as a
 * fresh object literal, so the hook is only reachable through `Object.prototype`. We define it there
 * (non-enumerable) for the one call that initializes the runtime and remove it right after. A non-empty
 * placeholder `wasmBinary` makes the glue take its "binary given" path instead of locating a file by URL.
 * See shared/design/EDGE.md.
 */

const HOOK = 'instantiateWasm';
let runtimeReady: Promise<void> | undefined;
/** The runtime's heap: imported (the threaded build creates it in JS) or exported by the instance. */
let wasmMemory: WebAssembly.Memory | undefined;

function findMemory(imports: WebAssembly.Imports, instance: WebAssembly.Instance): WebAssembly.Memory | undefined {
  const candidates = [...Object.values(instance.exports), ...Object.values(imports).flatMap((m) => Object.values(m))];
  return candidates.find((v): v is WebAssembly.Memory => v instanceof WebAssembly.Memory);
}

type Receive = (instance: WebAssembly.Instance, module: WebAssembly.Module) => void;

function installHook(wasm: WebAssembly.Module): () => void {
  const hook = (imports: WebAssembly.Imports, receive: Receive) => {
    WebAssembly.instantiate(wasm, imports).then((instance) => {
      wasmMemory = findMemory(imports, instance);
      receive(instance, wasm);
    });
    return {}; // Emscripten: an empty exports object means "instantiation is asynchronous"
  };
  Object.defineProperty(Object.prototype, HOOK, { value: hook, configurable: true, writable: true, enumerable: false });
  return () => {
    delete (Object.prototype as Record<string, unknown>)[HOOK];
  };
}

function configureEnv(): void {
  ort.env.wasm.numThreads = 1;
  ort.env.wasm.proxy = false;
  ort.env.wasm.wasmBinary = new Uint8Array([0]);
  ort.env.logLevel = 'error';
}

function sessionOptions(optimized: boolean): ort.InferenceSession.SessionOptions {
  return {
    executionProviders: ['wasm'],
    // NOTE: 'all' lets ORT fuse QDQ pairs into QLinearConv/QLinearMatMul; at 'basic' int8 is slower than fp32. An
    // edge graph is already fused: running the optimizer again would only cost cold-start time.
    graphOptimizationLevel: optimized ? 'disabled' : 'all',
  };
}

async function createSession(
  model: Uint8Array,
  wasm: WebAssembly.Module,
  options: ort.InferenceSession.SessionOptions,
): Promise<ort.InferenceSession> {
  if (!runtimeReady) {
    configureEnv();
    const uninstall = installHook(wasm);
    const first = ort.InferenceSession.create(model, options);
    runtimeReady = first.then(
      () => undefined,
      () => undefined,
    );
    try {
      return await first;
    } catch (error) {
      runtimeReady = undefined; // let the next request retry the runtime initialization
      throw error;
    } finally {
      uninstall();
    }
  }
  await runtimeReady;
  return ort.InferenceSession.create(model, options);
}

/**
 * NOTE: a WASM run is synchronous and ORT resolves it through microtasks only, so a queue of steps would hold the
 * event loop until every queued request finished: sockets would not be read or accepted meanwhile (Node then times
 * out unread requests). One macrotask turn before each step lets I/O in.
 */
const yieldToEventLoop = (): Promise<void> =>
  new Promise((resolve) => (typeof setImmediate === 'function' ? setImmediate(resolve) : setTimeout(resolve, 0)));

function wrap(session: ort.InferenceSession): ModelSession {
  // The artifact contract names them x, t and out; fall back to position for other graphs.
  const named = (names: readonly string[], name: string, i: number) => (names.includes(name) ? name : names[i]);
  const xName = named(session.inputNames, 'x', 0);
  const tName = named(session.inputNames, 't', 1);
  const outName = named(session.outputNames, 'out', 0);
  // NOTE: one run at a time per session: concurrent requests interleave by step instead of racing inside ORT.
  let queue: Promise<unknown> = Promise.resolve();
  const runOnce = async (x: Float32Array, xShape: readonly number[], t: Float32Array) => {
    const feeds = {
      [xName]: new ort.Tensor('float32', x, xShape as number[]),
      [tName]: new ort.Tensor('float32', t, [t.length]),
    };
    const result = await session.run(feeds);
    const out = result[outName];
    const data = (out.data as Float32Array).slice();
    out.dispose();
    return data;
  };
  return {
    run(x, xShape, t) {
      const next = queue.then(yieldToEventLoop).then(() => runOnce(x, xShape, t));
      queue = next.catch(() => undefined);
      return next;
    },
    release: () => session.release(),
  };
}

/** A SessionFactory over ORT-web; `loadWasm` supplies the compiled ORT module (imported in workerd, compiled in Node). */
export function ortWebSessions(loadWasm: () => Promise<WebAssembly.Module>): SessionFactory {
  let wasm: Promise<WebAssembly.Module> | undefined;
  const factory: SessionFactory = async (model, options) => {
    wasm ??= loadWasm();
    return wrap(await createSession(model, await wasm, sessionOptions(options?.optimized === true)));
  };
  factory.memoryBytes = () => wasmMemory?.buffer.byteLength;
  factory.runtime = `onnxruntime ${ort.env.versions.web ?? ort.env.versions.common}`;
  return factory;
}
