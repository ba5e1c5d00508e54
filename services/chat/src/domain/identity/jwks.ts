import { createRemoteJWKSet, customFetch, type FetchImplementation, type RemoteJWKSet } from 'jose';
import { ApiError } from '../../errors.ts';
import { assertPublicUrl, createGuardedFetch } from '../outbound/url-guard.ts';

/**
 * A JWKS URL an agent registers instead of one public key: checked like MCP server URLs when it is
 * registered, and fetched through the same SSRF guard when a token names one of its keys.
 */

const maxJwksBytes = 256 * 1024;
const jwksTimeoutMs = 5000;

/** https only (http too when private URLs are allowed, for development), checked like MCP server URLs. */
export async function checkJwksUrl(raw: string, allowPrivate: boolean): Promise<string> {
  let url: URL;
  try {
    url = new URL(raw.trim());
  } catch {
    throw new ApiError(
      'invalid_url',
      'jwksUrl: is not a URL; give one like https://example.com/.well-known/jwks.json',
    );
  }
  if (url.protocol !== 'https:' && !(allowPrivate && url.protocol === 'http:')) {
    throw new ApiError(
      'invalid_url',
      `jwksUrl: must start with https://${allowPrivate ? ' or http://' : ''}, not ${url.protocol}//`,
    );
  }
  if (url.username !== '' || url.password !== '') {
    throw new ApiError('invalid_url', 'jwksUrl: must not carry credentials (user:password@)');
  }
  try {
    await assertPublicUrl(url, allowPrivate);
  } catch (error) {
    if (error instanceof ApiError) {
      throw new ApiError(error.code, error.message.replace(/^url: /, 'jwksUrl: '), error.details);
    }
    throw error;
  }
  return url.href;
}

/**
 * The SSRF-guarded fetch (checked on the socket's own DNS answer, every time), with the JWKS body
 * bounded: jose parses whatever it is given.
 */
export function createJwksFetch(allowPrivate: boolean): FetchImplementation {
  const guarded = createGuardedFetch(allowPrivate, { timeoutMs: jwksTimeoutMs });
  return async (url, options) => {
    const response = await guarded(url, options);
    if (response.status !== 200 || response.body === null) return response;
    const chunks: Uint8Array[] = [];
    let size = 0;
    for await (const chunk of response.body) {
      size += chunk.byteLength;
      if (size > maxJwksBytes) throw new Error(`the JWKS is larger than ${maxJwksBytes} bytes`);
      chunks.push(chunk);
    }
    return new Response(Buffer.concat(chunks), { status: 200, headers: response.headers });
  };
}

/** jose's remote key set: it keeps the fetched keys and fetches again for a `kid` it does not know. */
export function createJwksKeySet(jwksUrl: string, fetch: FetchImplementation): RemoteJWKSet {
  return createRemoteJWKSet(new URL(jwksUrl), { timeoutDuration: jwksTimeoutMs, [customFetch]: fetch });
}
