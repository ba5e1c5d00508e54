import { execFileSync } from 'node:child_process';
import { request } from 'node:http';
import { apiClient } from '@mcpstack/test-support/api';
import { spawnService } from '@mcpstack/test-support/service-process';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type ServiceProcess, startServiceProcess } from './support/service-process.ts';

/**
 * A request whose body is half sent when SIGTERM comes: it must still be answered. Each step waits
 * for the state the next one needs, never for a fixed time: `Expect: 100-continue` makes the server
 * say when it has read the headers (the request is in flight, not a connection still in the accept
 * queue), and the rest of the body goes only once every process has logged that it is shutting down.
 */
async function requestAcrossSigterm(
  service: ServiceProcess,
  processes = 1,
): Promise<{ status: number; text: string }> {
  const body = JSON.stringify({ name: 'Slow Co', slug: `slow-${Date.now()}` });
  const url = new URL(`${service.url}/api/v1/organizations`);
  const outgoing = request({
    host: url.hostname,
    port: url.port,
    path: url.pathname,
    method: 'POST',
    headers: {
      authorization: `Bearer ${service.operatorToken}`,
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(body),
      expect: '100-continue',
    },
  });
  const responded = new Promise<{ status: number; text: string }>((resolve, reject) => {
    outgoing.on('response', (response) => {
      let text = '';
      response.on('data', (chunk) => {
        text += chunk;
      });
      response.on('end', () => resolve({ status: response.statusCode ?? 0, text }));
    });
    outgoing.on('error', reject);
  });
  const continued = new Promise<void>((resolve) => outgoing.once('continue', resolve));
  outgoing.flushHeaders();
  await continued;
  outgoing.write(body.slice(0, 10));
  service.child.kill('SIGTERM');
  const draining = () =>
    service.stdout.join('').split('shutting down: finishing in-flight requests').length - 1;
  await expect.poll(draining, { timeout: 30_000, interval: 50 }).toBe(processes);
  outgoing.end(body.slice(10));
  return responded;
}

describe('the service process (as `npm start` runs it)', () => {
  it('refuses to start with bad configuration and names each bad variable', async () => {
    const spawned = spawnService({
      REDIS_URL: inject('redisUrl'),
      PORT: 'eighty',
      MCPSTACK_SECRET_KEY: 'short',
    });
    const code = await spawned.exited;
    expect(code).toBe(78);
    const stderr = spawned.stderr.join('');
    expect(stderr).toContain('PORT:');
    expect(stderr).toContain('MCPSTACK_ADMIN_TOKEN: is required');
    expect(stderr).toContain('MCPSTACK_SECRET_KEY: must be at least 32 characters');
  }, 60_000);

  it('exits 78 naming MCPSTACK_MODEL_CATALOG when the catalog file is missing or invalid', async () => {
    for (const catalog of ['@/nonexistent/catalog.json', '{"models":"nope"}']) {
      const spawned = spawnService({
        REDIS_URL: inject('redisUrl'),
        MCPSTACK_ADMIN_TOKEN: 'a'.repeat(40),
        MCPSTACK_SECRET_KEY: 'b'.repeat(40),
        MCPSTACK_MODEL_CATALOG: catalog,
      });
      expect(await spawned.exited).toBe(78);
      expect(spawned.stderr.join('')).toContain('MCPSTACK_MODEL_CATALOG:');
    }
  }, 60_000);

  describe('running', () => {
    let service: ServiceProcess;
    beforeAll(async () => {
      service = await startServiceProcess(inject('redisUrl'));
    });
    afterAll(() => service.stop());

    // biome-ignore lint/suspicious/noExplicitAny: each step asserts the fields it reads
    const body = (response: { body: unknown }): any => response.body;

    it('walks from an empty Redis to an organization, a key and an agent (the README tour)', async () => {
      const api = apiClient(service.url);
      const operator = { token: service.operatorToken };
      const organization = await api('POST', '/api/v1/organizations', {
        ...operator,
        body: { name: 'Acme', slug: `acme-${Date.now()}` },
      });
      expect(organization.status).toBe(201);
      const organizationPath = `/api/v1/organizations/${body(organization).id}`;
      const key = await api('POST', `${organizationPath}/api-keys`, {
        ...operator,
        body: { name: 'admin', roleKey: 'admin' },
      });
      expect(key.status).toBe(201);
      const admin = { token: body(key).fullKey as string };
      const models = await api('GET', `${organizationPath}/agent-model-options`, admin);
      expect(models.status).toBe(200);
      const agent = await api('POST', `${organizationPath}/agents`, {
        ...admin,
        body: { name: 'Support', model: body(models).data[0].id, welcomeMessage: 'Hi!' },
      });
      expect(agent.status).toBe(201);
      const listed = await api('GET', `${organizationPath}/agents`, admin);
      expect(body(listed).data.map((entry: { id: string }) => entry.id)).toEqual([body(agent).id]);
    });

    it('writes structured JSON logs and warns when Redis persistence is off', () => {
      const lines = service.stdout
        .join('')
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line));
      expect(lines.some((line) => line.msg === 'mcpstack chat service listening')).toBe(true);
      // The shared test Redis keeps nothing on disk, so the warning must be there.
      expect(lines.some((line) => line.level === 'warn' && /AOF/.test(line.msg))).toBe(true);
    });
  });

  // The drain timeout is generous: under load, the test may take a while to see the shutdown log.
  const drain = { MCPSTACK_SHUTDOWN_TIMEOUT_MS: '60000' };

  it('finishes an in-flight request on SIGTERM before exiting', async () => {
    const service = await startServiceProcess(inject('redisUrl'), drain);
    const result = await requestAcrossSigterm(service);
    expect(result.status, result.text).toBe(201);
    expect(await service.stop()).toBe(0);
    expect(service.stdout.join('')).toContain('shutting down');
  }, 120_000);

  it('runs MCPSTACK_WORKERS workers on one port, and drains them all on SIGTERM', async () => {
    const service = await startServiceProcess(inject('redisUrl'), { ...drain, MCPSTACK_WORKERS: '2' });
    const workers = () =>
      execFileSync('pgrep', ['-P', String(service.child.pid)], { encoding: 'utf8' })
        .trim()
        .split('\n')
        .filter(Boolean);
    await expect.poll(() => workers().length, { timeout: 60_000 }).toBe(2);
    // Two processes are not yet two servers: wait until both workers say they listen (and so handle
    // SIGTERM), or the slower one may still be starting when the signal comes.
    const listening = () => service.stdout.join('').split('mcpstack chat service listening').length - 1;
    await expect.poll(listening, { timeout: 60_000, interval: 50 }).toBe(2);
    const health = await Promise.all(Array.from({ length: 20 }, () => fetch(`${service.url}/readyz`)));
    expect(health.every((response) => response.ok)).toBe(true);
    const result = await requestAcrossSigterm(service, 2);
    expect(result.status, result.text).toBe(201);
    expect(await service.stop()).toBe(0);
    expect(service.stdout.join('')).toContain('every worker stopped');
  }, 180_000);
});
