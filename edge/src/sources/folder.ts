import { createReadStream } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { MANIFEST_FILE, ManifestError, parseManifest } from '@qdm/shared';
import { ARTIFACT_NAME, type ArtifactSnapshot, type ArtifactSource, SourceError } from './source.ts';

/** Node only: `<root>/<name>/manifest.json` beside the variant files (the flat local-store layout). */
export function folderSource(root: string): ArtifactSource {
  const dir = resolve(root);
  const location = `folder ${dir}`;

  async function readManifest(name: string): Promise<unknown | undefined> {
    let text: string;
    try {
      text = await readFile(join(dir, name, MANIFEST_FILE), 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new SourceError(`${location}: cannot read ${name}/${MANIFEST_FILE} (${(error as Error).message})`);
    }
    try {
      return JSON.parse(text);
    } catch {
      throw new SourceError(`${location}: ${name}/${MANIFEST_FILE} is not valid JSON`);
    }
  }

  const hasManifest = (name: string) =>
    stat(join(dir, name, MANIFEST_FILE)).then(
      (s) => s.isFile(),
      () => false,
    );

  return {
    location,
    async names() {
      let entries: import('node:fs').Dirent[];
      try {
        entries = await readdir(dir, { withFileTypes: true });
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
        throw new SourceError(`${location}: cannot list (${(error as Error).message})`);
      }
      const names: string[] = [];
      for (const entry of entries) {
        if (entry.isDirectory() && ARTIFACT_NAME.test(entry.name) && (await hasManifest(entry.name))) {
          names.push(entry.name);
        }
      }
      return names.sort();
    },
    async open(name): Promise<ArtifactSnapshot | undefined> {
      if (!ARTIFACT_NAME.test(name)) return undefined;
      const json = await readManifest(name);
      if (json === undefined) return undefined;
      try {
        return { name, manifest: parseManifest(json) };
      } catch (error) {
        if (error instanceof ManifestError) throw new SourceError(`${location}: ${name}: ${error.message}`);
        throw error;
      }
    },
    async *readChunks(snapshot, file) {
      try {
        yield* createReadStream(join(dir, snapshot.name, file));
      } catch (error) {
        throw new SourceError(`${location}: cannot read ${snapshot.name}/${file} (${(error as Error).message})`);
      }
    },
    async readFile(snapshot, file) {
      try {
        return new Uint8Array(await readFile(join(dir, snapshot.name, file)));
      } catch (error) {
        throw new SourceError(`${location}: cannot read ${snapshot.name}/${file} (${(error as Error).message})`);
      }
    },
  };
}
