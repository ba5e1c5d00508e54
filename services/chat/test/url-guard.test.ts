import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  assertPublicUrl,
  createGuardedFetch,
  isPublicAddress,
  parseServerUrl,
} from '../src/domain/outbound/url-guard.ts';
import { ApiError } from '../src/errors.ts';
import { startPlainServer } from './support/mcp-server.ts';

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return 'resolved';
  } catch (error) {
    return error instanceof ApiError ? error.code : `not an ApiError: ${String(error)}`;
  }
}

/** The ApiError somewhere in a fetch failure's cause chain (undici wraps socket errors in "fetch failed"). */
async function apiErrorOf(promise: Promise<unknown>): Promise<ApiError | undefined> {
  try {
    await promise;
  } catch (error) {
    let current: unknown = error;
    while (current) {
      if (current instanceof ApiError) return current;
      current = (current as { cause?: unknown }).cause;
    }
  }
  return undefined;
}

describe('isPublicAddress', () => {
  const cases: [string, boolean][] = [
    ['8.8.8.8', true],
    ['1.1.1.1', true],
    ['93.184.215.14', true],
    ['2606:4700::1111', true],
    ['2001:4860:4860::8888', true],
    ['10.1.2.3', false],
    ['172.16.0.1', false],
    ['172.31.255.255', false],
    ['192.168.1.1', false],
    ['127.0.0.1', false],
    ['127.8.9.10', false],
    ['0.0.0.0', false],
    ['0.1.2.3', false],
    ['169.254.169.254', false],
    ['100.64.0.1', false],
    ['100.127.255.254', false],
    ['255.255.255.255', false],
    ['224.0.0.1', false],
    ['192.0.2.1', false],
    ['::1', false],
    ['::', false],
    ['fe80::1', false],
    ['fc00::1', false],
    ['fd12:3456::1', false],
    ['ff02::1', false],
    ['2001:db8::1', false],
    ['::ffff:127.0.0.1', false],
    ['::ffff:10.0.0.5', false],
    ['::ffff:169.254.169.254', false],
    ['::ffff:8.8.8.8', true],
    ['64:ff9b::a00:1', false],
    ['not-an-ip', false],
    ['', false],
    ['127.1', false],
  ];
  for (const [address, expected] of cases) {
    it(`says ${address || '(empty)'} is ${expected ? 'public' : 'not public'}`, () => {
      expect(isPublicAddress(address)).toBe(expected);
    });
  }
});

describe('parseServerUrl', () => {
  it('accepts http and https URLs', () => {
    expect(parseServerUrl('https://mcp.example.com/mcp').href).toBe('https://mcp.example.com/mcp');
    expect(parseServerUrl('  http://127.0.0.1:8080/mcp ').href).toBe('http://127.0.0.1:8080/mcp');
  });

  for (const [label, raw, fragment] of [
    ['an ftp URL', 'ftp://example.com/mcp', 'http:// or https://'],
    ['a file URL', 'file:///etc/passwd', 'http:// or https://'],
    ['garbage', 'not a url', 'is not a URL'],
    ['a relative path', '/mcp', 'is not a URL'],
    ['credentials in the URL', 'https://user:secret@example.com/mcp', 'must not carry credentials'],
    ['a URL longer than 2048 characters', `https://example.com/${'a'.repeat(2048)}`, 'at most 2048'],
  ] as const) {
    it(`refuses ${label} with invalid_url`, () => {
      expect(() => parseServerUrl(raw)).toThrowError(fragment);
      try {
        parseServerUrl(raw);
      } catch (error) {
        expect((error as ApiError).code).toBe('invalid_url');
      }
    });
  }
});

describe('assertPublicUrl', () => {
  it('refuses IP literals in private ranges, naming the address', async () => {
    for (const [url, address] of [
      ['http://10.0.0.5/mcp', '10.0.0.5'],
      ['http://[::1]:8080/mcp', '::1'],
      ['http://169.254.169.254/latest/meta-data', '169.254.169.254'],
      ['http://[::ffff:127.0.0.1]/', '::ffff:7f00:1'],
      ['http://2130706433/', '127.0.0.1'],
    ] as const) {
      const error = await apiErrorOf(assertPublicUrl(new URL(url), false));
      expect(error?.code, url).toBe('private_url_not_allowed');
      expect(error?.message).toContain(address);
      expect(error?.message).toContain('MCPSTACK_ALLOW_PRIVATE_URLS=true only in development');
    }
  });

  it('refuses a name that resolves to a loopback address, without saying what it resolved to', async () => {
    const error = await apiErrorOf(assertPublicUrl(new URL('http://localhost:8080/mcp'), false));
    expect(error?.code).toBe('private_url_not_allowed');
    expect(error?.message).toContain('localhost does not resolve to a public address');
    expect(error?.message).not.toMatch(/127\.0\.0\.1|::1|loopback/);
    expect(error?.details).toBeUndefined();
    expect(error?.internal).toMatchObject({ host: 'localhost', range: 'a loopback address' });
  });

  it('refuses a host that does not resolve with invalid_url', async () => {
    expect(await codeOf(assertPublicUrl(new URL('https://nothing-here.invalid/mcp'), false))).toBe(
      'invalid_url',
    );
  });

  it('allows anything when private URLs are allowed', async () => {
    expect(await codeOf(assertPublicUrl(new URL('http://127.0.0.1:1/mcp'), true))).toBe('resolved');
  });

  it('allows a public IP literal without asking DNS', async () => {
    expect(await codeOf(assertPublicUrl(new URL('https://8.8.8.8/mcp'), false))).toBe('resolved');
  });
});

/**
 * What can be proven on a machine without network: no public host exists here, so "public" is
 * played by 127.0.0.1 through the `isAllowedAddress` policy, and "internal" by 127.0.0.2 (also
 * loopback, also listening). The tests prove the mechanisms: literal hosts checked before any
 * connection, names checked on the socket's own DNS answer, each redirect hop re-checked,
 * credentials dropped across origins. That a real public resolver cannot rebind past the socket
 * check follows from the second; it is not reproduced here.
 */
describe('createGuardedFetch', () => {
  const onlyLoopbackOne = (address: string) => address === '127.0.0.1';
  let internal: Awaited<ReturnType<typeof startPlainServer>>;
  let other: Awaited<ReturnType<typeof startPlainServer>>;
  let front: Awaited<ReturnType<typeof startPlainServer>>;

  beforeAll(async () => {
    internal = await startPlainServer((_request, response) => response.end('internal secret'), '127.0.0.2');
    other = await startPlainServer((request, response) => {
      response.setHeader('content-type', 'application/json');
      response.end(
        JSON.stringify({
          authorization: request.headers.authorization ?? null,
          apiKey: request.headers['x-api-key'] ?? null,
        }),
      );
    });
    front = await startPlainServer((request, response) => {
      const path = request.url ?? '/';
      if (path === '/ok') return void response.end('front ok');
      if (path === '/to-internal')
        return void response.writeHead(302, { location: `${internal.url}/` }).end();
      if (path === '/to-other') return void response.writeHead(307, { location: `${other.url}/` }).end();
      if (path === '/same-origin') return void response.writeHead(301, { location: '/ok' }).end();
      if (path === '/to-file') return void response.writeHead(302, { location: 'file:///etc/passwd' }).end();
      if (path.startsWith('/loop'))
        return void response.writeHead(302, { location: `/loop${path.length}` }).end();
      response.writeHead(404).end();
    });
  });

  afterAll(async () => {
    await Promise.all([internal.stop(), other.stop(), front.stop()]);
  });

  it('refuses a private IP literal before connecting, with allowPrivate false', async () => {
    const guarded = createGuardedFetch(false);
    const before = internal.requests.length;
    const error = await apiErrorOf(guarded(`${internal.url}/`));
    expect(error?.code).toBe('private_url_not_allowed');
    expect(error?.message).toContain('127.0.0.2 is a loopback address');
    expect(internal.requests.length).toBe(before);
  });

  it('reaches the same server with allowPrivate true (so the refusal above is the guard, not the network)', async () => {
    const response = await createGuardedFetch(true)(`${internal.url}/`);
    expect(await response.text()).toBe('internal secret');
  });

  it('checks a host name on the socket’s own DNS answer', async () => {
    const port = new URL(front.url).port;
    const refusing = createGuardedFetch(false, { isAllowedAddress: () => false });
    const error = await apiErrorOf(refusing(`http://localhost:${port}/ok`));
    expect(error?.code).toBe('private_url_not_allowed');
    expect(error?.message).toMatch(/localhost does not resolve to a public address/);

    const allowing = createGuardedFetch(false, {
      isAllowedAddress: (address) => address === '127.0.0.1' || address === '::1',
    });
    expect(await (await allowing(`http://localhost:${port}/ok`)).text()).toBe('front ok');
  });

  it('refuses a redirect from an allowed server to an internal address, which sees no request', async () => {
    const guarded = createGuardedFetch(false, { isAllowedAddress: onlyLoopbackOne });
    expect(await (await guarded(`${front.url}/ok`)).text()).toBe('front ok');
    const before = internal.requests.length;
    const error = await apiErrorOf(guarded(`${front.url}/to-internal`));
    expect(error?.code).toBe('private_url_not_allowed');
    expect(error?.message).toContain('127.0.0.2');
    expect(internal.requests.length).toBe(before);
  });

  it('follows a same-origin redirect', async () => {
    const guarded = createGuardedFetch(false, { isAllowedAddress: onlyLoopbackOne });
    const response = await guarded(`${front.url}/same-origin`);
    expect(response.status).toBe(200);
    expect(await response.text()).toBe('front ok');
  });

  it('drops credentials on a redirect to another origin', async () => {
    const guarded = createGuardedFetch(false, { isAllowedAddress: onlyLoopbackOne });
    const response = await guarded(`${front.url}/to-other`, {
      method: 'POST',
      body: '{}',
      headers: {
        authorization: 'Bearer upstream-secret',
        'x-api-key': 'key-secret',
        'content-type': 'application/json',
      },
    });
    expect(await response.json()).toEqual({ authorization: null, apiKey: null });
  });

  it('keeps credentials when the caller talks to the origin directly', async () => {
    const guarded = createGuardedFetch(false, { isAllowedAddress: onlyLoopbackOne });
    const response = await guarded(`${other.url}/`, { headers: { authorization: 'Bearer upstream-secret' } });
    expect(await response.json()).toEqual({ authorization: 'Bearer upstream-secret', apiKey: null });
  });

  it('stops after 5 redirects', async () => {
    const guarded = createGuardedFetch(false, { isAllowedAddress: onlyLoopbackOne });
    const before = front.requests.length;
    await expect(guarded(`${front.url}/loop`)).rejects.toThrow('More than 5 redirects');
    expect(front.requests.length - before).toBe(6);
  });

  it('refuses a redirect to a non-http scheme', async () => {
    const guarded = createGuardedFetch(false, { isAllowedAddress: onlyLoopbackOne });
    expect(await codeOf(guarded(`${front.url}/to-file`))).toBe('invalid_url');
  });

  it("hands a redirect back untouched with redirect: 'manual' (the MCP SDK follows same-origin ones itself)", async () => {
    const guarded = createGuardedFetch(false, { isAllowedAddress: onlyLoopbackOne });
    const response = await guarded(`${front.url}/to-internal`, { redirect: 'manual' });
    expect(response.status).toBe(302);
    expect(response.headers.get('location')).toBe(`${internal.url}/`);
  });

  it('bounds a request that never answers by timeoutMs', async () => {
    const silent = await startPlainServer(() => undefined);
    try {
      const guarded = createGuardedFetch(true, { timeoutMs: 300 });
      const started = Date.now();
      await expect(guarded(`${silent.url}/`)).rejects.toThrow();
      expect(Date.now() - started).toBeLessThan(5000);
    } finally {
      await silent.stop();
    }
  });
});
