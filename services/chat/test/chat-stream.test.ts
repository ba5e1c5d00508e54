import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createOpenAI } from '@ai-sdk/openai';
import type { LanguageModelV4Prompt, LanguageModelV4StreamPart } from '@ai-sdk/provider';
import { type LocalModel, startLocalModel } from '@mcpstack/local-model';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAiSdkClient } from '../src/domain/chat/model/ai-sdk-client.ts';
import { createChatCompletionsClient } from '../src/domain/chat/model/chat-completions.ts';
import type { ModelCall, ModelClient } from '../src/domain/chat/model/model-client.ts';
import { SseParser } from '../src/domain/chat/model/sse.ts';

function parse(chunks: string[]): string[] {
  const events: string[] = [];
  const parser = new SseParser((data) => events.push(data));
  for (const chunk of chunks) parser.push(chunk);
  parser.end();
  return events;
}

describe('the SSE parser of the model stream', () => {
  it('reads events split anywhere, with LF, CRLF or CR line ends', () => {
    const text = 'data: {"a":1}\n\ndata: {"b":2}\r\n\r\ndata: {"c":3}\r\rdata: [DONE]\n\n';
    const expected = ['{"a":1}', '{"b":2}', '{"c":3}', '[DONE]'];
    expect(parse([text])).toEqual(expected);
    for (let cut = 1; cut < text.length; cut++) {
      expect(parse([text.slice(0, cut), text.slice(cut)]), `cut at ${cut}`).toEqual(expected);
    }
    expect(parse(text.split(''))).toEqual(expected);
  });

  it('skips keep-alive comments and other fields, joins multi-line data, and flushes a last event without a blank line', () => {
    expect(
      parse([
        ': keep-alive\n\n',
        'event: message\nid: 7\ndata: first\ndata:second\n\n',
        ':ping\n',
        'data: tail',
      ]),
    ).toEqual(['first\nsecond', 'tail']);
  });
});

/** A model server that answers every request with the given raw SSE body, in the given pieces. */
async function scriptedServer(
  answer: (response: ServerResponse, attempt: number) => void | Promise<void>,
): Promise<{ url: string; bodies: string[]; server: Server }> {
  const bodies: string[] = [];
  const server = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk) => {
      body += chunk;
    });
    request.on('end', () => {
      bodies.push(body);
      void answer(response, bodies.length);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`, bodies, server };
}

const sse = (response: ServerResponse, pieces: string[]) => {
  response.writeHead(200, { 'content-type': 'text/event-stream' });
  for (const piece of pieces) response.write(piece);
  response.end();
};

const chunk = (delta: unknown, extra: Record<string, unknown> = {}) =>
  `data: ${JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', choices: [{ index: 0, delta, finish_reason: null }], ...extra })}\n\n`;
const finishChunk = (reason: string) =>
  `data: ${JSON.stringify({ id: 'c1', choices: [{ index: 0, delta: {}, finish_reason: reason }] })}\n\n`;
const usageChunk = (prompt: number, completion: number, cached = 0) =>
  `data: ${JSON.stringify({ id: 'c1', choices: [], usage: { prompt_tokens: prompt, completion_tokens: completion, prompt_tokens_details: { cached_tokens: cached } } })}\n\n`;

const call: ModelCall = {
  prompt: [{ role: 'user', content: [{ type: 'text', text: 'hello' }] }],
  tools: [],
  maxOutputTokens: 100,
  temperature: undefined,
};

async function collect(client: ModelClient, modelCall = call) {
  const parts: LanguageModelV4StreamPart[] = [];
  await client.prepare(modelCall).stream((part) => parts.push(part), new AbortController().signal);
  return parts;
}

async function withServer(
  answer: Parameters<typeof scriptedServer>[0],
  test: (client: ModelClient, bodies: string[]) => Promise<void>,
) {
  const scripted = await scriptedServer(answer);
  try {
    await test(
      createChatCompletionsClient('gpt-4.1-mini', { baseUrl: scripted.url, apiKey: 'k', retryDelayMs: 1 }),
      scripted.bodies,
    );
  } finally {
    scripted.server.close();
  }
}

describe('the lean Chat Completions client, against what OpenAI-compatible servers really send', () => {
  it('reads text, the usage of a last chunk with no choices, and the finish reason', async () => {
    await withServer(
      (response) =>
        sse(response, [
          chunk({ role: 'assistant', content: '' }),
          chunk({ content: 'Hel' }),
          chunk({ content: 'lo' }),
          finishChunk('stop'),
          usageChunk(12, 2, 4),
          'data: [DONE]\n\n',
        ]),
      async (client) => {
        const parts = await collect(client);
        expect(parts.map((part) => part.type)).toEqual([
          'stream-start',
          'text-start',
          'text-delta',
          'text-delta',
          'text-end',
          'finish',
        ]);
        const finish = parts.at(-1) as Extract<LanguageModelV4StreamPart, { type: 'finish' }>;
        expect(finish.finishReason).toEqual({ unified: 'stop', raw: 'stop' });
        expect(finish.usage.inputTokens).toMatchObject({ total: 12, cacheRead: 4, noCache: 8 });
        expect(finish.usage.outputTokens.total).toBe(2);
      },
    );
  });

  it('finishes without usage when the server sends none, and without [DONE] after a finish reason', async () => {
    await withServer(
      (response) => sse(response, [chunk({ content: 'Hi' }), finishChunk('length')]),
      async (client) => {
        const parts = await collect(client);
        const finish = parts.at(-1) as Extract<LanguageModelV4StreamPart, { type: 'finish' }>;
        expect(finish.type).toBe('finish');
        expect(finish.finishReason.unified).toBe('length');
        expect(finish.usage.inputTokens.total).toBeUndefined();
        expect(finish.usage.outputTokens.total).toBeUndefined();
      },
    );
  });

  it('assembles tool-call arguments split over many chunks, with several calls interleaved by index', async () => {
    const toolCall = (index: number, fields: Record<string, unknown>) =>
      chunk({ tool_calls: [{ index, ...fields }] });
    await withServer(
      (response) =>
        sse(response, [
          toolCall(0, { id: 'call_a', type: 'function', function: { name: 'get_order', arguments: '' } }),
          toolCall(1, {
            id: 'call_b',
            type: 'function',
            function: { name: 'list_products', arguments: '{"q' },
          }),
          toolCall(0, { function: { arguments: '{"order' } }),
          toolCall(1, { function: { arguments: '":"mugs"}' } }),
          toolCall(0, { function: { arguments: 'Id":"A-1"}' } }),
          finishChunk('tool_calls'),
          'data: [DONE]\n\n',
        ]),
      async (client) => {
        const parts = await collect(client);
        const calls = parts.filter((part) => part.type === 'tool-call');
        expect(calls).toEqual([
          { type: 'tool-call', toolCallId: 'call_a', toolName: 'get_order', input: '{"orderId":"A-1"}' },
          { type: 'tool-call', toolCallId: 'call_b', toolName: 'list_products', input: '{"q":"mugs"}' },
        ]);
        const deltas = parts
          .filter((part) => part.type === 'tool-input-delta')
          .map((part) => [part.id, part.delta]);
        expect(deltas).toEqual([
          ['call_b', '{"q'],
          ['call_a', '{"order'],
          ['call_b', '":"mugs"}'],
          ['call_a', 'Id":"A-1"}'],
        ]);
        expect((parts.at(-1) as { finishReason: { unified: string } }).finishReason.unified).toBe(
          'tool-calls',
        );
      },
    );
  });

  it('turns an error event mid-stream into an error part, and reads nothing after it', async () => {
    await withServer(
      (response) =>
        sse(response, [
          chunk({ content: 'Hel' }),
          `data: ${JSON.stringify({ error: { message: 'overloaded', type: 'server_error' } })}\n\n`,
          chunk({ content: 'lo' }),
          finishChunk('stop'),
        ]),
      async (client) => {
        const parts = await collect(client);
        expect(parts.map((part) => part.type)).toEqual(['stream-start', 'text-start', 'text-delta', 'error']);
        expect(String((parts.at(-1) as { error: Error }).error.message)).toContain('overloaded');
      },
    );
  });

  it('skips keep-alive comments and reads CRLF line ends', async () => {
    await withServer(
      (response) =>
        sse(response, [
          ': keep-alive\r\n\r\n',
          chunk({ content: 'ok' }).replaceAll('\n', '\r\n'),
          ': ping\r\n\r\n',
          finishChunk('stop').replaceAll('\n', '\r\n'),
          'data: [DONE]\r\n\r\n',
        ]),
      async (client) => {
        const parts = await collect(client);
        expect(parts.filter((part) => part.type === 'text-delta').map((part) => part.delta)).toEqual(['ok']);
        expect(parts.at(-1)?.type).toBe('finish');
      },
    );
  });

  it('reports a stream cut before any finish as an error part, not as a finished answer', async () => {
    await withServer(
      (response) => {
        response.writeHead(200, { 'content-type': 'text/event-stream' });
        response.write(chunk({ content: 'Hel' }));
        setImmediate(() => response.socket?.destroy());
      },
      async (client) => {
        const parts = await collect(client);
        expect(parts.at(-1)?.type).toBe('error');
        expect(parts.some((part) => part.type === 'finish')).toBe(false);
      },
    );
  });

  it('retries once a call the server refused with a 5xx, and never a 4xx', async () => {
    await withServer(
      (response, attempt) => {
        if (attempt === 1) {
          response.writeHead(503, { 'content-type': 'application/json' });
          response.end(JSON.stringify({ error: { message: 'busy' } }));
        } else sse(response, [chunk({ content: 'ok' }), finishChunk('stop'), 'data: [DONE]\n\n']);
      },
      async (client, bodies) => {
        const parts = await collect(client);
        expect(parts.at(-1)?.type).toBe('finish');
        expect(bodies).toHaveLength(2);
      },
    );
    await withServer(
      (response) => {
        response.writeHead(400, { 'content-type': 'application/json' });
        response.end(JSON.stringify({ error: { message: 'bad request: max_tokens' } }));
      },
      async (client, bodies) => {
        await expect(collect(client)).rejects.toMatchObject({
          statusCode: 400,
          message: 'bad request: max_tokens',
        });
        expect(bodies).toHaveLength(1);
      },
    );
  });

  it('sends the request body @ai-sdk/openai sends, for reasoning models too', async () => {
    const bodies: Record<string, unknown>[] = [];
    const server = createServer((request, response) => {
      let body = '';
      request.on('data', (piece) => {
        body += piece;
      });
      request.on('end', () => {
        bodies.push(JSON.parse(body));
        sse(response, [finishChunk('stop'), 'data: [DONE]\n\n']);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
    const prompt: LanguageModelV4Prompt = [
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: [{ type: 'text', text: 'Where is A-1?' }] },
      {
        role: 'assistant',
        content: [
          { type: 'text', text: 'Looking.' },
          { type: 'tool-call', toolCallId: 'call_1', toolName: 'get_order', input: { orderId: 'A-1' } },
        ],
      },
      {
        role: 'tool',
        content: [
          {
            type: 'tool-result',
            toolCallId: 'call_1',
            toolName: 'get_order',
            output: { type: 'text', value: 'shipped' },
          },
        ],
      },
      {
        role: 'assistant',
        content: [
          { type: 'tool-call', toolCallId: 'call_2', toolName: 'get_order', input: { orderId: 'B' } },
        ],
      },
      {
        role: 'tool',
        content: [
          {
            type: 'tool-result',
            toolCallId: 'call_2',
            toolName: 'get_order',
            output: { type: 'error-text', value: 'no such order' },
          },
        ],
      },
      {
        role: 'user',
        content: [
          { type: 'text', text: 'And ' },
          { type: 'text', text: 'B?' },
        ],
      },
    ];
    const tools = [
      {
        name: 'get_order',
        description: 'Finds an order',
        inputSchema: {
          type: 'object' as const,
          properties: { orderId: { type: 'string' as const } },
          required: ['orderId'],
        },
      },
    ];
    try {
      for (const modelId of ['gpt-4.1-mini', 'o4-mini', 'gpt-5-mini']) {
        const modelCall = { prompt, tools, maxOutputTokens: 77, temperature: 0.3 };
        bodies.length = 0;
        await collect(createChatCompletionsClient(modelId, { baseUrl, apiKey: 'k' }), modelCall);
        await collect(
          createAiSdkClient(createOpenAI({ baseURL: baseUrl, apiKey: 'k' }).chat(modelId)),
          modelCall,
        );
        expect(bodies).toHaveLength(2);
        expect(bodies[0], modelId).toEqual(bodies[1]);
      }
    } finally {
      server.close();
    }
  });
});

describe('the lean client and @ai-sdk/openai read the same answers from the local model', () => {
  let model: LocalModel;
  beforeAll(async () => {
    model = await startLocalModel();
  });
  afterAll(async () => {
    await model.close();
  });

  const summary = (parts: LanguageModelV4StreamPart[]) => ({
    // The provider passes on the empty content of the role chunk; streamText drops it, and so does the lean client.
    text: parts.flatMap((part) => (part.type === 'text-delta' && part.delta !== '' ? [part.delta] : [])),
    toolInput: parts.flatMap((part) => (part.type === 'tool-input-delta' ? [part.delta] : [])),
    toolCalls: parts.flatMap((part) =>
      part.type === 'tool-call'
        ? [{ toolCallId: part.toolCallId, toolName: part.toolName, input: part.input }]
        : [],
    ),
    finish: parts.flatMap((part) =>
      part.type === 'finish'
        ? [
            {
              reason: part.finishReason.unified,
              input: part.usage.inputTokens.total,
              output: part.usage.outputTokens.total,
            },
          ]
        : [],
    ),
    errors: parts.filter((part) => part.type === 'error').length,
  });

  const tools = [
    {
      name: 'get_order',
      description: 'Get the status of an order',
      inputSchema: {
        type: 'object' as const,
        properties: { orderId: { type: 'string' as const } },
        required: ['orderId'],
      },
    },
  ];

  for (const [name, text, maxOutputTokens] of [
    ['a text answer', 'Hello there, what can you do?', 100],
    ['an answer cut by the output limit', '[long] tell me a story', 7],
    ['a tool call', 'What is the status of order A-1001?', 100],
  ] as const) {
    it(`reads ${name} the same way`, async () => {
      const modelCall: ModelCall = {
        prompt: [{ role: 'user', content: [{ type: 'text', text }] }],
        tools,
        maxOutputTokens,
        temperature: undefined,
      };
      const lean = await collect(
        createChatCompletionsClient('gpt-4.1-mini', { baseUrl: model.url, apiKey: 'k' }),
        modelCall,
      );
      const sdk = await collect(
        createAiSdkClient(createOpenAI({ baseURL: model.url, apiKey: 'k' }).chat('gpt-4.1-mini')),
        modelCall,
      );
      const leanSummary = summary(lean);
      const sdkSummary = summary(sdk);
      // Tool-call ids are minted per request by the model server; the rest must be the same.
      leanSummary.toolCalls = leanSummary.toolCalls.map((toolCall) => ({ ...toolCall, toolCallId: 'id' }));
      sdkSummary.toolCalls = sdkSummary.toolCalls.map((toolCall) => ({ ...toolCall, toolCallId: 'id' }));
      expect(leanSummary).toEqual(sdkSummary);
      expect(leanSummary.finish).toHaveLength(1);
      const [leanRequest, sdkRequest] = model.requests.slice(-2).map((request) => request.body);
      expect(leanRequest).toEqual(sdkRequest);
    });
  }
});
