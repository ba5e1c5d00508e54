import type { StreamChunk } from './messages.ts';

/**
 * Reads the AI SDK UI message stream (server-sent events: `data: <json>\n\n`, ending with
 * `data: [DONE]`) without bundling `ai`. Follows the SSE rules that matter here: lines end in LF,
 * CRLF or CR; `data:` lines of one event are joined with LF; comments (`:`) and other fields are
 * ignored; bytes are decoded as a stream so a character split between reads survives.
 *
 * Yields each chunk that is a JSON object with a string `type` (anything else is skipped: the body
 * is the network's, never trusted). Returns `true` when `[DONE]` arrived, `false` when the stream
 * ended without it (the connection was cut).
 */
export async function* readChunkStream(
  body: ReadableStream<Uint8Array>,
): AsyncGenerator<StreamChunk, boolean, undefined> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  let data: string[] = [];
  try {
    for (;;) {
      const { done, value } = await reader.read();
      buffer += done ? decoder.decode() : decoder.decode(value, { stream: true });
      // A trailing CR may be the first half of a CRLF: keep it until the next read.
      const cut = done ? buffer.length : buffer.endsWith('\r') ? buffer.length - 1 : buffer.length;
      const lines = buffer.slice(0, cut).split(/\r\n|\r|\n/);
      buffer = (done ? '' : (lines.pop() ?? '')) + buffer.slice(cut);
      if (done && buffer === '' && lines.at(-1) === '') lines.pop();
      for (const line of lines) {
        if (line === '') {
          if (data.length === 0) continue;
          const payload = data.join('\n');
          data = [];
          if (payload === '[DONE]') return true;
          const chunk = parseChunk(payload);
          if (chunk) yield chunk;
        } else if (line.startsWith('data:')) {
          data.push(line.slice(line[5] === ' ' ? 6 : 5));
        }
      }
      if (done) return false;
    }
  } finally {
    reader.releaseLock();
  }
}

function parseChunk(payload: string): StreamChunk | null {
  try {
    const value: unknown = JSON.parse(payload);
    if (typeof value === 'object' && value !== null && typeof (value as StreamChunk).type === 'string') {
      return value as StreamChunk;
    }
  } catch {
    // not JSON: skipped, like any other malformed event
  }
  return null;
}
