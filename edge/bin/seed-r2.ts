// Seeds the local R2 simulation that `wrangler dev` (npm run dev:worker) reads, from artifact folders:
//   npm run seed:r2 -- ../artifacts/mnist32 [more folders] [--persist-to DIR]
// Files are verified against the manifest, published as a new version, and latest.json moved last.
import { readFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { edgeGraphsOf, MANIFEST_FILE, newVersionId, parseManifest } from '@qdm/shared';
import { getPlatformProxy } from 'wrangler';
import type { R2BucketLike } from '../src/sources/r2.ts';
import { publishArtifact } from './publish.ts';

type Bucket = R2BucketLike & { put(key: string, value: Uint8Array): Promise<unknown> };

async function readArtifact(dir: string) {
  const manifestBytes = new Uint8Array(await readFile(join(dir, MANIFEST_FILE)));
  const manifest = parseManifest(JSON.parse(new TextDecoder().decode(manifestBytes)));
  if (manifest.name !== basename(dir)) {
    console.error(
      `seed-r2: ${dir}: manifest name "${manifest.name}" differs from the folder; publishing as the folder name`,
    );
    manifest.name = basename(dir);
  }
  const files: Record<string, Uint8Array> = {};
  for (const entry of Object.values(manifest.variants)) {
    for (const file of [entry.file, ...edgeGraphsOf(entry).map((g) => g.file)]) {
      files[file] = new Uint8Array(await readFile(join(dir, file)));
    }
  }
  if (manifest.report) {
    files[manifest.report] = new Uint8Array(await readFile(join(dir, manifest.report)).catch(() => Buffer.alloc(0)));
  }
  return { manifestBytes, manifest, files };
}

async function main() {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { 'persist-to': { type: 'string' } } });
  if (positionals.length === 0) {
    console.error('usage: npm run seed:r2 -- <artifact folder>... [--persist-to DIR]');
    process.exit(2);
  }
  const configPath = resolve(import.meta.dirname, '../wrangler.toml');
  const persistTo = values['persist-to'];
  const proxy = await getPlatformProxy<{ ARTIFACTS: Bucket; QDM_R2_PREFIX?: string }>({
    configPath,
    remoteBindings: false,
    // NOTE: `wrangler dev --persist-to DIR` keeps its state in DIR/v3; the proxy takes that inner folder.
    persist: persistTo ? { path: join(resolve(process.env.INIT_CWD || process.cwd(), persistTo), 'v3') } : true,
  });
  try {
    const prefix = proxy.env.QDM_R2_PREFIX ?? '';
    // `npm run seed:r2` runs in edge/: resolve folders from where the command was typed.
    for (const dir of positionals.map((p) => resolve(process.env.INIT_CWD || process.cwd(), p))) {
      const a = await readArtifact(dir);
      const version = newVersionId(new Date(), Math.random().toString(36).slice(2, 8));
      const put = async (key: string, bytes: Uint8Array) => {
        await proxy.env.ARTIFACTS.put(key, bytes);
      };
      const { keys } = await publishArtifact(put, prefix, a.manifestBytes, a.manifest, a.files, version);
      console.log(JSON.stringify({ artifact: a.manifest.name, version, keys }));
    }
  } finally {
    await proxy.dispose();
  }
}

main().catch((error) => {
  console.error(`seed-r2: ${(error as Error).message}`);
  process.exit(1);
});
