import type { Context } from 'hono';
import { Hono } from 'hono';
import { streamSSE } from 'hono/streaming';
import type { EdgeConfig } from '../config.ts';
import type { Engine } from '../engine/engine.ts';
import { badField, HttpError, toHttpError } from '../errors.ts';
import type { SampleHooks } from '../middleware/production.ts';
import { parseSampleRequest } from '../sample-request.ts';
import { resultBody, resultJson, sampleHeaders, serverTiming } from '../sample-response.ts';

async function rawFields(c: Context): Promise<Record<string, unknown>> {
  if (c.req.method === 'GET') {
    const fields = c.req.queries();
    for (const [key, values] of Object.entries(fields)) {
      if (values.length > 1) throw badField(key, `${key} is given ${values.length} times`);
    }
    return c.req.query();
  }
  let body: unknown;
  try {
    body = await c.req.json();
  } catch {
    throw badField('body', 'the body must be a JSON object of /sample fields');
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw badField('body', 'the body must be a JSON object of /sample fields');
  }
  return body as Record<string, unknown>;
}

const wantsEvents = (c: Context) => (c.req.header('accept') ?? '').includes('text/event-stream');

/** `GET|POST /sample`: validate, load, then answer once (png/npy/json) or as an event stream of steps. */
export function sampleRoutes(
  engine: Engine,
  config: EdgeConfig,
  randomSeed: () => number,
  log: (message: string, error: unknown) => void,
  hooks?: SampleHooks,
): Hono {
  const app = new Hono();
  app.on(['GET', 'POST'], '/', async (c) => {
    const request = parseSampleRequest(await rawFields(c), config, randomSeed);
    const prepared = await engine.prepare(request, hooks?.charge?.(c));
    hooks?.prepared(c, prepared);
    const headers = sampleHeaders(prepared);

    if (wantsEvents(c)) {
      for (const [k, v] of Object.entries(headers)) c.header(k, v);
      let ended: () => void = () => undefined;
      hooks?.streaming(c, new Promise<void>((resolve) => (ended = resolve)));
      return streamSSE(c, async (stream) => {
        const abort = new AbortController();
        stream.onAbort(() => abort.abort());
        try {
          const result = await engine.run(
            prepared,
            (p) => stream.writeSSE({ event: 'step', data: JSON.stringify(p) }),
            abort.signal,
          );
          hooks?.finished(c, result);
          await stream.writeSSE({ event: 'result', data: JSON.stringify(resultJson(result)) });
        } catch (error) {
          if (abort.signal.aborted) return;
          if (!(error instanceof HttpError)) log('GET /sample (event stream) failed', error);
          await stream.writeSSE({ event: 'error', data: JSON.stringify(toHttpError(error).toJSON()) });
        } finally {
          ended();
        }
      });
    }

    const result = await engine.run(prepared, undefined, c.req.raw.signal);
    hooks?.finished(c, result);
    const all = { ...headers, 'Server-Timing': serverTiming(result.timings) };
    if (request.format === 'json') return c.json(resultJson(result), 200, all);
    const { body, contentType } = resultBody(result);
    return c.body(body as Uint8Array<ArrayBuffer>, 200, { ...all, 'Content-Type': contentType });
  });
  return app;
}
