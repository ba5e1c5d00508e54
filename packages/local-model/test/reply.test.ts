import { describe, expect, it } from 'vitest';
import type { ChatCompletionRequest, ChatMessage, ChatTool } from '../src/chat-request.ts';
import { decideReply } from '../src/reply.ts';
import { buildArguments, matchTool } from '../src/tool-matching.ts';

function defineTool(
  name: string,
  description: string,
  parameters: ChatTool['function']['parameters'] = {},
): ChatTool {
  return { type: 'function', function: { name, description, parameters } };
}

const getOrder = defineTool('get_order', 'Look up an order by its id.', {
  type: 'object',
  properties: { orderId: { type: 'string' } },
  required: ['orderId'],
});
const listProducts = defineTool('listProducts', 'Every product with its price.', {
  type: 'object',
  properties: {},
});
const add = defineTool('add', 'Add two numbers.', {
  type: 'object',
  properties: { a: { type: 'number' }, b: { type: 'number' } },
  required: ['a', 'b'],
});

function request(
  messages: ChatMessage[],
  tools: ChatTool[] = [getOrder, listProducts, add],
): ChatCompletionRequest {
  return { model: 'gpt-4.1-mini', messages, tools };
}

describe('choosing a tool', () => {
  it('picks the tool whose name and description share the most words with the message', () => {
    expect(matchTool('What products do you sell?', [getOrder, listProducts, add])).toBe(listProducts);
    expect(matchTool('Where is my order?', [getOrder, listProducts, add])).toBe(getOrder);
  });

  it('calls no tool when no significant word matches', () => {
    expect(matchTool('Hello, how are you?', [getOrder, listProducts, add])).toBeUndefined();
  });

  it('gives a tie to the first tool listed', () => {
    const first = defineTool('lookup_a', 'Find the weather.');
    const second = defineTool('lookup_b', 'Find the weather.');
    expect(matchTool('weather please', [first, second])).toBe(first);
  });

  it('calls the tool the message names with "use <tool>" or "call <tool>"', () => {
    expect(matchTool('use add on my order', [getOrder, add])).toBe(add);
    expect(matchTool('Please CALL listProducts now', [getOrder, listProducts])).toBe(listProducts);
  });

  it('does not call a tool again once it answered the last user message', () => {
    const reply = decideReply(
      request([
        { role: 'user', content: 'Where is order A-7?' },
        {
          role: 'assistant',
          content: null,
          tool_calls: [
            { id: 'c1', type: 'function', function: { name: 'get_order', arguments: '{"orderId":"A-7"}' } },
          ],
        },
        { role: 'tool', tool_call_id: 'c1', content: 'Order A-7: shipped' },
        { role: 'assistant', content: 'It shipped.' },
      ]),
    );
    expect(reply).toEqual({ kind: 'text', text: 'Here is what I found with get_order: Order A-7: shipped' });
  });

  it('calls no tool with tool_choice none, and always one with tool_choice required', () => {
    const messages: ChatMessage[] = [{ role: 'user', content: 'Where is my order A-1?' }];
    expect(decideReply({ ...request(messages), tool_choice: 'none' }).kind).toBe('text');
    expect(
      decideReply({ ...request([{ role: 'user', content: 'Hi' }]), tool_choice: 'required' }),
    ).toMatchObject({
      kind: 'tool_call',
      toolName: 'get_order',
    });
  });
});

describe('building arguments', () => {
  it('gives numeric properties the message’s numbers in order', () => {
    expect(buildArguments(add, 'add 2 and 3.5')).toEqual({ a: 2, b: 3.5 });
    expect(buildArguments(add, 'add 7')).toEqual({ a: 7, b: 7 });
  });

  it('prefers a quoted string, then an id-like token, then the word after the property name', () => {
    const search = defineTool('search', 'Search.', {
      type: 'object',
      properties: { query: { type: 'string' }, city: { type: 'string' } },
      required: ['query', 'city'],
    });
    expect(buildArguments(search, 'search "red shoes" in city Paris')).toEqual({
      query: 'red shoes',
      city: 'Paris',
    });
    expect(buildArguments(getOrder, 'where is A-1001?')).toEqual({ orderId: 'A-1001' });
    expect(buildArguments(getOrder, 'where is my parcel')).toEqual({ orderId: 'parcel' });
  });

  it('reads enums and booleans from the words present, and leaves out optional values it cannot find', () => {
    const weather = defineTool('get_weather', 'Weather.', {
      type: 'object',
      properties: {
        unit: { type: 'string', enum: ['celsius', 'fahrenheit'] },
        detailed: { type: 'boolean' },
        days: { type: 'integer' },
        note: { type: 'string' },
      },
      required: ['unit'],
    });
    expect(buildArguments(weather, 'weather in fahrenheit, detailed please')).toEqual({
      unit: 'fahrenheit',
      detailed: true,
    });
    expect(buildArguments(weather, 'weather for 3 days')).toEqual({
      unit: 'celsius',
      detailed: false,
      days: 3,
    });
  });
});

describe('answering tool results', () => {
  it('says which tool failed when the result is an error', () => {
    const reply = decideReply(
      request([
        { role: 'user', content: 'Where is order A-7?' },
        {
          role: 'assistant',
          content: null,
          tool_calls: [{ id: 'c1', type: 'function', function: { name: 'get_order', arguments: '{}' } }],
        },
        { role: 'tool', tool_call_id: 'c1', content: JSON.stringify({ error: 'order not found' }) },
      ]),
    );
    expect(reply).toEqual({ kind: 'text', text: 'The tool get_order failed: order not found' });
  });

  it('truncates a long result to 600 characters', () => {
    const reply = decideReply(
      request([
        { role: 'user', content: 'List products' },
        {
          role: 'assistant',
          content: null,
          tool_calls: [{ id: 'c1', type: 'function', function: { name: 'listProducts', arguments: '{}' } }],
        },
        { role: 'tool', tool_call_id: 'c1', content: 'x'.repeat(2000) },
      ]),
    );
    expect(reply.kind === 'text' && reply.text).toBe(
      `Here is what I found with listProducts: ${'x'.repeat(599)}…`,
    );
  });
});
