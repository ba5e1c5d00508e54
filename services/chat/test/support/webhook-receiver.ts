import { createServer } from 'node:http';
import { listen } from '@mcpstack/test-support/http-server';
import { Webhook } from 'standardwebhooks';

export interface ReceivedEvent {
  webhookId: string;
  /** The body's `{ type, timestamp, data }`, verified with the endpoint's secret. */
  type: string;
  // biome-ignore lint/suspicious/noExplicitAny: each test asserts the fields it reads
  data: any;
}

export interface WebhookReceiver {
  url: string;
  /** Every request, verified or not, and what the receiver answered. */
  requests: { webhookId: string; status: number; verified: boolean }[];
  /** The events answered 200 with a valid signature, in arrival order. */
  accepted: ReceivedEvent[];
  /** The signing secret to verify with (set once the endpoint is made). */
  secret: string;
  /** Answer 500 to the next `count` requests. */
  failNext(count: number): void;
  /** Answer 500 until told otherwise. */
  failAll(on: boolean): void;
  close(): Promise<void>;
}

/**
 * A real webhook receiver on port 0 that verifies each request with the `standardwebhooks`
 * library, as a customer's endpoint would: a bad signature is a 401 and never counted.
 */
export async function startWebhookReceiver(): Promise<WebhookReceiver> {
  let failing = 0;
  let failingAll = false;
  const receiver: WebhookReceiver = {
    url: '',
    requests: [],
    accepted: [],
    secret: '',
    failNext(count) {
      failing = count;
    },
    failAll(on) {
      failingAll = on;
    },
    close: async () => undefined,
  };
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const headers = Object.fromEntries(
        Object.entries(request.headers).map(([name, value]) => [name, String(value)]),
      );
      const webhookId = headers['webhook-id'] ?? '';
      let event: { type: string; data: unknown } | null = null;
      try {
        event = new Webhook(receiver.secret).verify(body, headers) as { type: string; data: unknown };
      } catch {
        event = null;
      }
      let status = 200;
      if (!event) status = 401;
      else if (failingAll) status = 500;
      else if (failing > 0) {
        failing -= 1;
        status = 500;
      }
      receiver.requests.push({ webhookId, status, verified: event !== null });
      if (event && status === 200) receiver.accepted.push({ webhookId, type: event.type, data: event.data });
      response.writeHead(status).end();
    });
  });
  const listening = await listen(server);
  receiver.url = `${listening.origin}/hooks`;
  receiver.close = listening.close;
  return receiver;
}
