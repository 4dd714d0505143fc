/** What a workerd process and its isolate hold, for the edge benches (Linux /proc and the inspector protocol). */
import { execFileSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { log } from './edge-lib.ts';

/** Resident memory (VmRSS) or its peak (VmHWM) of the workerd processes under the wrangler process (Linux /proc). */
export async function workerdRss(rootPid: number, field: 'VmRSS' | 'VmHWM' = 'VmRSS'): Promise<number> {
  const pids = execFileSync('ps', ['-e', '-o', 'pid=,ppid=,comm='], { encoding: 'utf8' })
    .trim()
    .split('\n')
    .map((line) => line.trim().split(/\s+/));
  const tree = new Set([String(rootPid)]);
  for (let grew = true; grew; ) {
    grew = false;
    for (const [pid, ppid] of pids) {
      if (tree.has(ppid) && !tree.has(pid)) {
        tree.add(pid);
        grew = true;
      }
    }
  }
  let rss = 0;
  for (const [pid, , comm] of pids) {
    if (!tree.has(pid) || !comm.includes('workerd')) continue;
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    rss += Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0) * 1024;
  }
  return rss;
}

/** The isolate's V8 heap and ArrayBuffer backing stores (wasm memory included), via the inspector protocol. */
export async function isolateHeap(inspectorPort: number): Promise<Record<string, number> | null> {
  try {
    const targets = (await (await fetch(`http://127.0.0.1:${inspectorPort}/json`)).json()) as {
      webSocketDebuggerUrl: string;
    }[];
    // NOTE: the inspector proxy refuses upgrades without an allowed Origin (undici takes extra headers).
    const ws = new WebSocket(targets[0].webSocketDebuggerUrl, { headers: { origin: 'http://127.0.0.1' } } as never);
    const usage = await new Promise<Record<string, number>>((done, fail) => {
      ws.onopen = () => {
        ws.send(JSON.stringify({ id: 1, method: 'HeapProfiler.collectGarbage' }));
        ws.send(JSON.stringify({ id: 2, method: 'Runtime.getHeapUsage' }));
      };
      ws.onmessage = (event) => {
        const message = JSON.parse(String(event.data));
        if (message.id === 2) done(message.result);
      };
      ws.onerror = () => fail(new Error('inspector connection failed'));
      setTimeout(() => fail(new Error('inspector timeout')), 10_000);
    });
    ws.close();
    return usage;
  } catch (error) {
    log(`edge-workerd: no isolate heap figures (${(error as Error).message})`);
    return null;
  }
}
