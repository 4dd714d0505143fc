/**
 * The machine a bench ran on, recorded in every bench JSON: timings from two machines are only comparable when
 * their CPU, the ISA extensions the kernels dispatch on, the cores and the load beside the run are known.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism, cpus, loadavg } from 'node:os';

export interface MachineInfo {
  cpu: string;
  /** The extensions MLAS and V8's wasm SIMD pick kernels by (x86: avx2, avx512f, avx512_vnni, amx). */
  isa: Record<string, boolean>;
  cores: number;
  /** 1, 5 and 15 minute load averages when the bench started. */
  loadavg: number[];
  onnxruntime: { node: string | null; web: string | null };
  node: string;
  /** What ran the models: "cpu" unless the bench says otherwise ("cuda: NVIDIA H200", "webgpu: swiftshader"). */
  device: string;
}

const ISA_FLAGS = { avx2: ['avx2'], avx512f: ['avx512f'], avx512_vnni: ['avx512_vnni'], amx: ['amx_int8', 'amx_tile'] };

function cpuFlags(): Set<string> {
  try {
    const line = readFileSync('/proc/cpuinfo', 'utf8')
      .split('\n')
      .find((l) => /^(flags|Features)\s*:/.test(l));
    return new Set(line?.split(':')[1].trim().split(/\s+/) ?? []);
  } catch {
    return new Set(); // not Linux: the ISA fields read false
  }
}

function packageVersion(name: string): string | null {
  try {
    const require = createRequire(import.meta.url);
    const path = require.resolve(`${name}/package.json`);
    return (JSON.parse(readFileSync(path, 'utf8')) as { version: string }).version;
  } catch {
    return null;
  }
}

export function machineInfo(device = 'cpu'): MachineInfo {
  const flags = cpuFlags();
  const isa = Object.fromEntries(
    Object.entries(ISA_FLAGS).map(([key, names]) => [key, names.some((name) => flags.has(name))]),
  );
  return {
    cpu: cpus()[0]?.model.trim() ?? 'unknown',
    isa,
    cores: availableParallelism(),
    loadavg: loadavg().map((v) => Math.round(v * 100) / 100),
    onnxruntime: { node: packageVersion('onnxruntime-node'), web: packageVersion('onnxruntime-web') },
    node: process.version,
    device,
  };
}
