import { randomBytes } from 'node:crypto';
import { type LocalModel, startLocalModel } from '@mcpstack/local-model';
import { actingAs, createChatAgent } from '@mcpstack/test-support/tenants';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestService, type Tenant, type TestService } from './support/harness.ts';

/**
 * Resumable answers: a visitor who reloads while an answer streams re-attaches to that answer, on
 * any instance, and it is never asked of the model (or billed) twice.
 */
const origin = 'https://shop.example';
let model: LocalModel;
let first: TestService;
let second: TestService;
let tenant: Tenant;
let agentId: string;
let publicKey: string;

const headers = () => ({ authorization: `Bearer ${publicKey}`, origin, 'content-type': 'application/json' });
const conversation = () => `conv-${randomBytes(8).toString('hex')}`;
const visitor = () => `visitor-${randomBytes(6).toString('hex')}`;

beforeAll(async () => {
  // An answer of 60 pieces lasts 6 s, and the grace is 5 s: a visitor who left comes back (or sends
  // the message again) while the answer still runs, however loaded the machine. At 25 ms a piece the
  // answer could end before the next request arrived, and that request then found nothing to follow.
  model = await startLocalModel({ chunkDelayMs: 100 });
  const prefix = `mcpstack-test:${randomBytes(6).toString('hex')}:`;
  const env = {
    OPENAI_BASE_URL: model.url,
    MCPSTACK_REDIS_PREFIX: prefix,
    MCPSTACK_CHAT_DETACH_GRACE_MS: '5000',
  };
  first = await startTestService(env);
  // Another replica of the same service: the same Redis and key prefix.
  second = await startTestService(env);
  tenant = await first.createTenant();
  ({ agentId, publicKey } = await createChatAgent(first.call, actingAs(tenant, 'admin'), {
    agent: { name: 'Resumable', model: 'gpt-4.1-mini', maxOutputTokens: 60 },
    embedKey: { allowedOrigins: [origin] },
  }));
});

afterAll(async () => {
  await second?.stop();
  await first?.stop();
  await model?.close();
});

/** Starts an answer and leaves (as a reload does) once its first text arrived. */
async function startThenLeave(service: TestService, chatId: string, visitorId: string, messageId: string) {
  const controller = new AbortController();
  const response = await fetch(`${service.url}/api/v1/chat`, {
    method: 'POST',
    headers: headers(),
    body: JSON.stringify({
      id: chatId,
      messages: [{ id: messageId, role: 'user', parts: [{ type: 'text', text: '[long] tell me a story' }] }],
      visitorId,
    }),
    signal: controller.signal,
  });
  expect(response.status).toBe(200);
  const reader = (response.body as ReadableStream<Uint8Array>).getReader();
  let text = '';
  while (!text.includes('"type":"text-delta"')) {
    const { value, done } = await reader.read();
    if (done) throw new Error('ended early');
    text += new TextDecoder().decode(value);
  }
  controller.abort();
  return text;
}

const events = (body: string) =>
  body
    .split('\n\n')
    .filter(Boolean)
    .map((event) => event.replace(/^data: /, ''));

async function llmCalls() {
  const calls = await first.call(
    'GET',
    `/api/v1/organizations/${tenant.organizationId}/agents/${agentId}/usage/llm-calls`,
    {
      token: tenant.keys.viewer,
    },
  );
  return calls.body.data as { conversationId: string; status: string }[];
}

describe('resumable answers', { timeout: 60_000 }, () => {
  it('re-attaches a reload to the answer in progress, from its start, on another instance, with one model call', async () => {
    const chatId = conversation();
    const visitorId = visitor();
    const before = model.requests.length;
    const seen = await startThenLeave(first, chatId, visitorId, 'msg-resume-1');
    const resumed = await fetch(`${second.url}/api/v1/chat/${chatId}/stream?visitorId=${visitorId}`, {
      headers: headers(),
    });
    expect(resumed.status).toBe(200);
    expect(resumed.headers.get('x-vercel-ai-ui-message-stream')).toBe('v1');
    const body = await resumed.text();
    const parts = events(body);
    expect(parts.at(-1)).toBe('[DONE]');
    const chunks = parts.slice(0, -1).map((part) => JSON.parse(part) as { type: string; messageId?: string });
    expect(chunks[0]?.type).toBe('start');
    // The same answer: the one whose start the first request saw.
    expect(seen).toContain(`"messageId":"${chunks[0]?.messageId}"`);
    expect(chunks.at(-1)?.type).toBe('finish');
    expect(model.requests.length - before).toBe(1);
    await expect
      .poll(async () => (await llmCalls()).filter((call) => call.conversationId === chatId).length, {
        timeout: 20_000,
      })
      .toBe(1);
    // Nothing streams any more: 204, and the history holds the one answer.
    const after = await fetch(`${first.url}/api/v1/chat/${chatId}/stream?visitorId=${visitorId}`, {
      headers: headers(),
    });
    expect(after.status).toBe(204);
    const history = await fetch(
      `${first.url}/api/v1/chat/conversations/${chatId}/messages?visitorId=${visitorId}`,
      {
        headers: headers(),
      },
    );
    const messages = ((await history.json()) as { messages: { role: string }[] }).messages;
    expect(messages.map((message) => message.role)).toEqual(['user', 'assistant']);
  });

  it('answers the same message sent again by following its answer, and refuses it once answered (409)', async () => {
    const chatId = conversation();
    const visitorId = visitor();
    const before = model.requests.length;
    await startThenLeave(first, chatId, visitorId, 'msg-retry-1');
    const sendAgain = (service: TestService) =>
      fetch(`${service.url}/api/v1/chat`, {
        method: 'POST',
        headers: headers(),
        body: JSON.stringify({
          id: chatId,
          messages: [
            { id: 'msg-retry-1', role: 'user', parts: [{ type: 'text', text: '[long] tell me a story' }] },
          ],
          visitorId,
        }),
      });
    const again = await sendAgain(second);
    expect(again.status).toBe(200);
    expect(events(await again.text()).at(-2)).toContain('"type":"finish"');
    expect(model.requests.length - before).toBe(1);
    const answered = await sendAgain(first);
    expect(answered.status).toBe(409);
    expect(((await answered.json()) as { error: { code: string } }).error.code).toBe(
      'message_already_answered',
    );
    expect(model.requests.length - before).toBe(1);
  });

  it('stops the answer on DELETE from any instance, and after the grace when nobody came back', async () => {
    // Answers of 400 pieces (40 s), longer than the 5 s grace.
    const updated = await first.call(
      'PATCH',
      `/api/v1/organizations/${tenant.organizationId}/agents/${agentId}`,
      {
        token: tenant.keys.admin,
        body: { maxOutputTokens: 400 },
      },
    );
    expect(updated.status, updated.text).toBe(200);
    const stopped = conversation();
    const visitorId = visitor();
    await startThenLeave(first, stopped, visitorId, 'msg-stop-1');
    const stop = await fetch(`${second.url}/api/v1/chat/${stopped}/stream?visitorId=${visitorId}`, {
      method: 'DELETE',
      headers: headers(),
    });
    expect(stop.status).toBe(204);
    await expect
      .poll(async () => (await llmCalls()).find((call) => call.conversationId === stopped)?.status, {
        timeout: 20_000,
      })
      .toBe('aborted');

    const left = conversation();
    await startThenLeave(first, left, visitorId, 'msg-left-1');
    await expect
      .poll(async () => (await llmCalls()).find((call) => call.conversationId === left)?.status, {
        timeout: 30_000,
      })
      .toBe('aborted');
    await first.call('PATCH', `/api/v1/organizations/${tenant.organizationId}/agents/${agentId}`, {
      token: tenant.keys.admin,
      body: { maxOutputTokens: 60 },
    });
  }, 90_000);

  it("does not let another visitor follow or stop someone's answer", async () => {
    const chatId = conversation();
    const visitorId = visitor();
    await startThenLeave(first, chatId, visitorId, 'msg-private-1');
    const stranger = visitor();
    for (const method of ['GET', 'DELETE']) {
      const response = await fetch(`${first.url}/api/v1/chat/${chatId}/stream?visitorId=${stranger}`, {
        method,
        headers: headers(),
      });
      expect(response.status, method).toBe(404);
    }
    // The owner can still follow it to its end.
    const resumed = await fetch(`${first.url}/api/v1/chat/${chatId}/stream?visitorId=${visitorId}`, {
      headers: headers(),
    });
    expect(resumed.status).toBe(200);
    expect(await resumed.text()).toContain('"type":"finish"');
  });
});
