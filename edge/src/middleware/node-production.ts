// The production settings of the Node server: productionFromEnv plus what only Node has (a keys file, the socket's
// address, the process's memory, Prometheus at /metrics).
import { readFileSync } from 'node:fs';
import { getConnInfo } from '@hono/node-server/conninfo';
import { type ProductionOptions, productionFromEnv } from './production.ts';

export function nodeProduction(env: Record<string, string | undefined>): ProductionOptions {
  let keysFile: string | undefined;
  const path = env.QDM_API_KEYS_FILE;
  if (path) {
    try {
      keysFile = readFileSync(path, 'utf8');
    } catch (error) {
      throw new Error(`QDM_API_KEYS_FILE: cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
    }
    if (keysFile.trim() === '') throw new Error(`QDM_API_KEYS_FILE: ${path} holds no keys`);
  }
  return {
    ...productionFromEnv(env, { keysFile }),
    metrics: 'prometheus',
    clientAddress: (c) => getConnInfo(c).remote.address,
    processMemory: () => {
      const { rss, heapUsed, external, arrayBuffers } = process.memoryUsage();
      return { rss, heapUsed, external, arrayBuffers };
    },
  };
}

/** Whether `host` is reachable only from this machine. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** What the server says at start when it listens beyond loopback without keys (undefined: nothing to say). */
export function openServiceWarning(host: string, port: number, options: { keys?: unknown }): string | undefined {
  if (options.keys || isLoopback(host)) return undefined;
  return (
    `qdm edge: no QDM_API_KEYS: /sample is open to anyone who can reach ${host}:${port} ` +
    '(set QDM_API_KEYS or QDM_API_KEYS_FILE)'
  );
}
