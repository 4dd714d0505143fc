/**
 * Hostile checkpoints: pickles that would run code under Python's pickle.load. Each one must be refused by
 * name before anything runs, and the command it carries must leave no trace.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseCheckpoint } from './index.ts';
import { fixtureBytes, pickleBytes, storedZip } from './test-fixtures.ts';
import { readZipEntries, readZipEntry } from './zip.ts';

const scratch = mkdtempSync(join(tmpdir(), 'qdm-pickle-'));
const marker = join(scratch, 'pwned');
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const PROTO2 = [0x80, 2];
const STOP = '.';
const REDUCE = 'R';
const TUPLE1 = 0x85;

function binunicode(text: string): (number | string)[] {
  const n = text.length;
  return ['X', n & 0xff, (n >> 8) & 0xff, 0, 0, text];
}
function shortBinunicode(text: string): (number | string)[] {
  return [0x8c, text.length, text];
}

/** A torch-shaped zip whose data.pkl is `pickle`. */
function checkpointWith(pickle: Uint8Array): Uint8Array {
  return storedZip({ 'archive/data.pkl': pickle, 'archive/version': new TextEncoder().encode('3\n') });
}

const command = `touch ${marker}`;
const hostile: [string, string, Uint8Array][] = [
  [
    'GLOBAL os.system + REDUCE',
    'os.system',
    pickleBytes(...PROTO2, 'c', 'os\nsystem\n', ...binunicode(command), TUPLE1, REDUCE, STOP),
  ],
  [
    'GLOBAL posix.system',
    'posix.system',
    pickleBytes(...PROTO2, 'c', 'posix\nsystem\n', ...binunicode(command), TUPLE1, REDUCE, STOP),
  ],
  [
    'STACK_GLOBAL builtins.eval',
    'builtins.eval',
    pickleBytes(
      0x80,
      4,
      ...shortBinunicode('builtins'),
      ...shortBinunicode('eval'),
      0x93,
      ...binunicode(`__import__('os').system('${command}')`),
      TUPLE1,
      REDUCE,
      STOP,
    ),
  ],
  [
    'subprocess.Popen',
    'subprocess.Popen',
    pickleBytes(
      ...PROTO2,
      'c',
      'subprocess\nPopen\n',
      ']',
      ...binunicode('touch'),
      'a',
      ...binunicode(marker),
      'a',
      TUPLE1,
      REDUCE,
      STOP,
    ),
  ],
  [
    'builtins.getattr gadget',
    'builtins.getattr',
    pickleBytes(
      ...PROTO2,
      'c',
      'builtins\ngetattr\n',
      'c',
      'collections\nOrderedDict\n',
      ...binunicode('fromkeys'),
      0x86,
      REDUCE,
      STOP,
    ),
  ],
  ['INST os.system', 'os.system', pickleBytes(...PROTO2, '(', ...binunicode(command), 'i', 'os\nsystem\n', STOP)],
  [
    'hostile global nested inside a state_dict entry',
    'nt.system',
    pickleBytes(
      ...PROTO2,
      'c',
      'collections\nOrderedDict\n',
      ')',
      REDUCE,
      ...binunicode('w'),
      'c',
      'nt\nsystem\n',
      ...binunicode(command),
      TUPLE1,
      REDUCE,
      's',
      STOP,
    ),
  ],
  [
    'torch.load is not a rebuilder',
    'torch.load',
    pickleBytes(...PROTO2, 'c', 'torch\nload\n', ...binunicode(marker), TUPLE1, REDUCE, STOP),
  ],
];

describe('hostile pickles in a torch zip', () => {
  it.each(hostile)('%s is refused by name', (_, global, pickle) => {
    expect(() => parseCheckpoint(checkpointWith(pickle))).toThrow(`refusing pickle global "${global}"`);
    expect(existsSync(marker)).toBe(false);
  });

  it('refuses to call a storage type (only valid inside a persistent id)', () => {
    const pickle = pickleBytes(...PROTO2, 'c', 'torch\nFloatStorage\n', ')', REDUCE, STOP);
    expect(() => parseCheckpoint(checkpointWith(pickle))).toThrow(/refusing to call "torch.FloatStorage"/);
  });

  it('refuses a tensor whose view runs past its storage', () => {
    // rebuild a legitimate fixture's first tensor with a huge size by editing the pickle's BININT1 size
    const original = fixtureBytes('float32.pt');
    const files: Record<string, Uint8Array> = {};
    for (const [name, entry] of readZipEntries(original)) files[name] = readZipEntry(original, entry).slice();
    const pickle = files['float32/data.pkl'];
    // conv.weight has size (4, 3, 3, 3): K 4 K 3 K 3 K 3; make the first dimension 40
    const at = pickle.findIndex(
      (_, i) => pickle[i] === 0x4b && pickle[i + 1] === 4 && pickle[i + 2] === 0x4b && pickle[i + 3] === 3,
    );
    expect(at).toBeGreaterThan(0);
    pickle[at + 1] = 40;
    expect(() => parseCheckpoint(storedZip(files))).toThrow(/conv\.weight.*storage holds 108/);
  });
});
