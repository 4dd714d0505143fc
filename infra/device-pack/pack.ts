/**
 * `npm run device:pack`: one self-contained archive that runs the GPU bench (bench/gpu.ts) on a bare Linux x86-64
 * machine with a GPU and nothing installed (docs/gpu.md, "Running the GPU pack"). It carries the Node binary of the
 * `node` npm package (symbols stripped), onnxruntime-node's JS and its Linux x64 binding and library (whose WebGPU
 * provider drives the GPU through Dawn over Vulkan), the bench bundled with esbuild (onnxruntime-node external; the
 * device probe and build-artifact's edge-heap worker as their own bundles, with onnxruntime-web's WASM binary),
 * Debian's Vulkan loader (libvulkan1, `apt-get download`ed into a cache at pack time) and run.sh.
 *
 *   node infra/device-pack/pack.ts [--out .device]
 *
 * Prints the archive's path; it is at most MAX_BYTES (what a device call can carry beside the working tree).
 */
import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

export const MAX_BYTES = 60 * 1024 * 1024;
export const PACK_NAME = 'qdm-device-pack';
export const ARCHIVE_NAME = `${PACK_NAME}.tar.gz`;

const ROOT = resolve(import.meta.dirname, '../..');
const require = createRequire(join(ROOT, 'toolchain', 'package.json'));

class PackError extends Error {}

function run(command: string, args: string[], cwd = ROOT): string {
  return execFileSync(command, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function commit(): string {
  try {
    const head = run('git', ['rev-parse', 'HEAD']).trim();
    return run('git', ['status', '--porcelain', '--untracked-files=no']).trim() ? `${head}-dirty` : head;
  } catch {
    return 'unknown';
  }
}

/** Debian's libvulkan1 from apt's cache, unpacked into `dest`; a line saying why not when apt cannot get it. */
function vulkanLoader(cache: string, dest: string, download: boolean, log: (line: string) => void): boolean {
  mkdirSync(cache, { recursive: true });
  let deb = readdirSync(cache).find((f) => /^libvulkan1_.*_amd64\.deb$/.test(f));
  if (!deb && !download) {
    log(`device pack: no Vulkan loader packed (no libvulkan1 .deb in ${cache}, and downloads are off)`);
    return false;
  }
  if (!deb) {
    try {
      run('apt-get', ['download', 'libvulkan1:amd64'], cache);
      deb = readdirSync(cache).find((f) => /^libvulkan1_.*_amd64\.deb$/.test(f));
    } catch (error) {
      log(`device pack: no Vulkan loader packed (apt-get download libvulkan1 failed: ${firstLine(error)})`);
      return false;
    }
  }
  if (!deb) {
    log('device pack: no Vulkan loader packed (apt-get download libvulkan1 left no .deb)');
    return false;
  }
  const unpacked = join(cache, 'libvulkan1');
  rmSync(unpacked, { recursive: true, force: true });
  run('dpkg-deb', ['-x', join(cache, deb), unpacked]);
  const libDir = join(unpacked, 'usr/lib/x86_64-linux-gnu');
  mkdirSync(dest, { recursive: true });
  for (const f of readdirSync(libDir).filter((f) => f.startsWith('libvulkan.so.1'))) {
    copyFileSync(join(libDir, f), join(dest, 'libvulkan.so.1')); // the loader's soname: one real file, no links
  }
  writeFileSync(join(dest, 'SOURCE'), `${deb}\n`);
  return true;
}

function firstLine(error: unknown): string {
  const e = error as { stderr?: string; message?: string };
  return (e.stderr || e.message || String(error)).trim().split('\n')[0];
}

async function bundle(appDir: string): Promise<void> {
  const esbuild = (await import(
    require.resolve('esbuild', { paths: [join(ROOT, 'edge')] })
  )) as typeof import('esbuild');
  const banner =
    "import { createRequire as __qdmRequire } from 'node:module'; const require = __qdmRequire(import.meta.url);";
  await esbuild.build({
    entryPoints: {
      gpu: join(ROOT, 'bench/gpu.ts'),
      'probe-device': join(ROOT, 'toolchain/src/runtime/probe-device.ts'),
      'heap-probe': join(ROOT, 'probe/src/heap-probe.ts'),
    },
    outdir: appDir,
    outExtension: { '.js': '.mjs' },
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node22',
    external: ['onnxruntime-node'],
    plugins: [
      {
        // The bench takes only TINY_FLAGS from the testing entry, whose other fixtures read files beside their
        // sources at import: bundle the module that defines it.
        name: 'tiny-flags',
        setup(build) {
          build.onResolve({ filter: /^@qdm\/toolchain\/testing$/ }, () => ({
            path: join(ROOT, 'toolchain/src/quantize/test-model.ts'),
          }));
        },
      },
      {
        // build-artifact measures the edge graph's WASM heap in a worker started from `./heap-probe.ts` beside
        // its module: in the bundle, that worker is the bundled heap-probe.mjs.
        name: 'heap-probe-worker',
        setup(build) {
          build.onLoad({ filter: /[/\\]probe[/\\]src[/\\]measure-memory\.ts$/ }, (file) => {
            const source = readFileSync(file.path, 'utf8');
            const worker = "new URL('./heap-probe.ts', import.meta.url)";
            if (!source.includes(worker)) throw new PackError(`${file.path} no longer starts ${worker}`);
            return { contents: source.replace(worker, "new URL('./heap-probe.mjs', import.meta.url)"), loader: 'ts' };
          });
        },
      },
    ],
    banner: { js: banner },
    logLevel: 'error',
  });
}

/** onnxruntime-node's JS, its Linux x64 binding and library, and onnxruntime-common: what `require` needs. */
function onnxruntime(appDir: string): void {
  const ortRoot = dirname(require.resolve('onnxruntime-node/package.json'));
  // onnxruntime-common exports no package.json: its root is three folders above dist/cjs/index.js.
  const commonRoot = resolve(createRequire(join(ortRoot, 'package.json')).resolve('onnxruntime-common'), '../../..');
  const modules = join(appDir, 'node_modules');
  const js = (src: string) => statSync(src).isDirectory() || src.endsWith('.js') || src.endsWith('package.json');
  mkdirSync(join(modules, 'onnxruntime-node/bin/napi-v6/linux'), { recursive: true });
  copyFileSync(join(ortRoot, 'package.json'), join(modules, 'onnxruntime-node/package.json'));
  cpSync(join(ortRoot, 'dist'), join(modules, 'onnxruntime-node/dist'), { recursive: true, filter: js });
  const native = join(ortRoot, 'bin/napi-v6/linux/x64');
  if (!existsSync(join(native, 'onnxruntime_binding.node'))) throw new PackError(`no Linux x64 binding in ${native}`);
  cpSync(native, join(modules, 'onnxruntime-node/bin/napi-v6/linux/x64'), { recursive: true });
  // onnxruntime-web's WASM binary (its JS is in the heap-probe bundle): the edge graph's memory check loads it.
  const wasm = require.resolve('onnxruntime-web/ort-wasm-simd-threaded.wasm', { paths: [join(ROOT, 'probe')] });
  const webRoot = resolve(wasm, '../..'); // exports no package.json; the binary is in its dist/
  mkdirSync(join(modules, 'onnxruntime-web/dist'), { recursive: true });
  copyFileSync(join(webRoot, 'package.json'), join(modules, 'onnxruntime-web/package.json'));
  copyFileSync(wasm, join(modules, 'onnxruntime-web/dist/ort-wasm-simd-threaded.wasm'));
  mkdirSync(join(modules, 'onnxruntime-common'), { recursive: true });
  copyFileSync(join(commonRoot, 'package.json'), join(modules, 'onnxruntime-common/package.json'));
  cpSync(join(commonRoot, 'dist/cjs'), join(modules, 'onnxruntime-common/dist/cjs'), { recursive: true, filter: js });
}

/** The `node` npm package's binary, without its symbol tables (the dynamic ones stay: addons link against them). */
function nodeBinary(dest: string): void {
  const src = join(dirname(require.resolve('node/package.json', { paths: [ROOT] })), 'bin/node');
  if (!existsSync(src)) throw new PackError(`no Node binary at ${src}; run npm ci`);
  mkdirSync(dirname(dest), { recursive: true });
  try {
    run('strip', ['--strip-all', src, '-o', dest]);
  } catch {
    copyFileSync(src, dest);
  }
  chmodSync(dest, 0o755);
}

export interface PackOptions {
  /** Where apt-get downloads libvulkan1 (default .device/cache): a .deb already there is used as is. */
  cache?: string;
  /** Whether to run `apt-get download` when the cache has no .deb (default true; the test packs offline). */
  download?: boolean;
  log?: (line: string) => void;
}

export async function buildPack(
  outDir: string,
  options: PackOptions = {},
): Promise<{ archive: string; bytes: number; vulkan: boolean }> {
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const out = resolve(outDir);
  const stage = join(out, 'stage');
  const pack = join(stage, PACK_NAME);
  rmSync(stage, { recursive: true, force: true });
  mkdirSync(pack, { recursive: true });
  nodeBinary(join(pack, 'bin/node'));
  await bundle(join(pack, 'app'));
  onnxruntime(join(pack, 'app'));
  const cache = options.cache ?? join(ROOT, '.device/cache');
  const vulkan = vulkanLoader(cache, join(pack, 'vulkan'), options.download ?? true, log);
  copyFileSync(join(import.meta.dirname, 'run.sh'), join(pack, 'run.sh'));
  chmodSync(join(pack, 'run.sh'), 0o755);
  writeFileSync(join(pack, 'COMMIT'), `${commit()}\n`);
  const archive = join(out, ARCHIVE_NAME);
  rmSync(archive, { force: true });
  execFileSync('sh', ['-c', `tar -cf - ${PACK_NAME} | gzip -6 > "$1"`, 'sh', archive], { cwd: stage });
  rmSync(stage, { recursive: true, force: true });
  // The same run.sh beside the archive: it unpacks the archive to /tmp and runs the copy inside.
  copyFileSync(join(import.meta.dirname, 'run.sh'), join(out, 'run.sh'));
  chmodSync(join(out, 'run.sh'), 0o755);
  const bytes = statSync(archive).size;
  if (bytes > MAX_BYTES) {
    throw new PackError(`the pack is ${(bytes / 2 ** 20).toFixed(1)} MiB, over ${MAX_BYTES / 2 ** 20} MiB: ${archive}`);
  }
  return { archive, bytes, vulkan };
}

if (process.argv[1] && resolve(process.argv[1]) === import.meta.filename) {
  let out: string;
  try {
    out = parseArgs({ options: { out: { type: 'string', default: join(ROOT, '.device') } } }).values.out;
  } catch (error) {
    process.stderr.write(`device pack: ${(error as Error).message.split('\n')[0]} (usage: pack.ts [--out DIR])\n`);
    process.exit(2);
  }
  try {
    const { archive, bytes } = await buildPack(out);
    process.stderr.write(`device pack: ${(bytes / 2 ** 20).toFixed(1)} MiB\n`);
    console.log(archive);
  } catch (error) {
    if (!(error instanceof PackError)) throw error;
    process.stderr.write(`device pack: ${error.message}\n`);
    process.exit(1);
  }
}
