// The Node edge server as bench/edge-load.ts runs it: `@qdm/edge/server` (edge/src/node.ts) plus an IPC reply with the process's
// memory after a full GC (run with --expose-gc), so growth across load runs is measured on live memory, not RSS.
import '@qdm/edge/server';

process.on('message', (message) => {
  if (message !== 'memory') return;
  (globalThis as { gc?: () => void }).gc?.();
  process.send?.({ memory: process.memoryUsage() });
});
