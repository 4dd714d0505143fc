import { describe, expect, it } from 'vitest';
import { CheckpointError } from './errors.ts';
import { type PickleCallable, unpickle } from './pickle.ts';
import { fixtureBytes, fixtureJson, pickleBytes } from './test-fixtures.ts';

/** Test-only allow-list: what Python's pickler emits for plain sets and (protocols 0-2) bytes. */
const plainGlobals: Record<string, PickleCallable> = {
  'builtins.set': { pickleGlobal: 'builtins.set', call: (args) => new Set(args[0] as unknown[]) },
  'builtins.frozenset': { pickleGlobal: 'builtins.frozenset', call: (args) => new Set(args[0] as unknown[]) },
  '_codecs.encode': {
    pickleGlobal: '_codecs.encode',
    call: ([text]) => Uint8Array.from(text as string, (ch) => ch.charCodeAt(0)),
  },
  'builtins.bytes': { pickleGlobal: 'builtins.bytes', call: () => new Uint8Array(0) },
};
// protocols < 3 spell builtins the Python 2 way
const resolveGlobal = (module: string, name: string) =>
  plainGlobals[`${module === '__builtin__' ? 'builtins' : module}.${name}`];

/** Our values in the tagged JSON form generate.py writes (tuples, sets, bytes and big ints kept apart). */
function tagged(value: unknown): unknown {
  if (typeof value === 'bigint') {
    const small = value >= -(2n ** 53n) && value <= 2n ** 53n;
    return small ? Number(value) : { int: value.toString() };
  }
  if (value instanceof Uint8Array) return { bytes: Array.from(value) };
  if (value instanceof Set) return { set: [...value].map(tagged).sort() };
  if (value instanceof Map) return { dict: [...value].map(([k, v]) => [tagged(k), tagged(v)]) };
  if (Array.isArray(value)) return Object.isFrozen(value) ? { tuple: value.map(tagged) } : value.map(tagged);
  return value;
}

describe('unpickle on Python-written pickles', () => {
  const expected = fixtureJson<unknown>('pickles/plain.json');
  it.each([0, 1, 2, 3, 4, 5])('protocol %i gives the same value Python pickled', (protocol) => {
    const value = unpickle(fixtureBytes(`pickles/plain-p${protocol}.pkl`), { resolveGlobal });
    expect(tagged(value)).toEqual(expected);
  });

  it('keeps memoized objects shared', () => {
    const value = unpickle(fixtureBytes('pickles/plain-p2.pkl'), { resolveGlobal }) as Map<string, unknown[]>;
    const shared = value.get('shared')!;
    expect(shared[0]).toBe(shared[1]);
  });
});

describe('unpickle refuses', () => {
  const refuseAll = { resolveGlobal: () => undefined };

  it('any global not on the allow-list, naming it', () => {
    const p = pickleBytes(0x80, 2, 'c', 'os\nsystem\n', 'X', 4, 0, 0, 0, 'echo', 0x85, 'R', '.');
    expect(() => unpickle(p, refuseAll)).toThrow(/refusing pickle global "os\.system"/);
  });

  it('errors instead of crashing on truncated or unknown input', () => {
    expect(() => unpickle(pickleBytes(0x80, 2, 'X', 10, 0, 0, 0, 'ab'), refuseAll)).toThrow(/truncated/);
    expect(() => unpickle(pickleBytes(0x80, 2, 0xff), refuseAll)).toThrow(/unknown opcode 0xff/);
    expect(() => unpickle(pickleBytes(0x80, 2, 'h', 3, '.'), refuseAll)).toThrow(/memo 3/);
    expect(() => unpickle(pickleBytes(0x80, 2, 't', '.'), refuseAll)).toThrow(CheckpointError);
    expect(() => unpickle(pickleBytes(0x80, 2, '.'), refuseAll)).toThrow(/underflow/);
  });

  it('REDUCE on data that is not an allow-listed callable', () => {
    const p = pickleBytes(0x80, 2, 'X', 2, 0, 0, 0, 'hi', ')', 'R', '.');
    expect(() => unpickle(p, refuseAll)).toThrow(/REDUCE on a value that is not callable/);
  });

  it('extension-registry opcodes and persistent ids without a loader', () => {
    expect(() => unpickle(pickleBytes(0x80, 2, 0x82, 1, '.'), refuseAll)).toThrow(/EXT/);
    expect(() => unpickle(pickleBytes(0x80, 2, 'N', 'Q', '.'), refuseAll)).toThrow(/persistent id/);
  });
});
