import { createOpenAI } from '@ai-sdk/openai';
import { generateText, stepCountIs, streamText, tool } from 'ai';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import {
  type ChatCompletionRequest,
  type LocalModel,
  type LocalModelOptions,
  listedModels,
  startLocalModel,
} from '../src/index.ts';

const running: LocalModel[] = [];

async function start(options: LocalModelOptions = {}): Promise<LocalModel> {
  const model = await startLocalModel(options);
  running.push(model);
  return model;
}

afterEach(async () => {
  await Promise.all(running.splice(0).map((model) => model.close()));
});

type Chunk = {
  id: string;
  object: string;
  created: number;
  model: string;
  choices: Array<{
    index: number;
    delta: {
      role?: string;
      content?: string | null;
      tool_calls?: Array<{
        index: number;
        id?: string;
        type?: string;
        function: { name?: string; arguments: string };
      }>;
    };
    finish_reason: string | null;
  }>;
  usage?: Record<string, unknown> | null;
};

function post(model: LocalModel, body: unknown, init: RequestInit = {}): Promise<Response> {
  return fetch(`${model.url}/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...init.headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
    ...(init.signal ? { signal: init.signal } : {}),
  });
}

/** The `data:` payloads of an SSE body, checking that every event is exactly `data: …\n\n`. */
function sseEvents(text: string): string[] {
  expect(text.endsWith('\n\n')).toBe(true);
  return text
    .slice(0, -2)
    .split('\n\n')
    .map((event) => {
      expect(event.startsWith('data: ')).toBe(true);
      return event.slice('data: '.length);
    });
}

async function streamChunks(model: LocalModel, body: Partial<ChatCompletionRequest>) {
  const response = await post(model, { model: 'gpt-4.1-mini', stream: true, ...body });
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
  const events = sseEvents(await response.text());
  expect(events.at(-1)).toBe('[DONE]');
  return events.slice(0, -1).map((event) => JSON.parse(event) as Chunk);
}

const getOrderTool = {
  type: 'function' as const,
  function: {
    name: 'get_order',
    description: 'Look up an order by its id.',
    parameters: {
      type: 'object',
      properties: { orderId: { type: 'string' } },
      required: ['orderId'],
    },
  },
};

describe('with the AI SDK OpenAI provider', () => {
  it('calls the matching tool, then answers from its result, and reports the usage it recorded', async () => {
    const model = await start();
    const openai = createOpenAI({ baseURL: model.url, apiKey: 'x' });
    const inputs: unknown[] = [];
    const result = streamText({
      model: openai.chat('gpt-4.1-mini'),
      tools: {
        add: tool({
          description: 'Add two numbers.',
          inputSchema: z.object({ a: z.number(), b: z.number() }),
          execute: async ({ a, b }) => ({ sum: a + b }),
        }),
        get_order: tool({
          description: 'Look up an order by its id.',
          inputSchema: z.object({ orderId: z.string() }),
          execute: async (input) => {
            inputs.push(input);
            return { orderId: input.orderId, status: 'shipped', items: ['espresso beans', 'kettle'] };
          },
        }),
      },
      prompt: 'Where is my order A-1001?',
      stopWhen: stepCountIs(3),
    });

    expect(await result.text).toBe(
      'Here is what I found with get_order: orderId: A-1001, status: shipped, items: [espresso beans; kettle]',
    );
    expect(inputs).toEqual([{ orderId: 'A-1001' }]);
    const steps = await result.steps;
    expect(steps.map((step) => step.finishReason)).toEqual(['tool-calls', 'stop']);

    expect(model.requests).toHaveLength(2);
    expect(model.requests.map((request) => request.finishReason)).toEqual(['tool_calls', 'stop']);
    const recorded = model.requests.map((request) => request.usage!);
    const sum = (pick: (usage: (typeof recorded)[number]) => number) =>
      recorded.reduce((total, usage) => total + pick(usage), 0);
    const usage = await result.totalUsage;
    expect(usage.inputTokens).toBe(sum((usage) => usage.prompt_tokens));
    expect(usage.outputTokens).toBe(sum((usage) => usage.completion_tokens));
    expect(usage.totalTokens).toBe(sum((usage) => usage.total_tokens));
    // The second request carries the tool result, so it costs more prompt tokens than the first.
    expect(recorded[1]!.prompt_tokens).toBeGreaterThan(recorded[0]!.prompt_tokens);
  });

  it('echoes a plain message with the usage the README rule predicts', async () => {
    const model = await start();
    const openai = createOpenAI({ baseURL: model.url, apiKey: 'x' });
    const result = streamText({ model: openai.chat('gpt-4.1-mini'), prompt: 'Hello there' });
    const text = await result.text;
    expect(text).toBe(
      'You said: "Hello there". I am the local model of MCP Stack Agents: I answer deterministically, so the same conversation always gets this same reply.',
    );
    const usage = await result.usage;
    // 3 for the reply + one message of 4 + ceil(11 / 4); one token per streamed word.
    expect(usage.inputTokens).toBe(3 + 4 + 3);
    expect(usage.outputTokens).toBe(text.split(' ').length);
  });

  it('stops at maxOutputTokens with finish reason length, streaming and not', async () => {
    const model = await start();
    const openai = createOpenAI({ baseURL: model.url, apiKey: 'x' });
    const streamed = streamText({ model: openai.chat('gpt-4.1-mini'), prompt: '[long]', maxOutputTokens: 7 });
    expect(await streamed.finishReason).toBe('length');
    expect((await streamed.text).trim().split(' ')).toHaveLength(7);
    expect((await streamed.usage).outputTokens).toBe(7);

    const generated = await generateText({
      model: openai.chat('gpt-4.1-mini'),
      prompt: '[long]',
      maxOutputTokens: 5,
    });
    expect(generated.finishReason).toBe('length');
    expect(generated.usage.outputTokens).toBe(5);
    expect(model.requests.map((request) => request.body.max_tokens)).toEqual([7, 5]);
  });

  it('leaves usage undefined when the server does not report it', async () => {
    const model = await start({ reportUsage: false });
    const openai = createOpenAI({ baseURL: model.url, apiKey: 'x' });
    const result = streamText({ model: openai.chat('gpt-4.1-mini'), prompt: 'Hello' });
    await result.text;
    expect((await result.usage).inputTokens).toBeUndefined();
    expect(model.requests[0]!.usage).toBeUndefined();
  });
});

describe('the streamed wire format', () => {
  it('streams OpenAI chunks word by word, then the usage chunk, then [DONE]', async () => {
    const model = await start();
    const chunks = await streamChunks(model, {
      messages: [{ role: 'user', content: 'What can you do?' }],
      stream_options: { include_usage: true },
    });
    const [first, ...rest] = chunks;
    const usageChunk = rest.pop()!;
    const finish = rest.pop()!;

    expect(first!.choices[0]!.delta).toEqual({ role: 'assistant', content: '', refusal: null });
    for (const chunk of chunks) {
      expect(chunk.id).toMatch(/^chatcmpl-\w+$/);
      expect(chunk.id).toBe(first!.id);
      expect(chunk.object).toBe('chat.completion.chunk');
      expect(chunk.model).toBe('gpt-4.1-mini');
      expect(Number.isInteger(chunk.created)).toBe(true);
    }
    for (const chunk of [first!, ...rest, finish]) {
      expect(chunk.usage).toBeNull();
      expect(chunk.choices).toHaveLength(1);
      expect(chunk.choices[0]!.index).toBe(0);
    }
    expect(rest.every((chunk) => chunk.choices[0]!.finish_reason === null)).toBe(true);
    // One word and the space after it per chunk.
    expect(rest.every((chunk) => /^\S+\s?$/.test(chunk.choices[0]!.delta.content ?? ''))).toBe(true);
    expect(finish.choices[0]).toMatchObject({ delta: {}, finish_reason: 'stop' });

    const text = rest.map((chunk) => chunk.choices[0]!.delta.content).join('');
    const record = model.requests[0]!;
    expect(record.reply).toEqual({ kind: 'text', text });
    expect(text.startsWith('You said: "What can you do?".')).toBe(true);

    expect(usageChunk.choices).toEqual([]);
    expect(usageChunk.usage).toEqual({
      prompt_tokens: 3 + 4 + 4,
      completion_tokens: rest.length,
      total_tokens: 11 + rest.length,
      prompt_tokens_details: { cached_tokens: 0 },
      completion_tokens_details: { reasoning_tokens: 0 },
    });
    expect(record.usage).toEqual(usageChunk.usage);
  });

  it('sends no usage at all without stream_options.include_usage', async () => {
    const model = await start();
    const chunks = await streamChunks(model, { messages: [{ role: 'user', content: 'Hi' }] });
    expect(chunks.every((chunk) => !('usage' in chunk) && chunk.choices.length === 1)).toBe(true);
    expect(model.requests[0]!.usage).toBeUndefined();
  });

  it('never sends usage with reportUsage: false, even when include_usage asks for it', async () => {
    const model = await start({ reportUsage: false });
    const chunks = await streamChunks(model, {
      messages: [{ role: 'user', content: 'Hi' }],
      stream_options: { include_usage: true },
    });
    expect(chunks.every((chunk) => !('usage' in chunk) && chunk.choices.length === 1)).toBe(true);
    const response = await post(model, {
      model: 'gpt-4.1-mini',
      messages: [{ role: 'user', content: 'Hi' }],
    });
    expect(await response.json()).not.toHaveProperty('usage');
    expect(model.requests.map((request) => request.usage)).toEqual([undefined, undefined]);
  });

  it('streams a tool call in pieces with finish reason tool_calls', async () => {
    const model = await start();
    const chunks = await streamChunks(model, {
      messages: [{ role: 'user', content: 'Please look up order ord_123' }],
      tools: [getOrderTool],
    });
    const [first, ...rest] = chunks;
    const finish = rest.pop()!;
    expect(first!.choices[0]!.delta).toEqual({
      role: 'assistant',
      content: null,
      refusal: null,
      tool_calls: [
        {
          index: 0,
          id: expect.stringMatching(/^call_\w+$/),
          type: 'function',
          function: { name: 'get_order', arguments: '' },
        },
      ],
    });
    expect(rest.length).toBeGreaterThan(1);
    const argumentsJson = rest
      .map((chunk) => chunk.choices[0]!.delta.tool_calls![0]!.function.arguments)
      .join('');
    expect(JSON.parse(argumentsJson)).toEqual({ orderId: 'ord_123' });
    expect(finish.choices[0]).toMatchObject({ delta: {}, finish_reason: 'tool_calls' });
  });

  it('cuts a [long] answer at max_completion_tokens with finish reason length', async () => {
    const model = await start();
    const chunks = await streamChunks(model, {
      messages: [{ role: 'user', content: 'Tell me everything [long]' }],
      max_completion_tokens: 10,
      stream_options: { include_usage: true },
    });
    const pieces = chunks.slice(1, -2);
    expect(pieces).toHaveLength(10);
    expect(chunks.at(-2)!.choices[0]!.finish_reason).toBe('length');
    expect(chunks.at(-1)!.usage).toMatchObject({ completion_tokens: 10 });
  });

  it('waits firstTokenDelayMs before the first chunk', async () => {
    const model = await start({ firstTokenDelayMs: 150 });
    const startedAt = performance.now();
    const response = await post(model, {
      model: 'gpt-4.1-mini',
      stream: true,
      messages: [{ role: 'user', content: 'Hi' }],
    });
    const reader = response.body!.getReader();
    await reader.read();
    expect(performance.now() - startedAt).toBeGreaterThanOrEqual(140);
    await reader.cancel();
  });
});

describe('answers without streaming', () => {
  it('answers a chat.completion with the tool result summarised', async () => {
    const model = await start();
    const response = await post(model, {
      model: 'gpt-4o-mini',
      messages: [
        { role: 'user', content: 'What products do you have?' },
        {
          role: 'assistant',
          content: null,
          tool_calls: [
            { id: 'call_1', type: 'function', function: { name: 'list_products', arguments: '{}' } },
          ],
        },
        {
          role: 'tool',
          tool_call_id: 'call_1',
          content: JSON.stringify({
            content: [{ type: 'text', text: '[{"sku":"sku-1","name":"Espresso beans"}]' }],
          }),
        },
      ],
    });
    expect(response.status).toBe(200);
    const body = (await response.json()) as Record<string, unknown>;
    expect(body).toMatchObject({
      object: 'chat.completion',
      model: 'gpt-4o-mini',
      choices: [
        {
          index: 0,
          message: {
            role: 'assistant',
            content: 'Here is what I found with list_products: [{"sku":"sku-1","name":"Espresso beans"}]',
          },
          finish_reason: 'stop',
        },
      ],
    });
    expect(body.usage).toEqual(model.requests[0]!.usage);
  });

  it('lists models in OpenAI’s shape', async () => {
    const model = await start();
    const response = await fetch(`${model.url}/models`);
    expect(await response.json()).toEqual({
      object: 'list',
      data: listedModels.map((id) => ({
        id,
        object: 'model',
        created: expect.any(Number),
        owned_by: 'mcpstack-local',
      })),
    });
  });
});

describe('errors in OpenAI’s shape', () => {
  it('answers 400 invalid_request_error to a body that is not JSON', async () => {
    const model = await start();
    const response = await post(model, '{"model": ');
    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({
      error: {
        message: expect.stringContaining('could not parse the JSON'),
        type: 'invalid_request_error',
        param: null,
        code: null,
      },
    });
    expect(model.requests).toHaveLength(0);
  });

  it('answers 400 naming the parameter when messages are missing', async () => {
    const model = await start();
    const response = await post(model, { model: 'gpt-4.1-mini' });
    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({
      error: {
        message: "Missing required parameter: 'messages'.",
        type: 'invalid_request_error',
        param: 'messages',
        code: 'missing_required_parameter',
      },
    });
  });

  it('answers 404 to an unknown route', async () => {
    const model = await start();
    const response = await fetch(`${model.url}/embeddings`, { method: 'POST', body: '{}' });
    expect(response.status).toBe(404);
    expect(await response.json()).toEqual({
      error: {
        message: 'Invalid URL (POST /v1/embeddings)',
        type: 'invalid_request_error',
        param: null,
        code: null,
      },
    });
  });

  it('refuses a request without the API key, or with the wrong one, when apiKey is set', async () => {
    const model = await start({ apiKey: 'sk-local' });
    const body = { model: 'gpt-4.1-mini', messages: [{ role: 'user', content: 'Hi' }] };

    const missing = await post(model, body);
    expect(missing.status).toBe(401);
    expect(await missing.json()).toMatchObject({ error: { type: 'invalid_request_error', code: null } });

    const wrong = await post(model, body, { headers: { authorization: 'Bearer sk-other' } });
    expect(wrong.status).toBe(401);
    expect(await wrong.json()).toMatchObject({
      error: { type: 'invalid_request_error', code: 'invalid_api_key' },
    });

    const right = await post(model, body, { headers: { authorization: 'Bearer sk-local' } });
    expect(right.status).toBe(200);
    expect(model.requests).toHaveLength(1);
  });

  it('answers 500 server_error to [error]', async () => {
    const model = await start();
    const response = await post(model, {
      model: 'gpt-4.1-mini',
      stream: true,
      messages: [{ role: 'user', content: 'Break please [error]' }],
    });
    expect(response.status).toBe(500);
    expect(await response.json()).toEqual({
      error: { message: expect.any(String), type: 'server_error', param: null, code: null },
    });
    expect(model.requests[0]).toMatchObject({ status: 500, reply: undefined, usage: undefined });
  });
});

describe('cut streams', () => {
  it('records a client that hangs up mid-stream as aborted and stops generating', async () => {
    const model = await start();
    const controller = new AbortController();
    const response = await post(
      model,
      {
        model: 'gpt-4.1-mini',
        stream: true,
        stream_options: { include_usage: true },
        messages: [{ role: 'user', content: 'Take your time [slow]' }],
      },
      { signal: controller.signal },
    );
    const reader = response.body!.getReader();
    await reader.read();
    controller.abort();
    await vi.waitFor(() => expect(model.requests[0]!.aborted).toBe(true), { timeout: 10_000 });
    expect(model.requests[0]).toMatchObject({ finishReason: undefined, usage: undefined });
  });

  it('destroys the socket after a few chunks on [stream-error], without calling it a client abort', async () => {
    const model = await start();
    const response = await post(model, {
      model: 'gpt-4.1-mini',
      stream: true,
      messages: [{ role: 'user', content: 'Fail halfway [stream-error]' }],
    });
    expect(response.status).toBe(200);
    const reader = response.body!.getReader();
    const decoder = new TextDecoder();
    let received = '';
    await expect(
      (async () => {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) return;
          received += decoder.decode(value, { stream: true });
        }
      })(),
    ).rejects.toThrow();
    expect(received).toContain('"content":"You "');
    expect(received).not.toContain('[DONE]');
    expect(model.requests[0]).toMatchObject({ aborted: false, finishReason: undefined });
  });

  it('surfaces [stream-error] to the AI SDK as a failed stream after the first words', async () => {
    const model = await start();
    const openai = createOpenAI({ baseURL: model.url, apiKey: 'x' });
    const result = streamText({
      model: openai.chat('gpt-4.1-mini'),
      prompt: 'Fail halfway [stream-error]',
      maxRetries: 0,
    });
    const received: string[] = [];
    await expect(
      (async () => {
        for await (const text of result.textStream) received.push(text);
      })(),
    ).rejects.toThrow('Failed to process successful response');
    expect(received).toEqual(['You ', 'said: ', '"Fail ']);
  });
});
