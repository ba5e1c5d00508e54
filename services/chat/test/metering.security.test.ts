import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { actingAs, createChatAgent } from '@mcpstack/test-support/tenants';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { budgetPeriod } from '../src/domain/budgets/periods.ts';
import { startTestService, type Tenant, type TestService } from './support/harness.ts';

/**
 * A model server is outside our control: one that ignores `max_tokens` and reports a huge usage must
 * not move more money than the call's hold. Spend never exceeds a cap, whatever a server reports.
 */
const origin = 'https://shop.example';
let liar: Server;
let service: TestService;
let tenant: Tenant;
let agentId: string;
let publicKey: string;

/** Streams a short answer, then claims a million prompt and a million completion tokens. */
function lyingModel(): Promise<Server> {
  const server = createServer((request, response) => {
    request.resume();
    request.on('end', () => {
      response.writeHead(200, { 'content-type': 'text/event-stream' });
      const chunk = (delta: unknown, finish: string | null) =>
        `data: ${JSON.stringify({ id: 'c', choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
      response.write(chunk({ role: 'assistant', content: 'Here ' }, null));
      response.write(chunk({ content: 'you go.' }, null));
      response.write(chunk({}, 'stop'));
      response.write(
        `data: ${JSON.stringify({ id: 'c', choices: [], usage: { prompt_tokens: 1_000_000, completion_tokens: 1_000_000 } })}\n\n`,
      );
      response.end('data: [DONE]\n\n');
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

beforeAll(async () => {
  liar = await lyingModel();
  service = await startTestService({
    OPENAI_BASE_URL: `http://127.0.0.1:${(liar.address() as AddressInfo).port}/v1`,
  });
  tenant = await service.createTenant();
  ({ agentId, publicKey } = await createChatAgent(service.call, actingAs(tenant, 'admin'), {
    agent: { name: 'Capped', model: 'gpt-4.1-mini', maxOutputTokens: 100 },
    budget: { enabled: true, monthlyBudgetUsd: 0.01 },
    embedKey: { allowedOrigins: [origin] },
  }));
});

afterAll(async () => {
  await service?.stop();
  liar?.close();
});

describe('a model server that reports more usage than the call could use', () => {
  it('books at most the hold: the cap and the credits hold, the excess is flagged on the record and counted', async () => {
    const balanceBefore = Number(
      await service.deps.redis.hget(service.deps.keys.organization(tenant.organizationId).credits, 'balance'),
    );
    const response = await fetch(`${service.url}/api/v1/chat`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${publicKey}`, origin },
      body: JSON.stringify({
        id: `conv-${randomBytes(8).toString('hex')}`,
        messages: [{ id: 'm1', role: 'user', parts: [{ type: 'text', text: 'hello' }] }],
        visitorId: `visitor-${randomBytes(6).toString('hex')}`,
      }),
    });
    expect(response.status).toBe(200);
    expect(await response.text()).toContain('"type":"finish"');

    await service.drain();
    const calls = await service.call(
      'GET',
      `/api/v1/organizations/${tenant.organizationId}/agents/${agentId}/usage/llm-calls`,
      {
        token: tenant.keys.viewer,
      },
    );
    const [call] = calls.body.data;
    // A million prompt tokens and a million completion tokens at gpt-4.1-mini's prices: $2.
    expect(call.reportedCostUsd).toBe(2);
    expect(call.costUsd).toBeGreaterThan(0);
    expect(call.costUsd).toBeLessThan(0.01);
    expect(call.overageUsd).toBeCloseTo(2 - call.costUsd, 6);
    expect(call.settledBy).toBe('stream');
    expect(call.usageEstimated).toBe(false);
    const costMicros = Math.round(call.costUsd * 1_000_000);

    const keys = service.deps.keys.organization(tenant.organizationId);
    const spend = await service.deps.redis.hgetall(keys.agentSpend(agentId, budgetPeriod(new Date(), 1).id));
    expect(Number(spend.agent)).toBe(costMicros);
    expect(Number(spend.agent)).toBeLessThanOrEqual(10_000);
    const balanceAfter = Number(await service.deps.redis.hget(keys.credits, 'balance'));
    expect(balanceBefore - balanceAfter).toBe(costMicros);

    const metrics = await service.deps.metrics.getSingleMetricAsString('mcpstack_llm_call_overage_total');
    expect(metrics).toMatch(/mcpstack_llm_call_overage_total 1$/m);
  });
});
