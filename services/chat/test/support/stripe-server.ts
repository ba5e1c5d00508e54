import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { listen } from '@mcpstack/test-support/http-server';
import Stripe from 'stripe';

/**
 * A local server speaking the Stripe API's wire format for the calls the service makes (create,
 * retrieve and list Checkout Sessions): form-encoded requests with bracketed keys, a bearer secret
 * key, JSON objects and Stripe-shaped errors back. It validates what the real API requires of those
 * calls and records every request, so tests prove the service's requests would pass Stripe itself.
 * Test helpers (pay, refund, event) play the buyer and Stripe's dashboard.
 */

export type FormValue = string | FormValue[] | { [key: string]: FormValue };

export interface RecordedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  headers: Record<string, string | string[] | undefined>;
  form: Record<string, FormValue>;
  status: number;
}

export interface FakeSession {
  id: string;
  object: 'checkout.session';
  amount_subtotal: number;
  amount_total: number;
  cancel_url: string | null;
  client_reference_id: string | null;
  created: number;
  currency: string;
  customer: null;
  expires_at: number;
  livemode: false;
  metadata: Record<string, string>;
  mode: string;
  payment_intent: string | null;
  payment_method_types: string[];
  payment_status: 'paid' | 'unpaid' | 'no_payment_required';
  status: 'open' | 'complete' | 'expired';
  success_url: string | null;
  url: string | null;
}

export interface FakeCharge {
  id: string;
  object: 'charge';
  amount: number;
  amount_captured: number;
  amount_refunded: number;
  currency: string;
  metadata: Record<string, string>;
  paid: true;
  payment_intent: string;
  refunded: boolean;
  refunds: {
    object: 'list';
    data: { id: string; object: 'refund'; amount: number; charge: string }[];
    has_more: false;
    url: string;
  };
  status: 'succeeded';
}

export interface FakeStripe {
  url: string;
  secretKey: string;
  webhookSecret: string;
  requests: RecordedRequest[];
  sessions: Map<string, FakeSession>;
  charges: Map<string, FakeCharge>;
  /** The buyer pays: the session completes; with `async`, the payment is still processing. */
  pay(sessionId: string, options?: { async?: boolean }): FakeSession;
  /** A processing (bank debit) payment succeeds. */
  succeedAsyncPayment(sessionId: string): FakeSession;
  expire(sessionId: string): FakeSession;
  /** Refunds part of the session's charge (Stripe's dashboard); returns the charge as Stripe shows it. */
  refund(sessionId: string, amountCents: number): FakeCharge;
  chargeOf(sessionId: string): FakeCharge;
  /** A session made in Stripe directly (not through the service), e.g. with tampered metadata. */
  createSessionDirectly(fields: Partial<FakeSession>): FakeSession;
  /** An event as Stripe sends it: the JSON body and its id. */
  event(
    type: string,
    object: unknown,
    options?: { id?: string; created?: number },
  ): { id: string; payload: string };
  /** The Stripe-Signature header for a body, made with the SDK's own test helper. */
  sign(payload: string, options?: { timestamp?: number; secret?: string }): string;
  close(): Promise<void>;
}

const token = (prefix: string) => `${prefix}_test_${randomBytes(12).toString('hex')}`;
const now = () => Math.floor(Date.now() / 1000);

interface StripeErrorBody {
  type: string;
  message: string;
  code?: string;
  param?: string;
}

class StripeRequestError extends Error {
  readonly status: number;
  readonly body: StripeErrorBody;
  constructor(status: number, body: StripeErrorBody) {
    super(body.message);
    this.status = status;
    this.body = body;
  }
}

const invalid = (message: string, param?: string, code = 'parameter_invalid') =>
  new StripeRequestError(400, { type: 'invalid_request_error', code, message, ...(param && { param }) });
const missing = (param: string) =>
  new StripeRequestError(400, {
    type: 'invalid_request_error',
    code: 'parameter_missing',
    param,
    message: `Missing required param: ${param}.`,
  });

/** `a[b][0][c]=x` → `{ a: { b: [{ c: 'x' }] } }`, as Stripe reads its form bodies. */
export function parseStripeForm(body: string): Record<string, FormValue> {
  const root: Record<string, FormValue> = {};
  for (const [key, value] of new URLSearchParams(body)) {
    const path = key.match(/^[^[]+|\[[^\]]*\]/g)?.map((part) => part.replace(/^\[|\]$/g, '')) ?? [key];
    // biome-ignore lint/suspicious/noExplicitAny: walking an untyped tree
    let node: any = root;
    for (const [index, part] of path.entries()) {
      const last = index === path.length - 1;
      const nextIsIndex = !last && /^\d+$/.test(path[index + 1]!);
      const slot = Array.isArray(node) ? Number(part) : part;
      if (last) node[slot] = value;
      else {
        node[slot] ??= nextIsIndex ? [] : {};
        node = node[slot];
      }
    }
  }
  return root;
}

function isUrl(value: unknown): boolean {
  return typeof value === 'string' && URL.canParse(value) && /^https?:$/.test(new URL(value).protocol);
}

function onlyKeys(object: Record<string, FormValue>, allowed: readonly string[], prefix: string): void {
  for (const key of Object.keys(object)) {
    if (!allowed.includes(key))
      throw invalid(`Received unknown parameter: ${prefix}${key}`, `${prefix}${key}`);
  }
}

function checkMetadata(value: FormValue | undefined, param: string): Record<string, string> {
  if (value === undefined) return {};
  if (typeof value !== 'object' || Array.isArray(value)) throw invalid(`Invalid object`, param);
  const entries = Object.entries(value);
  if (entries.length > 50) throw invalid('Metadata can have at most 50 keys', param);
  for (const [key, item] of entries) {
    if (typeof item !== 'string') throw invalid('Metadata values must be strings', `${param}[${key}]`);
    if (key.length > 40) throw invalid('Metadata keys can be at most 40 characters', `${param}[${key}]`);
    if (item.length > 500) throw invalid('Metadata values can be at most 500 characters', `${param}[${key}]`);
  }
  return Object.fromEntries(entries) as Record<string, string>;
}

const integerPattern = /^\d+$/;

/** What the real API checks of `POST /v1/checkout/sessions` for a payment-mode session with inline prices. */
function validateCreate(form: Record<string, FormValue>): { amount: number; currency: string } {
  onlyKeys(
    form,
    [
      'mode',
      'line_items',
      'success_url',
      'cancel_url',
      'client_reference_id',
      'metadata',
      'payment_intent_data',
      'customer_email',
      'submit_type',
      'ui_mode',
      'locale',
      'expires_at',
      'expand',
    ],
    '',
  );
  if (form.mode === undefined) throw missing('mode');
  if (!['payment', 'setup', 'subscription'].includes(form.mode as string)) {
    throw invalid(`Invalid mode: must be one of payment, setup, or subscription`, 'mode');
  }
  if (form.mode !== 'payment') throw invalid('This fake only supports mode=payment', 'mode');
  if (form.success_url === undefined) throw missing('success_url');
  if (!isUrl(form.success_url)) throw invalid('Not a valid URL', 'success_url', 'url_invalid');
  if (form.cancel_url !== undefined && !isUrl(form.cancel_url)) {
    throw invalid('Not a valid URL', 'cancel_url', 'url_invalid');
  }
  if (typeof form.client_reference_id === 'string' && form.client_reference_id.length > 200) {
    throw invalid('client_reference_id must be at most 200 characters', 'client_reference_id');
  }
  checkMetadata(form.metadata, 'metadata');
  if (form.payment_intent_data !== undefined) {
    const data = form.payment_intent_data as Record<string, FormValue>;
    onlyKeys(data, ['metadata', 'description', 'receipt_email'], 'payment_intent_data.');
    checkMetadata(data.metadata, 'payment_intent_data[metadata]');
  }
  const items = form.line_items;
  if (items === undefined) throw missing('line_items');
  if (!Array.isArray(items) || items.length === 0) throw invalid('Invalid array', 'line_items');
  let amount = 0;
  let currency = '';
  for (const [index, raw] of items.entries()) {
    const param = `line_items[${index}]`;
    if (typeof raw !== 'object' || Array.isArray(raw)) throw invalid('Invalid object', param);
    onlyKeys(raw, ['price', 'price_data', 'quantity', 'adjustable_quantity'], `${param}.`);
    if (raw.price === undefined && raw.price_data === undefined) {
      throw invalid(`You must specify either \`price\` or \`price_data\` in ${param}.`, param);
    }
    if (raw.price !== undefined) throw invalid('This fake only supports price_data', `${param}[price]`);
    if (raw.quantity === undefined) throw missing(`${param}[quantity]`);
    if (typeof raw.quantity !== 'string' || !integerPattern.test(raw.quantity) || Number(raw.quantity) < 1) {
      throw invalid('Invalid positive integer', `${param}[quantity]`);
    }
    const price = raw.price_data as Record<string, FormValue>;
    if (typeof price !== 'object' || Array.isArray(price))
      throw invalid('Invalid object', `${param}[price_data]`);
    onlyKeys(
      price,
      ['currency', 'unit_amount', 'unit_amount_decimal', 'product', 'product_data', 'tax_behavior'],
      `${param}[price_data].`,
    );
    if (price.currency === undefined) throw missing(`${param}[price_data][currency]`);
    if (typeof price.currency !== 'string' || !/^[a-z]{3}$/.test(price.currency)) {
      throw invalid('Invalid currency', `${param}[price_data][currency]`);
    }
    if (price.unit_amount === undefined) throw missing(`${param}[price_data][unit_amount]`);
    if (typeof price.unit_amount !== 'string' || !integerPattern.test(price.unit_amount)) {
      throw invalid('Invalid integer', `${param}[price_data][unit_amount]`);
    }
    if (price.product === undefined && price.product_data === undefined) {
      throw missing(`${param}[price_data][product_data]`);
    }
    const product = price.product_data as Record<string, FormValue>;
    onlyKeys(
      product,
      ['name', 'description', 'images', 'metadata', 'tax_code'],
      `${param}[price_data][product_data].`,
    );
    if (typeof product.name !== 'string' || product.name.trim() === '') {
      throw missing(`${param}[price_data][product_data][name]`);
    }
    if (currency && currency !== price.currency)
      throw invalid('All line items must use the same currency', param);
    currency = price.currency;
    amount += Number(price.unit_amount) * Number(raw.quantity);
  }
  if (currency === 'usd' && amount < 50) {
    throw invalid(
      "The Checkout Session's total amount due must add up to at least $0.50 usd",
      undefined,
      'amount_too_small',
    );
  }
  if (amount > 99_999_999)
    throw invalid('Amount must be no more than $999,999.99', undefined, 'amount_too_large');
  return { amount, currency };
}

export async function startFakeStripe(): Promise<FakeStripe> {
  const secretKey = `sk_test_${randomBytes(16).toString('hex')}`;
  const webhookSecret = `whsec_${randomBytes(16).toString('hex')}`;
  const requests: RecordedRequest[] = [];
  const sessions = new Map<string, FakeSession>();
  const charges = new Map<string, FakeCharge>();
  const chargeBySession = new Map<string, string>();
  const idempotent = new Map<string, { body: string; status: number; response: unknown }>();

  function handle(request: IncomingMessage, body: string): { status: number; json: unknown } {
    const url = new URL(request.url ?? '/', 'http://stripe.local');
    const auth = request.headers.authorization ?? '';
    if (auth !== `Bearer ${secretKey}`) {
      throw new StripeRequestError(401, {
        type: 'invalid_request_error',
        message: `Invalid API Key provided: ${auth.replace(/^Bearer /, '').slice(0, 12)}****`,
      });
    }
    if (request.method === 'POST' && url.pathname === '/v1/checkout/sessions') {
      if (!String(request.headers['content-type']).startsWith('application/x-www-form-urlencoded')) {
        throw invalid('Stripe accepts form-encoded request bodies');
      }
      const key = request.headers['idempotency-key'];
      if (typeof key === 'string') {
        const previous = idempotent.get(key);
        if (previous) {
          if (previous.body !== body) {
            throw new StripeRequestError(400, {
              type: 'idempotency_error',
              message:
                'Keys for idempotent requests can only be used with the same parameters they were first used with.',
            });
          }
          return { status: previous.status, json: previous.response };
        }
      }
      const form = parseStripeForm(body);
      const { amount, currency } = validateCreate(form);
      const id = token('cs');
      const session: FakeSession = {
        id,
        object: 'checkout.session',
        amount_subtotal: amount,
        amount_total: amount,
        cancel_url: (form.cancel_url as string | undefined) ?? null,
        client_reference_id: (form.client_reference_id as string | undefined) ?? null,
        created: now(),
        currency,
        customer: null,
        expires_at: now() + 86_400,
        livemode: false,
        metadata: checkMetadata(form.metadata, 'metadata'),
        mode: form.mode as string,
        payment_intent: null,
        payment_method_types: ['card'],
        payment_status: 'unpaid',
        status: 'open',
        success_url: form.success_url as string,
        url: `https://checkout.stripe.com/c/pay/${id}`,
      };
      sessions.set(id, session);
      if (typeof key === 'string') idempotent.set(key, { body, status: 200, response: session });
      return { status: 200, json: session };
    }
    const single = /^\/v1\/checkout\/sessions\/([^/]+)$/.exec(url.pathname);
    if (request.method === 'GET' && single) {
      const session = sessions.get(decodeURIComponent(single[1]!));
      if (!session) {
        throw new StripeRequestError(404, {
          type: 'invalid_request_error',
          code: 'resource_missing',
          param: 'session',
          message: `No such checkout.session: '${single[1]}'`,
        });
      }
      return { status: 200, json: session };
    }
    if (request.method === 'GET' && url.pathname === '/v1/checkout/sessions') {
      const paymentIntent = url.searchParams.get('payment_intent');
      const limit = Number(url.searchParams.get('limit') ?? 10);
      const data = [...sessions.values()]
        .filter((session) => paymentIntent === null || session.payment_intent === paymentIntent)
        .slice(0, limit);
      return { status: 200, json: { object: 'list', data, has_more: false, url: '/v1/checkout/sessions' } };
    }
    throw new StripeRequestError(404, {
      type: 'invalid_request_error',
      message: `Unrecognized request URL (${request.method}: ${url.pathname}).`,
    });
  }

  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const url = new URL(request.url ?? '/', 'http://stripe.local');
      let status: number;
      let json: unknown;
      try {
        ({ status, json } = handle(request, body));
      } catch (error) {
        if (!(error instanceof StripeRequestError)) throw error;
        status = error.status;
        json = { error: error.body };
      }
      requests.push({
        method: request.method ?? '',
        path: url.pathname,
        query: Object.fromEntries(url.searchParams),
        headers: request.headers,
        form: request.method === 'POST' ? parseStripeForm(body) : {},
        status,
      });
      response.writeHead(status, { 'content-type': 'application/json', 'request-id': token('req') });
      response.end(JSON.stringify(json));
    });
  });
  const listening = await listen(server);

  const sessionOf = (id: string) => {
    const session = sessions.get(id);
    if (!session) throw new Error(`fake stripe: no session ${id}`);
    return session;
  };

  return {
    url: listening.origin,
    secretKey,
    webhookSecret,
    requests,
    sessions,
    charges,
    pay(sessionId, options = {}) {
      const session = sessionOf(sessionId);
      const paymentIntent = token('pi');
      const charge: FakeCharge = {
        id: token('ch'),
        object: 'charge',
        amount: session.amount_total,
        amount_captured: session.amount_total,
        amount_refunded: 0,
        currency: session.currency,
        metadata: {},
        paid: true,
        payment_intent: paymentIntent,
        refunded: false,
        refunds: { object: 'list', data: [], has_more: false, url: '/v1/refunds' },
        status: 'succeeded',
      };
      charges.set(charge.id, charge);
      chargeBySession.set(sessionId, charge.id);
      Object.assign(session, {
        status: 'complete',
        payment_intent: paymentIntent,
        payment_status: options.async ? 'unpaid' : 'paid',
      });
      return structuredClone(session);
    },
    succeedAsyncPayment(sessionId) {
      const session = sessionOf(sessionId);
      session.payment_status = 'paid';
      return structuredClone(session);
    },
    expire(sessionId) {
      const session = sessionOf(sessionId);
      session.status = 'expired';
      return structuredClone(session);
    },
    refund(sessionId, amountCents) {
      const charge = charges.get(chargeBySession.get(sessionId) ?? '');
      if (!charge) throw new Error(`fake stripe: session ${sessionId} has no charge`);
      if (charge.amount_refunded + amountCents > charge.amount)
        throw new Error('fake stripe: refund exceeds the charge');
      charge.amount_refunded += amountCents;
      charge.refunded = charge.amount_refunded === charge.amount;
      charge.refunds.data.unshift({
        id: token('re'),
        object: 'refund',
        amount: amountCents,
        charge: charge.id,
      });
      return structuredClone(charge);
    },
    chargeOf(sessionId) {
      const charge = charges.get(chargeBySession.get(sessionId) ?? '');
      if (!charge) throw new Error(`fake stripe: session ${sessionId} has no charge`);
      return structuredClone(charge);
    },
    createSessionDirectly(fields) {
      const id = token('cs');
      const session: FakeSession = {
        id,
        object: 'checkout.session',
        amount_subtotal: 1000,
        amount_total: 1000,
        cancel_url: null,
        client_reference_id: null,
        created: now(),
        currency: 'usd',
        customer: null,
        expires_at: now() + 86_400,
        livemode: false,
        metadata: {},
        mode: 'payment',
        payment_intent: null,
        payment_method_types: ['card'],
        payment_status: 'unpaid',
        status: 'open',
        success_url: 'https://example.com/done',
        url: `https://checkout.stripe.com/c/pay/${id}`,
        ...fields,
      };
      sessions.set(id, session);
      return structuredClone(session);
    },
    event(type, object, options = {}) {
      const id = options.id ?? token('evt');
      const payload = JSON.stringify(
        {
          id,
          object: 'event',
          api_version: Stripe.API_VERSION,
          created: options.created ?? now(),
          data: { object },
          livemode: false,
          pending_webhooks: 1,
          request: { id: null, idempotency_key: null },
          type,
        },
        null,
        2,
      );
      return { id, payload };
    },
    sign(payload, options = {}) {
      return Stripe.webhooks.generateTestHeaderString({
        payload,
        secret: options.secret ?? webhookSecret,
        ...(options.timestamp !== undefined && { timestamp: options.timestamp }),
      });
    },
    close: listening.close,
  };
}
