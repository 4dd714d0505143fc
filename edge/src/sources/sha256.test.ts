import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { Sha256 } from './sha256.ts';

const reference = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');

describe('Sha256 (incremental)', () => {
  it('matches node:crypto on lengths around the block and padding edges', () => {
    for (const n of [0, 1, 55, 56, 63, 64, 65, 119, 120, 128, 1000]) {
      const data = new Uint8Array(randomBytes(n));
      expect(new Sha256().update(data).hex(), `length ${n}`).toBe(reference(data));
    }
  });

  it('gives the same digest however the bytes are split into chunks', () => {
    const data = new Uint8Array(randomBytes(300_001));
    const hash = new Sha256();
    for (let i = 0, size = 1; i < data.length; i += size, size = (size * 7 + 3) % 9001) {
      hash.update(data.subarray(i, i + size));
    }
    expect(hash.hex()).toBe(reference(data));
  });

  it('hashes a view on a SharedArrayBuffer (the WASM heap), which WebCrypto refuses', () => {
    const shared = new Uint8Array(new SharedArrayBuffer(4096));
    shared.set(randomBytes(4096));
    expect(new Sha256().update(shared).hex()).toBe(reference(shared.slice()));
  });
});

describe('streamHash', () => {
  it('gives the sha256 of the chunks with the runtime hash (node:crypto here)', async () => {
    const { streamHash } = await import('./stream-hash.ts');
    const data = new Uint8Array(randomBytes(100_003));
    const hash = streamHash();
    for (let i = 0; i < data.length; i += 4096) hash.update(data.subarray(i, i + 4096));
    expect(await hash.digest()).toBe(reference(data));
  });
});
