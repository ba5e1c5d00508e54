/**
 * The floor of a Node relay on this machine, for `chat-overhead`: a bare `node:http` server that
 * streams the model's answer to its client with nothing else (no auth, storage, budget or SDK). On a
 * POST it reads the body the service would get (`{ messages: [UI message], maxOutputTokens? }`), calls
 * the model's `/v1/chat/completions` with `stream: true` over a keep-alive agent, parses the SSE lines
 * and writes each content delta as the service's UI stream does
 * (`data: {"type":"text-delta","id":"0","delta":…}`), ending with `data: [DONE]`. `GET /readyz` is 200.
 *
 * A process of its own (`startBareRelayProcess` in `processes.ts`), configured by
 * `BARE_RELAY_PORT` and `BARE_RELAY_MODEL_URL` (the model's origin).
 */
import { Agent, createServer, request } from 'node:http';

const port = Number(process.env.BARE_RELAY_PORT ?? 0);
const completionsUrl = new URL(
  '/v1/chat/completions',
  process.env.BARE_RELAY_MODEL_URL ?? 'http://127.0.0.1',
);
const modelConnections = new Agent({ keepAlive: true, maxSockets: Number.POSITIVE_INFINITY });

interface RelayBody {
  messages: { role: string; parts: { type: string; text?: string }[] }[];
  maxOutputTokens?: number;
}

/** The last user message's text and the output cap; null when the body is not the expected shape. */
function readBody(raw: string): { question: string; maxTokens: number } | null {
  try {
    const body = JSON.parse(raw) as RelayBody;
    const last = body.messages.findLast((message) => message.role === 'user');
    if (!last) return null;
    const question = last.parts
      .filter((part) => part.type === 'text')
      .map((part) => part.text ?? '')
      .join('');
    return { question, maxTokens: body.maxOutputTokens ?? 256 };
  } catch {
    return null;
  }
}

const server = createServer((incoming, outgoing) => {
  if (incoming.method !== 'POST') {
    outgoing.writeHead(incoming.url === '/readyz' ? 200 : 404).end();
    return;
  }
  const chunks: Buffer[] = [];
  incoming.on('data', (chunk: Buffer) => chunks.push(chunk));
  incoming.on('end', () => {
    const input = readBody(Buffer.concat(chunks).toString('utf8'));
    if (!input) {
      outgoing.writeHead(400).end();
      return;
    }
    const upstream = request(
      completionsUrl,
      {
        method: 'POST',
        agent: modelConnections,
        headers: { 'content-type': 'application/json', authorization: 'Bearer bench' },
      },
      (model) => {
        if (model.statusCode !== 200) {
          model.resume();
          outgoing.writeHead(502).end();
          return;
        }
        outgoing.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
        model.setEncoding('utf8');
        let pending = '';
        model.on('data', (text: string) => {
          const lines = (pending + text).split('\n');
          pending = lines.pop() ?? '';
          for (const line of lines) {
            if (!line.startsWith('data: ')) continue;
            const data = line.slice(6);
            if (data === '[DONE]') {
              outgoing.end('data: [DONE]\n\n');
              return;
            }
            const delta = JSON.parse(data).choices?.[0]?.delta?.content;
            if (typeof delta === 'string' && delta !== '') {
              outgoing.write(`data: {"type":"text-delta","id":"0","delta":${JSON.stringify(delta)}}\n\n`);
            }
          }
        });
        // A model stream that ends without [DONE] ends the client's without it too (a failure).
        model.on('end', () => outgoing.end());
      },
    );
    upstream.on('error', () => {
      if (outgoing.headersSent) outgoing.destroy();
      else outgoing.writeHead(502).end();
    });
    outgoing.on('close', () => {
      if (!outgoing.writableFinished) upstream.destroy();
    });
    upstream.end(
      JSON.stringify({
        model: 'gpt-4.1-mini',
        stream: true,
        stream_options: { include_usage: true },
        max_tokens: input.maxTokens,
        messages: [{ role: 'user', content: input.question }],
      }),
    );
  });
});

server.listen(port, '127.0.0.1');
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    server.close(() => process.exit(0));
    server.closeIdleConnections();
  });
}
