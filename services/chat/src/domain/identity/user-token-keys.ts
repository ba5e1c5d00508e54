import type { CryptoKey, FetchImplementation, RemoteJWKSet } from 'jose';
import { createJwksFetch, createJwksKeySet } from './jwks.ts';
import { importPublicKey } from './public-key.ts';
import { parseStoredPublicKey } from './stored-identity.ts';

/**
 * The keys that verify user tokens, kept between requests: registered public keys once imported,
 * and JWKS key sets with what they fetched. Only derived values are kept here (the truth stays in
 * the identity hash in Redis, read on every request), and each world (a `Deps`) has its own.
 */
export interface UserTokenKeys {
  /** The public key as stored in the identity hash (JSON), imported. */
  publicKey(stored: string): Promise<CryptoKey>;
  /** The key set at `jwksUrl`, fetched through the SSRF guard (private addresses only if allowed). */
  jwks(jwksUrl: string, allowPrivate: boolean): RemoteJWKSet;
}

const maxCachedEntries = 500;

/** Returns the cached value, or creates and keeps it; past the bound the oldest entry goes. */
function remember<V>(cache: Map<string, V>, key: string, create: () => V): V {
  const cached = cache.get(key);
  if (cached !== undefined) return cached;
  const value = create();
  cache.set(key, value);
  if (cache.size > maxCachedEntries) cache.delete(cache.keys().next().value as string);
  return value;
}

export function createUserTokenKeys(): UserTokenKeys {
  const importedKeys = new Map<string, Promise<CryptoKey>>();
  const keySets = new Map<string, RemoteJWKSet>();
  const fetches = new Map<string, FetchImplementation>();
  return {
    publicKey(stored) {
      return remember(importedKeys, stored, () => {
        const imported = importPublicKey(parseStoredPublicKey(stored)).then(({ key }) => key);
        // A key that failed to import is tried again next time, not remembered as a failure.
        imported.catch(() => importedKeys.delete(stored));
        return imported;
      });
    },
    jwks(jwksUrl, allowPrivate) {
      return remember(keySets, `${allowPrivate}|${jwksUrl}`, () =>
        createJwksKeySet(
          jwksUrl,
          remember(fetches, String(allowPrivate), () => createJwksFetch(allowPrivate)),
        ),
      );
    },
  };
}
