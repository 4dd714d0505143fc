// Node entry: `npm run serve` (HOST/PORT, default 127.0.0.1:8787; artifacts from QDM_ARTIFACTS, see node-runtime.ts).
import { serve } from '@hono/node-server';
import { createApp } from './app.ts';
import { nodeDeps } from './node-runtime.ts';

const deps = nodeDeps(process.env);
const app = createApp(deps);
const hostname = process.env.HOST || '127.0.0.1';
const port = Number(process.env.PORT || 8787);
serve({ fetch: app.fetch, hostname, port }, (info) => {
  console.error(`qdm edge on http://${info.address}:${info.port} (artifacts: ${deps.source.location})`);
});
