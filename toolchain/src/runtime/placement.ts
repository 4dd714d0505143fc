/**
 * Which execution provider ran each node. onnxruntime silently places nodes its EP cannot take on the CPU provider;
 * the only per-node record it gives a JavaScript caller is its profile (each node event names its `provider`), so a
 * session on a GPU device profiles its first run only and counts the nodes by provider from that file.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type * as ort from 'onnxruntime-node';
import { type Device, executionProvider } from './devices.ts';

export interface Placement {
  /** What the session was for (e.g. "trajectories"), when the caller named it. */
  label?: string;
  device: Device;
  /** Nodes of the optimized graph that ran, memory copies onnxruntime inserted not counted. */
  nodes: number;
  /** Of those, how many the device's EP did not take (they ran on the CPU provider). */
  cpuNodes: number;
  /** The CPU-placed nodes by op type. */
  cpuOps: Record<string, number>;
}

interface ProfileEvent {
  cat?: string;
  name?: string;
  args?: { op_name?: string; provider?: string };
}

/** Counts one profile's node events by provider (each node once, however many runs the profile holds). */
export function placementFromProfile(events: ProfileEvent[], device: Device, label?: string): Placement {
  const byNode = new Map<string, { op: string; provider: string }>();
  for (const e of events) {
    if (e.cat !== 'Node' || !e.name?.endsWith('_kernel_time') || !e.args?.provider) continue;
    const op = e.args.op_name ?? '?';
    if (op === 'MemcpyFromHost' || op === 'MemcpyToHost') continue;
    byNode.set(e.name, { op, provider: e.args.provider });
  }
  const cpu = executionProvider('cpu').profileName;
  const cpuOps: Record<string, number> = {};
  let cpuNodes = 0;
  for (const { op, provider } of byNode.values()) {
    if (provider !== cpu) continue;
    cpuNodes++;
    cpuOps[op] = (cpuOps[op] ?? 0) + 1;
  }
  return { ...(label ? { label } : {}), device, nodes: byNode.size, cpuNodes, cpuOps };
}

const log: Placement[] = [];

/** Every placement counted in this process so far (one per GPU-device session that ran). */
export function placements(): readonly Placement[] {
  return log;
}

export interface PlacementSummary {
  sessions: number;
  nodes: number | null;
  nodesNotOnDevice: number;
  cpuOps: Record<string, number>;
}

/** `{device, placement}` for `--json` and reports: the device and how many nodes its EP did not take. */
export function deviceRecord(device: Device): { device: Device; placement: PlacementSummary } {
  return { device, placement: placementSummary(device) };
}

/** The sessions counted on a device, their nodes, and the nodes the EP did not take (with their op types). */
export function placementSummary(device: Device): PlacementSummary {
  const mine = log.filter((p) => p.device === device);
  const cpuOps: Record<string, number> = {};
  for (const p of mine) for (const [op, n] of Object.entries(p.cpuOps)) cpuOps[op] = (cpuOps[op] ?? 0) + n;
  return {
    sessions: mine.length,
    // NOTE: on cpu nothing is profiled: every node runs on the CPU provider by definition.
    nodes: device === 'cpu' ? null : mine.reduce((n, p) => n + p.nodes, 0),
    nodesNotOnDevice: mine.reduce((n, p) => n + p.cpuNodes, 0),
    cpuOps,
  };
}

/** Session options that make onnxruntime profile into a fresh folder; `track` then reads it after the first run. */
export function profilingOptions(): { options: ort.InferenceSession.SessionOptions; dir: string } {
  const dir = mkdtempSync(join(tmpdir(), 'qdm-placement-'));
  // Errors only: onnxruntime's "some nodes were not assigned" warning is what this module counts and reports.
  return { options: { enableProfiling: true, profileFilePrefix: join(dir, 'profile'), logSeverityLevel: 3 }, dir };
}

/**
 * Wraps `session.run` so that the first run ends profiling and records the placement, and `release` removes the
 * profile folder. Everything else about the session is unchanged.
 */
export function trackPlacement(session: ort.InferenceSession, dir: string, device: Device, label?: string): void {
  const run = session.run.bind(session);
  const release = session.release.bind(session);
  let pending = true;
  const finish = () => {
    pending = false;
    try {
      session.endProfiling();
      const file = readdirSync(dir).find((f) => f.endsWith('.json'));
      if (file) log.push(placementFromProfile(JSON.parse(readFileSync(join(dir, file), 'utf8')), device, label));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
  session.run = (async (...args: Parameters<typeof run>) => {
    const result = await run(...args);
    if (pending) finish();
    return result;
  }) as typeof session.run;
  session.release = async () => {
    rmSync(dir, { recursive: true, force: true });
    await release();
  };
}
