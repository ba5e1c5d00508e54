import { ApiError } from '../errors.ts';

/**
 * The console's session cookie and the checks that make a cookie-authenticated request safe.
 *
 * - `HttpOnly` (no script reads it), `SameSite=Strict` (no cross-site request carries it),
 *   `Path=/`, a `Max-Age` no longer than the session's absolute lifetime.
 * - `Secure` everywhere except plain http on a loopback host (a developer's `npm run demo`);
 *   with `Secure`, the name takes the `__Host-` prefix, so no subdomain can plant or shadow it.
 * - A state-changing request with the cookie must also come from this very origin (`Origin`,
 *   and `Sec-Fetch-Site` when the browser sends it) and carry the session's CSRF token in
 *   `X-CSRF-Token`: SameSite alone does not cover same-site sibling origins or old browsers.
 */
export const secureCookieName = '__Host-mcpstack_console';
export const loopbackCookieName = 'mcpstack_console';
export const csrfHeader = 'x-csrf-token';

type Headers = Readonly<Record<string, string | string[] | undefined>>;

const loopbackHosts = new Set(['localhost', '127.0.0.1', '[::1]']);

/** Whether the cookie may go without `Secure`: plain http on this machine only. */
export function isLoopbackHttp(serviceOrigin: string): boolean {
  const url = new URL(serviceOrigin);
  return url.protocol === 'http:' && loopbackHosts.has(url.hostname);
}

export function readSessionCookie(headers: Headers): string | null {
  const header = headers.cookie;
  const raw = Array.isArray(header) ? header.join('; ') : header;
  if (!raw) return null;
  const found = new Map<string, string>();
  for (const part of raw.split(';')) {
    const index = part.indexOf('=');
    if (index < 0) continue;
    const name = part.slice(0, index).trim();
    if (!found.has(name)) found.set(name, part.slice(index + 1).trim());
  }
  return found.get(secureCookieName) ?? found.get(loopbackCookieName) ?? null;
}

export function sessionCookie(serviceOrigin: string, sessionId: string, maxAgeSeconds: number): string {
  const loopback = isLoopbackHttp(serviceOrigin);
  const name = loopback ? loopbackCookieName : secureCookieName;
  const flags = ['Path=/', `Max-Age=${maxAgeSeconds}`, 'HttpOnly', 'SameSite=Strict'];
  if (!loopback) flags.push('Secure');
  return `${name}=${sessionId}; ${flags.join('; ')}`;
}

/** Expires both names, whichever the browser holds. */
export function clearedSessionCookies(serviceOrigin: string): string[] {
  const loopback = isLoopbackHttp(serviceOrigin);
  return [
    `${secureCookieName}=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict; Secure`,
    ...(loopback ? [`${loopbackCookieName}=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict`] : []),
  ];
}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/**
 * Refuses a browser request that another site could have made: `Origin` must be this service's own
 * origin, and `Sec-Fetch-Site` (when sent) must say same-origin.
 */
export function requireSameOrigin(headers: Headers, serviceOrigin: string): void {
  const fetchSite = single(headers['sec-fetch-site']);
  if (fetchSite !== undefined && fetchSite !== 'same-origin') {
    throw new ApiError('cross_site_request', `A ${fetchSite} request cannot use the console session`);
  }
  const origin = single(headers.origin);
  if (origin !== serviceOrigin) {
    throw new ApiError(
      'cross_site_request',
      origin === undefined
        ? 'A console request that changes something must send its Origin header'
        : `Origin ${origin} is not this console's origin (${serviceOrigin})`,
    );
  }
}

export function readCsrfToken(headers: Headers): string | undefined {
  return single(headers[csrfHeader]);
}
