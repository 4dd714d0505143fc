// Bad input stays a 4xx: /sample's query and JSON body parsers fuzzed with fast-check, 10k cases each. Every answer
// comes within a deadline, is never a 5xx, and every 4xx names the field to fix.
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import type { EdgeApp } from '../../src/app.ts';
import type { SessionFactory } from '../../src/engine/session.ts';
import { folderSource } from '../../src/sources/folder.ts';
import { convArtifact } from '../fixtures/artifact.ts';
import { folderStore } from '../fixtures/folder.ts';
import { appOver } from './harness.ts';

const RUNS = 10_000;
const DEADLINE_MS = 5_000;

let app: EdgeApp;
let broken: EdgeApp;
beforeAll(async () => {
  const artifact = await convArtifact();
  const outPerIn = artifact.manifest.model.outChannels / artifact.manifest.model.inChannels;
  // An instant denoiser (zeros): valid requests sample for real through the engine, in microseconds a step.
  const instant: SessionFactory = async () => ({
    run: async (x) => new Float32Array(x.length * outPerIn),
    release: async () => undefined,
  });
  instant.info = { runtime: 'native', ep: 'cpu', threads: 1 };
  const failing: SessionFactory = async () => ({
    run: async () => {
      throw new Error('a bug');
    },
    release: async () => undefined,
  });
  const source = folderSource(await folderStore(artifact));
  app = appOver(source, { defaultVariant: 'fp32' }, { sessions: instant });
  broken = appOver(source, { defaultVariant: 'fp32' }, { sessions: failing });
});

/** Statuses seen, so each run shows it reached both the refusals and real sampling. */
const seen = new Map<number, number>();

/** The answer to one request, or a failure naming what went wrong (5xx, a 4xx without a field, no answer). */
async function check(path: string, init?: RequestInit): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, fail) => {
    timer = setTimeout(() => fail(new Error(`no answer within ${DEADLINE_MS} ms`)), DEADLINE_MS);
  });
  try {
    const res = await Promise.race([app.request(path, init), deadline]);
    const text = await Promise.race([res.text(), deadline]);
    seen.set(res.status, (seen.get(res.status) ?? 0) + 1);
    if (res.status >= 500) throw new Error(`${res.status}: ${text.slice(0, 200)}`);
    if (res.status >= 400) {
      const body = JSON.parse(text) as { field?: unknown; message?: unknown };
      if (typeof body.field !== 'string' || body.field === '') throw new Error(`${res.status} names no field: ${text}`);
      if (typeof body.message !== 'string' || body.message === '') throw new Error(`${res.status} says nothing`);
    } else if (res.status !== 200) {
      throw new Error(`unexpected ${res.status}`);
    }
  } finally {
    clearTimeout(timer);
  }
}

/** Some cases sampled (200) and most were refused (4xx): the fuzz reaches past the parser. */
function expectBoth() {
  console.log(`statuses: ${JSON.stringify(Object.fromEntries(seen))}`);
  expect(seen.get(200) ?? 0).toBeGreaterThan(20);
  expect([...seen.keys()].filter((s) => s >= 400).length).toBeGreaterThanOrEqual(2);
}

const FIELDS = ['model', 'variant', 'seed', 'n', 'steps', 'eta', 'format'];
/** Values near the valid ones and far from them. */
const plausible = fc.oneof(
  fc.constantFrom('conv', 'fp32', 'qdq', 'alt', 'int8', 'png', 'npy', 'json', 'ddim4', 'ddim25', '10,20,30', '4'),
  fc.constantFrom('0', '-1', '1e3', '0x10', ' 4', '4 ', 'NaN', 'Infinity', '-0', '1.5', '4294967296', ''),
  fc.integer({ min: -5, max: 5000 }).map(String),
  fc.double().map(String),
  fc.string({ maxLength: 12 }),
  fc.string({ unit: 'binary', maxLength: 12 }),
);
const key = fc.oneof(
  fc.constantFrom(...FIELDS),
  fc.constantFrom('__proto__', 'constructor', 'N', 'n[]', ''),
  fc.string(),
);

/** Raw query text: percent signs (valid and broken escapes), separators and arbitrary characters. */
const rawQuery = fc
  .array(
    fc.oneof(
      fc.constantFrom('%', '%2', '%zz', '%ff', '%00', '&', '=', '+', '#', '?', ';', '[', ']'),
      fc.string({ maxLength: 6 }),
      fc.string({ unit: 'binary', maxLength: 4 }),
    ),
    { maxLength: 12 },
  )
  .map((parts) => parts.join(''));

describe('fuzzing /sample', () => {
  it(`query strings (${RUNS} cases): no 5xx, no hang, every 4xx names its field`, async () => {
    seen.clear();
    const pairs = fc
      .array(fc.tuple(key, plausible), { maxLength: 8 })
      .map((entries) => entries.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&'));
    const validish = fc
      .record(Object.fromEntries(FIELDS.map((f) => [f, plausible])) as Record<string, fc.Arbitrary<string>>, {
        requiredKeys: [],
      })
      .map((fields) => new URLSearchParams(fields as Record<string, string>).toString());
    await fc.assert(
      fc.asyncProperty(fc.oneof(pairs, validish, rawQuery), async (query) => {
        let path: string;
        try {
          path =
            new URL(`/sample?${query}`, 'http://edge.test').pathname +
            new URL(`/sample?${query}`, 'http://edge.test').search;
        } catch {
          return; // not a URL a client could send
        }
        await check(path);
      }),
      { numRuns: RUNS },
    );
    expectBoth();
  }, 600_000);

  it(`JSON bodies (${RUNS} cases): no 5xx, no hang, every 4xx names its field`, async () => {
    seen.clear();
    const fields = fc.dictionary(key, fc.oneof(fc.jsonValue({ maxDepth: 2 }), plausible), { maxKeys: 8 });
    const validish = fc.record(
      Object.fromEntries(FIELDS.map((f) => [f, fc.oneof(plausible, fc.jsonValue({ maxDepth: 1 }))])) as Record<
        string,
        fc.Arbitrary<unknown>
      >,
      { requiredKeys: [] },
    );
    const body = fc.oneof(
      fields.map((o) => JSON.stringify(o)),
      validish.map((o) => JSON.stringify(o)),
      fc.json({ maxDepth: 3 }),
      fc.string({ maxLength: 40 }),
      fc.constantFrom('', '{', '[]', 'null', '{"n":1', '{"__proto__":{"n":1}}', '{"n":1,"n":2}'),
    );
    const contentType = fc.constantFrom('application/json', 'text/plain', 'application/json; charset=utf-8');
    await fc.assert(
      fc.asyncProperty(body, contentType, async (text, type) => {
        await check('/sample', { method: 'POST', body: text, headers: { 'content-type': type } });
      }),
      { numRuns: RUNS },
    );
    expectBoth();
  }, 600_000);

  it('the checker itself fails on a 5xx', async () => {
    const saved = app;
    app = broken;
    try {
      await expect(check('/sample?n=1&steps=ddim2')).rejects.toThrow(/^500: /);
    } finally {
      app = saved;
    }
    await expect(check('/sample?n=0')).resolves.toBeUndefined(); // 400 naming n
    await expect(check('/sample?=1')).resolves.toBeUndefined(); // an empty name is named too
  });
});
