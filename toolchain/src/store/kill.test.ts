/**
 * A publisher killed with SIGKILL midway (a real child process, so no cleanup code runs) must leave readers
 * seeing the previous complete artifact, for both the S3 store and the folder store.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { text } from 'node:stream/consumers';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeArtifact, makeFakeArtifact } from '../../test/fake-artifact.ts';
import { type S3rverHandle, startS3rver } from '../../test/s3rver.ts';
import type { ArtifactStore, FileProgress } from './artifact-store.ts';
import { openStore } from './index.ts';

const childScript = resolve(fileURLToPath(import.meta.url), '../../../test/publish-child.ts');

let server: S3rverHandle;
let tmp: string;

beforeAll(async () => {
  server = await startS3rver();
  tmp = await mkdtemp(join(tmpdir(), 'qdm-kill-'));
});

afterAll(async () => {
  await server?.stop();
  await rm(tmp, { recursive: true, force: true });
});

interface KillOutcome {
  signal: NodeJS.Signals | null;
  /** The progress line that triggered the kill. */
  killedAt: FileProgress;
  lines: unknown[];
}

/** Runs the child publisher and SIGKILLs it at the first line `shouldKill` accepts. */
function publishAndKill(args: string[], shouldKill: (line: Record<string, unknown>) => boolean): Promise<KillOutcome> {
  return new Promise((resolveOutcome, reject) => {
    const child: ChildProcess = spawn(process.execPath, [childScript, ...args], {
      env: { ...process.env, ...server.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const lines: unknown[] = [];
    let killedAt: FileProgress | undefined;
    let stderr = '';
    child.stderr!.on('data', (chunk) => {
      stderr += chunk;
    });
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const parsed = JSON.parse(line) as Record<string, unknown>;
      lines.push(parsed);
      if (!killedAt && shouldKill(parsed)) {
        killedAt = (parsed.stalled ?? parsed) as FileProgress;
        child.kill('SIGKILL');
      }
    });
    child.on('error', reject);
    child.on('exit', (_code, signal) => {
      if (!killedAt) reject(new Error(`the child finished before it was killed: ${stderr}`));
      else resolveOutcome({ signal, killedAt, lines });
    });
  });
}

async function expectSeesOnly(store: ArtifactStore, name: string, artifact: FakeArtifact, version?: string) {
  const listing = await store.list();
  expect(listing.problems).toEqual([]);
  expect(listing.artifacts.map((s) => [s.name, s.manifestSha256])).toEqual([
    [name, (await import('node:crypto')).createHash('sha256').update(artifact.manifestBytes).digest('hex')],
  ]);
  if (version) expect(listing.artifacts[0].version).toBe(version);
  const dest = await mkdtemp(join(tmp, 'pull-'));
  await store.pull(name, dest);
  expect((await readdir(dest)).sort()).toEqual([...artifact.files.keys()].sort());
  for (const [file, bytes] of artifact.files) expect((await readFile(join(dest, file))).equals(bytes)).toBe(true);
  expect(await text(await store.readFile(name, 'model.fp32.onnx'))).toBe(
    artifact.files.get('model.fp32.onnx')!.toString(),
  );
}

describe('a publisher killed midway', () => {
  it('S3: SIGKILL during the first multipart file leaves ls/pull on the previous version', async () => {
    const location = `s3://${server.bucket}/killed`;
    const store = openStore(location, { env: server.env });
    const a = await makeFakeArtifact(join(tmp, 'a'), { variants: { fp32: 50_000, int8: 20_000 } });
    const first = await store.publish('model', a.dir);
    const b = await makeFakeArtifact(join(tmp, 'b'), { variants: { fp32: 8 * 1024 * 1024, int8: 2 * 1024 * 1024 } });
    const partSize = 128 * 1024;
    const outcome = await publishAndKill([location, 'model', b.dir, String(partSize)], (line) => {
      const p = line as unknown as FileProgress;
      return p.phase === 'upload' && p.bytesDone > 0;
    });
    expect(outcome.signal).toBe('SIGKILL');
    expect(outcome.killedAt.file).toBe('model.fp32.onnx');
    expect(outcome.killedAt.bytesDone).toBeLessThan(outcome.killedAt.bytesTotal);
    expect(outcome.lines.some((l) => 'done' in (l as object))).toBe(false);

    await expectSeesOnly(store, 'model', a, first.version);
    // The store is not wedged: the next publish goes through and becomes latest.
    const next = await store.publish('model', b.dir);
    await expectSeesOnly(store, 'model', b, next.version);
  });

  it('folder store: SIGKILL mid-copy leaves the previous manifest and files intact', async () => {
    const root = join(tmp, 'store');
    const store = openStore(root);
    const a = await makeFakeArtifact(join(tmp, 'la'), { variants: { fp32: 300_000, int8: 100_000 } });
    await store.publish('model', a.dir);
    // Same file names, different bytes: the copy that is killed would overwrite A's files if it were not atomic.
    // Both files are larger than the stall point, so whichever is copied first is frozen mid-copy.
    const b = await makeFakeArtifact(join(tmp, 'lb'), { variants: { fp32: 4 * 1024 * 1024, int8: 2 * 1024 * 1024 } });
    const outcome = await publishAndKill([root, 'model', b.dir, '', String(1024 * 1024)], (line) => 'stalled' in line);
    expect(outcome.signal).toBe('SIGKILL');
    expect(outcome.killedAt.phase).toBe('copy');
    expect(outcome.killedAt.bytesDone).toBeLessThan(outcome.killedAt.bytesTotal);

    const entries = await readdir(join(root, 'model'));
    expect(entries.filter((e) => e.endsWith('.partial')).length).toBeGreaterThan(0); // the kill hit mid-copy
    await expectSeesOnly(store, 'model', a);
    // The next publish clears the dead process's temps and replaces A with B.
    await store.publish('model', b.dir);
    expect((await readdir(join(root, 'model'))).filter((e) => e.endsWith('.partial'))).toEqual([]);
    await expectSeesOnly(store, 'model', b);
  });
});
