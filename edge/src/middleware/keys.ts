/**
 * API keys (`QDM_API_KEYS`, and on Node `QDM_API_KEYS_FILE`): `Authorization: Bearer <key>` on the routes that cost
 * work or reveal the catalogue. Keys are kept only as sha256 digests; a presented key is hashed and compared with
 * every digest by a constant-time loop, so neither which byte differs nor which key matched shows in the timing.
 */
import type { Context, MiddlewareHandler } from 'hono';
import { HttpError } from '../errors.ts';

const HASHED = /^sha256:([0-9a-fA-F]{64})$/;
/** What a bearer token may hold (RFC 6750 b64token), so a key never needs escaping in a header. */
const TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;

export interface ApiKeys {
  /** How many keys are configured. */
  readonly size: number;
  /** The id of the key `presented` is (the first 8 hex digits of its sha256), or undefined when it is none. */
  verify(presented: string): Promise<string | undefined>;
}

function hexBytes(hex: string): Uint8Array {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

const toHex = (bytes: Uint8Array) => Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');

async function sha256(text: string): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text)));
}

/** `sha256(key)` as the `sha256:<hex>` line a keys file holds. */
export async function hashedKey(key: string): Promise<string> {
  return `sha256:${toHex(await sha256(key))}`;
}

/**
 * Keys from `text` (entries separated by commas or newlines; a line starting with `#` is a comment): a plain key, or
 * `sha256:<64 hex digits>` of one. `where` names the setting in errors, which never quote an entry (it may be a key).
 */
export function parseApiKeys(text: string, where: string): ApiKeys | undefined {
  const plain: string[] = [];
  const digests: Uint8Array[] = [];
  const entries = text
    .split('\n')
    .filter((line) => !line.trim().startsWith('#'))
    .flatMap((line) => line.split(','));
  entries.forEach((raw, i) => {
    const entry = raw.trim();
    if (entry === '') return;
    const hashed = HASHED.exec(entry);
    if (hashed) digests.push(hexBytes(hashed[1]));
    else if (entry.toLowerCase().startsWith('sha256:')) {
      throw new Error(`${where}: entry ${i + 1} starts with sha256: but is not followed by 64 hex digits`);
    } else if (!TOKEN.test(entry)) {
      throw new Error(`${where}: entry ${i + 1} is not a usable key (letters, digits and -._~+/ only)`);
    } else plain.push(entry);
  });
  const size = plain.length + digests.length;
  if (size === 0) return undefined;
  let all: Promise<Uint8Array[]> | undefined;
  const stored = () => {
    all ??= Promise.all(plain.map(sha256)).then((hashed) => [...hashed, ...digests]);
    return all;
  };
  return {
    size,
    async verify(presented) {
      const [keys, digest] = await Promise.all([stored(), sha256(presented)]);
      let found = -1;
      for (let k = 0; k < keys.length; k++) {
        let diff = 0;
        for (let i = 0; i < 32; i++) diff |= keys[k][i] ^ digest[i];
        // Branch-free: every key is compared whatever matched before.
        const match = ((diff - 1) >>> 31) & 1; // 1 when diff === 0
        found = match * k + (1 - match) * found;
      }
      return found >= 0 ? toHex(keys[found]).slice(0, 8) : undefined;
    },
  };
}

/** Both sources of keys together: either may be absent. */
export function mergeKeys(...all: (ApiKeys | undefined)[]): ApiKeys | undefined {
  const present = all.filter((k): k is ApiKeys => k !== undefined);
  if (present.length <= 1) return present[0];
  return {
    size: present.reduce((n, k) => n + k.size, 0),
    async verify(presented) {
      const ids = await Promise.all(present.map((k) => k.verify(presented)));
      return ids.find((id) => id !== undefined);
    },
  };
}

const REALM = 'Bearer realm="qdm"';

function unauthorized(message: string, challenge: string): HttpError {
  return new HttpError(401, 'unauthorized', message, undefined, { 'WWW-Authenticate': challenge });
}

/** The client a request was authenticated as (`key:<id>`), set by `requireKey`. */
const clients = new WeakMap<Request, string>();
export const authenticatedClient = (c: Context): string | undefined => clients.get(c.req.raw);

/** 401 with `WWW-Authenticate` unless the request carries one of `keys` as a bearer token. */
export function requireKey(keys: ApiKeys): MiddlewareHandler {
  return async (c, next) => {
    const header = c.req.header('authorization');
    if (header === undefined) {
      throw unauthorized('this deployment needs an API key: send Authorization: Bearer <key>', REALM);
    }
    const match = /^Bearer[ ]+(\S+)[ ]*$/i.exec(header);
    if (!match) {
      throw unauthorized('the Authorization header must be Bearer <key>', `${REALM}, error="invalid_request"`);
    }
    const id = await keys.verify(match[1]);
    if (id === undefined) {
      throw unauthorized('the API key is not valid', `${REALM}, error="invalid_token"`);
    }
    clients.set(c.req.raw, `key:${id}`);
    await next();
  };
}
