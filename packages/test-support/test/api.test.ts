import { createServer } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { apiClient, requestOk } from '../src/api.ts';
import { type Listening, listen, readJson } from '../src/http-server.ts';

/** Echoes what it received: the method, the path, the bearer token and the JSON body. */
let echo: Listening;

beforeAll(async () => {
  echo = await listen(
    createServer(async (request, response) => {
      const body = await readJson(request);
      const status = request.url === '/created' ? 201 : request.url === '/refused' ? 403 : 200;
      response.writeHead(status, { 'content-type': 'application/json' });
      response.end(
        JSON.stringify({
          method: request.method,
          path: request.url,
          authorization: request.headers.authorization ?? null,
          body,
        }),
      );
    }),
  );
});
afterAll(() => echo.close());

describe('apiClient', () => {
  it('sends JSON with the default bearer, another token, or none', async () => {
    const call = apiClient(echo.origin, 'operator');
    expect((await call('POST', '/x', { body: { a: 1 } })).body).toEqual({
      method: 'POST',
      path: '/x',
      authorization: 'Bearer operator',
      body: { a: 1 },
    });
    expect((await call('GET', '/x', { token: 'key' })).body).toMatchObject({ authorization: 'Bearer key' });
    expect((await call('GET', '/x', { token: null })).body).toMatchObject({ authorization: null });
  });
});

describe('requestOk', () => {
  it('returns the fields the schema reads when the status is the one expected', async () => {
    const created = await requestOk(
      apiClient(echo.origin),
      'POST',
      '/created',
      { body: { name: 'x' }, status: 201 },
      z.object({ method: z.string() }),
    );
    expect(created).toEqual({ method: 'POST' });
  });

  it('names the step, the status and the body when the service refuses it', async () => {
    await expect(requestOk(apiClient(echo.origin), 'POST', '/refused', { status: 201 })).rejects.toThrow(
      /^POST \/refused: 403 \(expected 201\) \{"method":"POST"/,
    );
  });

  it('refuses a body without the fields the caller reads', async () => {
    await expect(
      requestOk(apiClient(echo.origin), 'GET', '/x', { status: 200 }, z.object({ id: z.string() })),
    ).rejects.toThrow(/^GET \/x: unexpected body/);
  });
});
