import { describe, expect, it } from 'vitest';
import type { StreamChunk } from '../src/client/messages.ts';
import { readChunkStream } from '../src/client/stream.ts';
import { sse, textAnswer } from './support/fake-service.ts';

/** Feeds `bytes` to the parser in pieces of `size` bytes (splitting lines, events, characters). */
async function parse(bytes: Uint8Array, size: number) {
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      for (let at = 0; at < bytes.length; at += size) controller.enqueue(bytes.slice(at, at + size));
      controller.close();
    },
  });
  const chunks: StreamChunk[] = [];
  const reader = readChunkStream(body);
  let next = await reader.next();
  while (!next.done) {
    chunks.push(next.value);
    next = await reader.next();
  }
  return { chunks, completed: next.value };
}

describe('readChunkStream', () => {
  it("reads the AI SDK's own SSE bytes into its chunks, whatever the read boundaries", async () => {
    const sent = textAnswer('Ünïcødé 🎉 words, split anywhere: ok');
    const bytes = new Uint8Array(await sse(sent).arrayBuffer());
    for (const size of [1, 2, 3, 7, 64, bytes.length]) {
      const { chunks, completed } = await parse(bytes, size);
      expect(completed, `pieces of ${size}`).toBe(true);
      expect(chunks, `pieces of ${size}`).toEqual(sent);
    }
  });

  it('follows the SSE rules: CRLF and CR line ends, multi-line data, comments and other fields', async () => {
    const text =
      ': keep-alive\r\n\r\nevent: message\r\nid: 1\r\ndata: {"type":"text-delta",\r\ndata: "id":"a","delta":"x"}\r\n\r\n' +
      'data:{"type":"finish"}\r\r' +
      'data: [DONE]\n\n';
    const { chunks, completed } = await parse(new TextEncoder().encode(text), 5);
    expect(chunks).toEqual([{ type: 'text-delta', id: 'a', delta: 'x' }, { type: 'finish' }]);
    expect(completed).toBe(true);
  });

  it('skips events that are not JSON objects with a type, and reports a stream cut before [DONE]', async () => {
    const text = 'data: not json\n\ndata: [1,2]\n\ndata: {"no":"type"}\n\ndata: {"type":"start"}\n\n';
    const { chunks, completed } = await parse(new TextEncoder().encode(text), 4);
    expect(chunks).toEqual([{ type: 'start' }]);
    expect(completed).toBe(false);
  });
});
