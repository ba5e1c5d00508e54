import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { type LocalModel, startLocalModel } from '@mcpstack/local-model';
import { actingAs, createChatAgent } from '@mcpstack/test-support/tenants';
import type { Request } from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiError } from '../src/errors.ts';
import { checkMetricsAccess } from '../src/http/routes/health.ts';
import { startTestService, type TestService } from './support/harness.ts';

/**
 * The server's own edges: who reads /metrics, and how long a client may take to send a request.
 * A slow client must not hold a socket for minutes; a slow answer (a long chat stream) must not be cut.
 */
const metricsToken = `metrics-${'m'.repeat(40)}`;

describe('/metrics', () => {
  let guarded: TestService;
  let local: TestService;
  beforeAll(async () => {
    [guarded, local] = await Promise.all([
      startTestService({ MCPSTACK_METRICS_TOKEN: metricsToken }),
      startTestService(),
    ]);
  });
  afterAll(async () => {
    await Promise.all([guarded?.stop(), local?.stop()]);
  });

  it('with MCPSTACK_METRICS_TOKEN, answers only that bearer token', async () => {
    for (const token of [null, 'wrong', `${metricsToken}x`, metricsToken.slice(0, -1)]) {
      const refused = await guarded.call('GET', '/metrics', { token });
      expect(refused.status, String(token)).toBe(401);
      expect(refused.body.error.code).toBe('unauthenticated');
      expect(refused.text).not.toContain('mcpstack_http_requests_total');
    }
    // Even from this machine: the token is the rule once it is set.
    const admin = await guarded.call('GET', '/metrics', {});
    expect(admin.status).toBe(401);
    const allowed = await guarded.call('GET', '/metrics', { token: metricsToken });
    expect(allowed.status).toBe(200);
    expect(allowed.text).toContain('mcpstack_http_requests_total');
  });

  it('without a token, answers clients on this machine only, never a request a proxy forwarded', async () => {
    const direct = await local.call('GET', '/metrics', { token: null });
    expect(direct.status).toBe(200);
    const forwarded: Record<string, string>[] = [
      { 'x-forwarded-for': '203.0.113.9' },
      { forwarded: 'for=203.0.113.9' },
    ];
    for (const headers of forwarded) {
      const proxied = await local.call('GET', '/metrics', { token: null, headers });
      expect(proxied.status).toBe(403);
      expect(proxied.body.error.code).toBe('insufficient_permissions');
    }
  });

  it('without a token, refuses a client on another machine', () => {
    const request = (remoteAddress: string) =>
      ({ get: () => undefined, socket: { remoteAddress } }) as unknown as Request;
    const env = { env: { MCPSTACK_METRICS_TOKEN: undefined } } as never;
    for (const address of ['10.0.0.5', '203.0.113.9', '::ffff:192.168.1.2', '2001:db8::1']) {
      expect(() => checkMetricsAccess(env, request(address)), address).toThrow(ApiError);
    }
    for (const address of ['127.0.0.1', '::1', '::ffff:127.0.0.1']) {
      expect(() => checkMetricsAccess(env, request(address)), address).not.toThrow();
    }
  });
});

/** Opens a raw socket and collects what the server sends until it closes the connection. */
function rawClient(url: string) {
  const { hostname, port } = new URL(url);
  const socket = connect(Number(port), hostname);
  let received = '';
  let closedAt: number | null = null;
  socket.on('data', (chunk) => {
    received += chunk.toString('latin1');
  });
  socket.on('close', () => {
    closedAt = Date.now();
  });
  socket.on('error', () => undefined);
  return {
    socket,
    received: () => received,
    closedAt: () => closedAt,
  };
}

/** Writes `piece` every 200 ms (a client that trickles) until the server closes the connection. */
async function trickleUntilClosed(client: ReturnType<typeof rawClient>, piece: string): Promise<void> {
  const trickle = setInterval(() => {
    if (!client.socket.destroyed) client.socket.write(piece);
  }, 200);
  try {
    await expect.poll(() => client.closedAt(), { timeout: 15_000, interval: 100 }).not.toBeNull();
  } finally {
    clearInterval(trickle);
  }
}

describe('request timeouts', () => {
  let model: LocalModel;
  let service: TestService;
  beforeAll(async () => {
    // The answer takes several seconds to stream: the first piece after 3 s, then one every 0.1 s.
    model = await startLocalModel({ firstTokenDelayMs: 3000, chunkDelayMs: 100 });
    service = await startTestService({
      OPENAI_BASE_URL: model.url,
      MCPSTACK_HEADERS_TIMEOUT_MS: '1000',
      MCPSTACK_REQUEST_TIMEOUT_MS: '2000',
    });
  });
  afterAll(async () => {
    await service?.stop();
    await model?.close();
  });

  it('cuts a client that trickles its body, well before Node’s 300 s default', async () => {
    const client = rawClient(service.url);
    const started = Date.now();
    client.socket.write(
      'POST /api/v1/organizations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{',
    );
    await trickleUntilClosed(client, ' ');
    expect(client.received()).toMatch(/^HTTP\/1\.1 408/);
    expect((client.closedAt() as unknown as number) - started).toBeLessThan(10_000);
  });

  it('cuts a client that trickles its headers', async () => {
    const client = rawClient(service.url);
    client.socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n');
    await trickleUntilClosed(client, 'X-Slow: 1\r\n');
    expect(client.received()).toMatch(/^HTTP\/1\.1 408/);
  });

  it('never cuts a chat answer that streams longer than the request timeout', async () => {
    const tenant = await service.createTenant();
    const { publicKey } = await createChatAgent(service.call, actingAs(tenant, 'admin'), {
      agent: { name: 'Slow', model: 'gpt-4.1-mini' },
      embedKey: { allowedOrigins: ['https://shop.example'] },
    });
    const started = Date.now();
    const response = await fetch(`${service.url}/api/v1/chat`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${publicKey}`,
        origin: 'https://shop.example',
        'content-type': 'application/json',
      },
      body: JSON.stringify({
        id: `conv-${randomBytes(8).toString('hex')}`,
        messages: [
          { id: 'm1', role: 'user', parts: [{ type: 'text', text: 'Please say a few words back to me' }] },
        ],
        visitorId: `visitor-${randomBytes(6).toString('hex')}`,
      }),
    });
    expect(response.status).toBe(200);
    const text = await response.text();
    const elapsed = Date.now() - started;
    // Well past the 2 s request timeout, and the stream ended as it should, not cut.
    expect(elapsed).toBeGreaterThan(4000);
    expect(text).toContain('"type":"text-delta"');
    expect(text).toContain('"type":"finish"');
    expect(text).toContain('data: [DONE]');
    expect(text).not.toContain('"type":"error"');
  });
});
