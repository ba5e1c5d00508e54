import { execFileSync } from 'node:child_process';
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  operatorToken,
  type ServiceProcess,
  spawnService,
  startServiceProcess,
} from './support/service-process.ts';

/** A request whose body is half sent when SIGTERM comes: it must still be answered. */
async function requestAcrossSigterm(service: ServiceProcess): Promise<{ status: number; text: string }> {
  const body = JSON.stringify({ name: 'Slow Co', slug: `slow-${Date.now()}` });
  const url = new URL(`${service.url}/api/v1/organizations`);
  const responded = new Promise<{ status: number; text: string }>((resolve, reject) => {
    const outgoing = request(
      {
        host: url.hostname,
        port: url.port,
        path: url.pathname,
        method: 'POST',
        headers: {
          authorization: `Bearer ${operatorToken}`,
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
        },
      },
      (response) => {
        let text = '';
        response.on('data', (chunk) => {
          text += chunk;
        });
        response.on('end', () => resolve({ status: response.statusCode ?? 0, text }));
      },
    );
    outgoing.on('error', reject);
    // Half the body now, SIGTERM, then the rest: the request is in flight during shutdown.
    outgoing.write(body.slice(0, 10));
    setTimeout(() => {
      service.child.kill('SIGTERM');
      setTimeout(() => outgoing.end(body.slice(10)), 300);
    }, 200);
  });
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
  });

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
  });

  describe('running', () => {
    let service: ServiceProcess;
    beforeAll(async () => {
      service = await startServiceProcess(inject('redisUrl'));
    });
    afterAll(() => service.stop());

    const api = async (method: string, path: string, token: string, body?: unknown) => {
      const response = await fetch(`${service.url}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${token}`,
          ...(body ? { 'content-type': 'application/json' } : {}),
        },
        body: body ? JSON.stringify(body) : undefined,
      });
      // biome-ignore lint/suspicious/noExplicitAny: each step asserts the fields it reads
      const json: any = await response.json().catch(() => undefined);
      return { status: response.status, body: json };
    };

    it('walks from an empty Redis to an organization, a key and an agent (the README tour)', async () => {
      const organization = await api('POST', '/api/v1/organizations', operatorToken, {
        name: 'Acme',
        slug: `acme-${Date.now()}`,
      });
      expect(organization.status).toBe(201);
      const key = await api('POST', `/api/v1/organizations/${organization.body.id}/api-keys`, operatorToken, {
        name: 'admin',
        roleKey: 'admin',
      });
      expect(key.status).toBe(201);
      const models = await api(
        'GET',
        `/api/v1/organizations/${organization.body.id}/agent-model-options`,
        key.body.fullKey,
      );
      expect(models.status).toBe(200);
      const agent = await api(
        'POST',
        `/api/v1/organizations/${organization.body.id}/agents`,
        key.body.fullKey,
        {
          name: 'Support',
          model: models.body.data[0].id,
          welcomeMessage: 'Hi!',
        },
      );
      expect(agent.status).toBe(201);
      const listed = await api(
        'GET',
        `/api/v1/organizations/${organization.body.id}/agents`,
        key.body.fullKey,
      );
      expect(listed.body.data.map((entry: { id: string }) => entry.id)).toEqual([agent.body.id]);
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

  it('finishes an in-flight request on SIGTERM before exiting', async () => {
    const service = await startServiceProcess(inject('redisUrl'));
    const result = await requestAcrossSigterm(service);
    expect(result.status, result.text).toBe(201);
    expect(await service.stop()).toBe(0);
    expect(service.stdout.join('')).toContain('shutting down');
  });

  it('runs MCPSTACK_WORKERS workers on one port, and drains them all on SIGTERM', async () => {
    const service = await startServiceProcess(inject('redisUrl'), { MCPSTACK_WORKERS: '2' });
    const workers = () =>
      execFileSync('pgrep', ['-P', String(service.child.pid)], { encoding: 'utf8' })
        .trim()
        .split('\n')
        .filter(Boolean);
    await expect.poll(() => workers().length, { timeout: 20_000 }).toBe(2);
    const health = await Promise.all(Array.from({ length: 20 }, () => fetch(`${service.url}/readyz`)));
    expect(health.every((response) => response.ok)).toBe(true);
    const result = await requestAcrossSigterm(service);
    expect(result.status, result.text).toBe(201);
    expect(await service.stop()).toBe(0);
    expect(service.stdout.join('')).toContain('every worker stopped');
  }, 60_000);
});
