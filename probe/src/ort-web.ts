import './ort-web-origin.ts'; // NOTE: first: it runs before onnxruntime-web is evaluated (see there)
import * as ort from 'onnxruntime-web/wasm';
import { identityModel } from './identity-model.ts';
import { restoreLocation } from './ort-web-origin.ts';
import type { ModelBuffer, ModelSession, SessionFactory, SessionOptions } from './session.ts';

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

restoreLocation();

const HOOK = 'instantiateWasm';

/** The parts of the Emscripten module object that ORT-web's glue and this file use. */
interface EmscriptenModule {
  HEAPU8: Uint8Array;
  _malloc(bytes: number): number;
  _free(pointer: number): void;
}

interface Runtime {
  module: EmscriptenModule;
  /** Frees a pinned block (the module's own `_free` skips them). */
  freePinned(pointer: number): void;
}

let runtimeReady: Promise<Runtime> | undefined;
/** Heap blocks holding ORT-format models that sessions read their weights from: never freed while in use. */
const pinned = new Set<number>();

type Receive = (instance: WebAssembly.Instance, module: WebAssembly.Module) => void;

function installHook(wasm: WebAssembly.Module, captured: (module: EmscriptenModule) => void): () => void {
  // NOTE: a method, not an arrow: Emscripten calls it as `Module.instantiateWasm(...)`, so `this` is the module.
  function hook(this: EmscriptenModule, imports: WebAssembly.Imports, receive: Receive) {
    WebAssembly.instantiate(wasm, imports).then((instance) => {
      receive(instance, wasm); // assigns the module's exports (_malloc, _free, HEAPU8) synchronously
      captured(this);
    });
    return {}; // Emscripten: an empty exports object means "instantiation is asynchronous"
  }
  Object.defineProperty(Object.prototype, HOOK, { value: hook, configurable: true, writable: true, enumerable: false });
  return () => {
    delete (Object.prototype as Record<string, unknown>)[HOOK];
  };
}

/**
 * NOTE: ORT-web frees the heap copy of the model bytes as soon as the session is created, but with
 * `use_ort_model_bytes_for_initializers` the session's weights ARE those bytes: freed, the next allocations
 * (activations) overwrite them and the outputs go wrong (measured: the CIFAR-10 int8 checksums changed). The
 * glue calls `Module._free` by property lookup, so wrapping it keeps pinned blocks alive until their session is
 * released.
 */
function guardPinnedBlocks(module: EmscriptenModule): (pointer: number) => void {
  const free = module._free;
  module._free = (pointer: number) => {
    if (!pinned.has(pointer)) free(pointer);
  };
  return (pointer) => {
    pinned.delete(pointer);
    free(pointer);
  };
}

function configureEnv(): void {
  ort.env.wasm.numThreads = 1;
  ort.env.wasm.proxy = false;
  ort.env.wasm.wasmBinary = new Uint8Array([0]);
  ort.env.logLevel = 'error';
}

/** Initializes the WASM runtime once (with a one-node model) and returns its module. */
function initRuntime(wasm: WebAssembly.Module): Promise<Runtime> {
  runtimeReady ??= (async () => {
    configureEnv();
    let module: EmscriptenModule | undefined;
    const uninstall = installHook(wasm, (m) => {
      module = m;
    });
    try {
      const session = await ort.InferenceSession.create(identityModel, { executionProviders: ['wasm'] });
      await session.release();
    } finally {
      uninstall();
    }
    if (!module) throw new Error('onnxruntime-web initialized without calling instantiateWasm');
    return { module, freePinned: guardPinnedBlocks(module) };
  })().catch((error) => {
    runtimeReady = undefined; // let the next request retry the runtime initialization
    throw error;
  });
  return runtimeReady;
}

function sessionOptions(options: SessionOptions | undefined): ort.InferenceSession.SessionOptions {
  if (options?.format === 'ort') {
    // An ORT-format edge graph is read in place: weights stay in the model bytes (no second copy in the heap),
    // no prepacked copies, no arena holding freed blocks: what lets the CIFAR-10 int8 fit a Worker
    // (docs/results.md#edge-cifar10).
    return {
      executionProviders: ['wasm'],
      graphOptimizationLevel: 'disabled',
      enableCpuMemArena: false,
      enableMemPattern: false,
      extra: {
        session: {
          use_ort_model_bytes_directly: '1',
          use_ort_model_bytes_for_initializers: '1',
          disable_prepacking: '1',
        },
      },
    };
  }
  return {
    executionProviders: ['wasm'],
    // NOTE: 'all' lets ORT fuse QDQ pairs into QLinearConv/QLinearMatMul; at 'basic' int8 is slower than fp32. An
    // edge graph is already fused: running the optimizer again would only cost cold-start time.
    graphOptimizationLevel: options?.optimized ? 'disabled' : 'all',
  };
}

/**
 * A pinned heap block for an ORT-format model: ORT-web is handed a view of its own heap, which it uses without
 * another copy, and the block outlives session creation until the session is released.
 */
function heapBuffer(runtime: Runtime, byteLength: number): ModelBuffer {
  const { module } = runtime;
  const pointer = module._malloc(byteLength);
  if (pointer === 0) throw new Error(`cannot allocate ${byteLength} bytes in the WASM heap`);
  pinned.add(pointer);
  let owned = true;
  // NOTE: HEAPU8 is read at each use: growing the heap replaces the buffer under it.
  const bytes = () => module.HEAPU8.subarray(pointer, pointer + byteLength);
  const free = () => {
    if (owned) runtime.freePinned(pointer);
    owned = false;
  };
  return {
    byteLength,
    write: (chunk, offset) => module.HEAPU8.set(chunk, pointer + offset),
    bytes,
    async open(options) {
      try {
        return wrap(await ort.InferenceSession.create(bytes(), sessionOptions({ ...options, format: 'ort' })), free);
      } catch (error) {
        free();
        throw error;
      }
    },
    discard: free,
  };
}

/**
 * NOTE: a WASM run is synchronous and ORT resolves it through microtasks only, so a queue of steps would hold the
 * event loop until every queued request finished: sockets would not be read or accepted meanwhile (Node then times
 * out unread requests). One macrotask turn before each step lets I/O in.
 */
const yieldToEventLoop = (): Promise<void> =>
  new Promise((resolve) => (typeof setImmediate === 'function' ? setImmediate(resolve) : setTimeout(resolve, 0)));

function wrap(session: ort.InferenceSession, onRelease: () => void): ModelSession {
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
    async release() {
      await queue;
      await session.release();
      onRelease();
    },
  };
}

/** A SessionFactory over ORT-web; `loadWasm` supplies the compiled ORT module (imported in workerd, compiled in Node). */
export function ortWebSessions(loadWasm: () => Promise<WebAssembly.Module>): SessionFactory {
  let wasm: Promise<WebAssembly.Module> | undefined;
  let heap: EmscriptenModule | undefined;
  const ready = async (): Promise<Runtime> => {
    wasm ??= loadWasm();
    const runtime = await initRuntime(await wasm);
    heap = runtime.module;
    return runtime;
  };
  const factory: SessionFactory = async (model, options) => {
    const runtime = await ready();
    if (options?.format !== 'ort') {
      return wrap(await ort.InferenceSession.create(model, sessionOptions(options)), () => undefined);
    }
    const buffer = heapBuffer(runtime, model.byteLength);
    buffer.write(model, 0);
    return buffer.open(options);
  };
  factory.allocate = async (byteLength) => heapBuffer(await ready(), byteLength);
  // NOTE: a failure here is not lost: the request that needs the runtime retries it and reports it.
  factory.warm = () => void ready().catch(() => undefined);
  factory.memoryBytes = () => heap?.HEAPU8.buffer.byteLength;
  factory.runtime = `onnxruntime ${ort.env.versions.web ?? ort.env.versions.common}`;
  factory.info = { runtime: 'wasm', ep: 'wasm', threads: 1 };
  return factory;
}
