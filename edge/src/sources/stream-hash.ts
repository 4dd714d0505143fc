import { Sha256 } from './sha256.ts';

/** SHA-256 of bytes that arrive in chunks, with the fastest implementation the runtime has. */
export interface StreamHash {
  update(chunk: Uint8Array): void;
  /** Lowercase hex. */
  digest(): Promise<string>;
}

type DigestStreamCtor = new (algorithm: string) => WritableStream<Uint8Array> & { digest: Promise<ArrayBuffer> };
type NodeCrypto = { createHash(a: string): { update(d: Uint8Array): void; digest(e: 'hex'): string } };

const hex = (buffer: ArrayBuffer) =>
  Array.from(new Uint8Array(buffer), (b) => b.toString(16).padStart(2, '0')).join('');

/**
 * workerd's `crypto.DigestStream`, else Node's `node:crypto` (reached without an import, so the Worker bundle does
 * not pull it in), else the portable JS implementation (many times slower).
 */
export function streamHash(): StreamHash {
  const DigestStream = (globalThis.crypto as unknown as { DigestStream?: DigestStreamCtor }).DigestStream;
  if (DigestStream) {
    const stream = new DigestStream('SHA-256');
    const writer = stream.getWriter();
    const writes: Promise<void>[] = [];
    return {
      update: (chunk) => {
        writes.push(writer.write(chunk));
      },
      digest: async () => {
        await Promise.all(writes);
        await writer.close();
        return hex(await stream.digest);
      },
    };
  }
  const getBuiltin = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process
    ?.getBuiltinModule;
  const nodeCrypto = getBuiltin?.('node:crypto') as NodeCrypto | undefined;
  if (nodeCrypto) {
    const hash = nodeCrypto.createHash('sha256');
    return { update: (chunk) => hash.update(chunk), digest: async () => hash.digest('hex') };
  }
  const hash = new Sha256();
  return { update: (chunk) => hash.update(chunk), digest: async () => hash.hex() };
}
