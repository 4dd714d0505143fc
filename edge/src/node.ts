// Node entry: `npm run serve` (HOST/PORT, default 127.0.0.1:8787; artifacts from QDM_ARTIFACTS, see node-runtime.ts).
// A bad setting or a busy port ends the process with one line naming it, not a stack trace.
import { serve } from '@hono/node-server';
import { type AppDeps, createApp } from './app.ts';
import { nodeBrowserAssets } from './browser/node-assets.ts';
import { nodeProduction, openServiceWarning } from './middleware/node-production.ts';
import { nodeDeps } from './node-runtime.ts';

function fail(message: string): never {
  console.error(`qdm edge: ${message}`);
  process.exit(1);
}

function portFrom(raw: string | undefined): number {
  if (raw === undefined || raw === '') return 8787;
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 0 || port > 65535) fail(`PORT must be an integer in 0..65535, got "${raw}"`);
  return port;
}

const hostname = process.env.HOST || '127.0.0.1';
const port = portFrom(process.env.PORT);
let deps: AppDeps;
try {
  deps = { ...(await nodeDeps(process.env)), production: nodeProduction(process.env) };
} catch (error) {
  fail((error as Error).message);
}
const server = serve(
  { fetch: createApp({ ...deps, browserAssets: nodeBrowserAssets() }).fetch, hostname, port },
  (info) => {
    const r = deps.sessions.info;
    const runtime = r ? `, runtime: ${r.runtime} ${r.ep}, ${r.threads} thread${r.threads === 1 ? '' : 's'}` : '';
    console.error(`qdm edge on http://${info.address}:${info.port} (artifacts: ${deps.source.location}${runtime})`);
    const open = openServiceWarning(hostname, info.port, deps.production ?? {});
    if (open) console.error(open);
  },
);
server.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EADDRINUSE') fail(`${hostname}:${port} is already in use (set PORT to another port)`);
  fail(`cannot listen on ${hostname}:${port}: ${error.message}`);
});
// Ctrl-C or a supervisor's SIGTERM is a stop asked for, not a failure: exit 0 (npm then prints no error block).
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(0));
