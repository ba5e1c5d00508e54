import { type LookupAddress, lookup as lookupCallback } from 'node:dns';
import { lookup } from 'node:dns/promises';
import { isIP, type LookupFunction } from 'node:net';
import ipaddr from 'ipaddr.js';
import { Agent, type RequestInit as UndiciRequestInit, fetch as undiciFetch } from 'undici';
import { ApiError } from '../../errors.ts';

/**
 * The SSRF guard for every URL the service calls out to: MCP servers, JWKS endpoints, webhook
 * endpoints. A URL is checked twice: when it is registered (a clear 400 that never says what a host
 * name resolved to), and again by the socket itself on every connection, because DNS can answer
 * differently a second later (DNS rebinding) and a redirect can point anywhere.
 */

export const maxUrlLength = 2048;
const maxRedirects = 5;
const developmentHint = 'set MCPSTACK_ALLOW_PRIVATE_URLS=true only in development';

/** Only plain unicast addresses are public: ipaddr.js names every special-purpose range otherwise. */
export function isPublicAddress(ip: string): boolean {
  if (isIP(ip) === 0) return false;
  try {
    // process() turns an IPv4-mapped IPv6 address (::ffff:10.0.0.1) into the IPv4 one it carries.
    return ipaddr.process(ip).range() === 'unicast';
  } catch {
    return false;
  }
}

const rangeNames: Record<string, string> = {
  private: 'a private address',
  uniqueLocal: 'a private (unique-local) address',
  loopback: 'a loopback address',
  linkLocal: 'a link-local address',
  unspecified: 'an unspecified address',
  carrierGradeNat: 'a carrier-grade NAT address',
  multicast: 'a multicast address',
  broadcast: 'a broadcast address',
};

function describeAddress(ip: string): string {
  try {
    const range = ipaddr.process(ip).range();
    return rangeNames[range] ?? `a non-public address (${range})`;
  } catch {
    return 'not a valid address';
  }
}

/**
 * The refusal of a non-public address. An IP literal is named with its range (the caller typed
 * it); a host name is not: echoing what it resolved to would map internal names for anyone with a
 * developer key. What it resolved to goes to our log only (`internal`).
 */
function privateAddressError(host: string, address: string, prefix = 'url: '): ApiError {
  if (host === address) {
    return new ApiError(
      'private_url_not_allowed',
      `${prefix}${address} is ${describeAddress(address)}; ${developmentHint}`,
      { address },
    );
  }
  return new ApiError(
    'private_url_not_allowed',
    `${prefix}${host} does not resolve to a public address; ${developmentHint}`,
    undefined,
    { host, address, range: describeAddress(address) },
  );
}

/** `[::1]` → `::1`: URL keeps the brackets of an IPv6 host, DNS and ipaddr.js want it bare. */
function bareHost(url: URL): string {
  return url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
}

/** http(s) only, no credentials in the URL, at most 2048 characters. */
export function parseServerUrl(raw: string): URL {
  const value = raw.trim();
  if (value.length > maxUrlLength) {
    throw new ApiError(
      'invalid_url',
      `url: must be at most ${maxUrlLength} characters (got ${value.length})`,
    );
  }
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ApiError(
      'invalid_url',
      'url: is not a URL; give an absolute URL like https://mcp.example.com/mcp',
    );
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ApiError('invalid_url', `url: must start with http:// or https://, not ${url.protocol}//`);
  }
  if (url.username !== '' || url.password !== '') {
    throw new ApiError(
      'invalid_url',
      'url: must not carry credentials (user:password@); store them in headers, e.g. Authorization',
    );
  }
  if (url.hostname === '') throw new ApiError('invalid_url', 'url: has no host');
  return url;
}

/**
 * Refuses a URL whose host is, or resolves to, anything but a public unicast address. Every
 * address DNS returns is checked: one private answer among public ones is enough to refuse.
 */
export async function assertPublicUrl(url: URL, allowPrivate: boolean): Promise<void> {
  if (allowPrivate) return;
  const host = bareHost(url);
  if (isIP(host) !== 0) {
    if (!isPublicAddress(host)) throw privateAddressError(host, host);
    return;
  }
  let addresses: LookupAddress[];
  try {
    addresses = await lookup(host, { all: true, verbatim: true });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'lookup failed';
    throw new ApiError('invalid_url', `url: the host ${host} does not resolve (${code})`);
  }
  const refused = addresses.find((entry) => !isPublicAddress(entry.address));
  if (refused) throw privateAddressError(host, refused.address);
}

/** A URL stored to be called later (an MCP server, a webhook endpoint): parsed, checked, normalized. */
export async function checkedPublicUrl(raw: string, allowPrivate: boolean): Promise<string> {
  const url = parseServerUrl(raw);
  await assertPublicUrl(url, allowPrivate);
  return url.href;
}

export type GuardedFetch = (input: string | URL, init?: RequestInit) => Promise<Response>;

export interface GuardedFetchOptions {
  /** Bounds connecting, waiting for response headers, and each pause between body chunks. */
  timeoutMs?: number;
  /**
   * Which resolved addresses may be connected to; `isPublicAddress` unless a test stands in
   * loopback addresses for public ones (nothing else can be public on a machine without network).
   */
  isAllowedAddress?: (address: string) => boolean;
}

/**
 * A `lookup` for the socket itself: the address the connection uses is the address checked, so a
 * DNS answer that changed since registration (rebinding) cannot slip through.
 */
function guardedLookup(isAllowedAddress: (address: string) => boolean): LookupFunction {
  return (hostname, options, callback) => {
    lookupCallback(hostname, { ...options, all: true }, (error, addresses) => {
      if (error) return callback(error, '');
      const refused = addresses.find((entry) => !isAllowedAddress(entry.address));
      if (refused) return callback(privateAddressError(hostname, refused.address, ''), '');
      if (options.all) return callback(null, addresses);
      const first = addresses[0];
      if (!first)
        return callback(Object.assign(new Error(`${hostname} has no address`), { code: 'ENOTFOUND' }), '');
      callback(null, first.address, first.family);
    });
  };
}

const redirectStatuses = new Set([301, 302, 303, 307, 308]);
/** What survives a cross-origin redirect: content negotiation, never credentials or sessions. */
const crossOriginHeaders = new Set([
  'accept',
  'accept-language',
  'content-type',
  'content-language',
  'user-agent',
  'mcp-protocol-version',
]);
const bodyHeaders = [
  'content-type',
  'content-length',
  'content-encoding',
  'content-language',
  'content-location',
];

function isReplayable(body: RequestInit['body']): boolean {
  if (body === undefined || body === null) return true;
  if (body instanceof ReadableStream) return false;
  return typeof (body as { [Symbol.asyncIterator]?: unknown })[Symbol.asyncIterator] !== 'function';
}

/**
 * A fetch for outbound calls (MCP servers, JWKS, webhooks). With `allowPrivate` false it connects
 * only to allowed addresses, checked on the socket's own DNS answer (literal IP hosts skip DNS, so
 * they are checked before dispatch), and it follows redirects itself, checking each hop the same way; a hop to
 * another origin carries no credentials (Authorization, API-key headers, cookies, session id).
 * `redirect: 'manual'` and `'error'` keep their fetch meaning, so the MCP SDK's own same-origin
 * redirect policy still applies to its requests. With `allowPrivate` true the same fetch runs with
 * no address checks, with the same timeouts.
 */
export function createGuardedFetch(allowPrivate: boolean, options: GuardedFetchOptions = {}): GuardedFetch {
  const isAllowedAddress = allowPrivate ? () => true : (options.isAllowedAddress ?? isPublicAddress);
  const timeouts =
    options.timeoutMs === undefined
      ? {}
      : {
          connectTimeout: options.timeoutMs,
          headersTimeout: options.timeoutMs,
          bodyTimeout: options.timeoutMs,
        };
  const dispatcher = new Agent({
    ...timeouts,
    connect: allowPrivate ? {} : { lookup: guardedLookup(isAllowedAddress) },
  });

  function checkHop(url: URL): void {
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new ApiError('invalid_url', `Refused to fetch ${url.protocol}// URLs; only http and https`);
    }
    if (url.username !== '' || url.password !== '') {
      throw new ApiError('invalid_url', 'Refused to fetch a URL carrying credentials (user:password@)');
    }
    const host = bareHost(url);
    if (isIP(host) !== 0 && !isAllowedAddress(host)) throw privateAddressError(host, host, '');
  }

  return async (input, init = {}) => {
    const mode = init.redirect ?? 'follow';
    let url = new URL(typeof input === 'string' ? input : input.href);
    let method = (init.method ?? 'GET').toUpperCase();
    let body = init.body;
    const headers = new Headers(init.headers);
    for (let hop = 0; ; hop++) {
      checkHop(url);
      const request: UndiciRequestInit = {
        ...(init as UndiciRequestInit),
        method,
        body: body as UndiciRequestInit['body'],
        headers: Object.fromEntries(headers),
        redirect: 'manual',
        dispatcher,
      };
      const response = (await undiciFetch(url, request)) as unknown as Response;
      const location = redirectStatuses.has(response.status) ? response.headers.get('location') : null;
      if (mode === 'manual' || location === null) return response;
      if (mode === 'error') {
        await response.body?.cancel();
        throw new TypeError(
          `${url.origin} answered a redirect (HTTP ${response.status}) and redirect is 'error'`,
        );
      }
      if (hop === maxRedirects) {
        await response.body?.cancel();
        throw new TypeError(
          `More than ${maxRedirects} redirects, starting at ${new URL(typeof input === 'string' ? input : input.href).origin}`,
        );
      }
      const next = new URL(location, url);
      // The fetch standard's rules: 303 turns anything but HEAD into a GET, 301/302 turn a POST into one.
      const becomesGet =
        (response.status === 303 && method !== 'HEAD') ||
        ((response.status === 301 || response.status === 302) && method === 'POST');
      // A streamed body was consumed by the first request and cannot be sent again: hand the redirect back.
      if (!becomesGet && !isReplayable(body)) return response;
      await response.body?.cancel();
      if (becomesGet) {
        method = 'GET';
        body = undefined;
        for (const name of bodyHeaders) headers.delete(name);
      }
      if (next.origin !== url.origin) {
        for (const name of [...headers.keys()]) if (!crossOriginHeaders.has(name)) headers.delete(name);
      }
      url = next;
    }
  };
}
