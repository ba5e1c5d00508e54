import Stripe from 'stripe';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkoutSessionRecord } from '../src/domain/credits/checkout-sessions.ts';
import {
  balanceMicros,
  type CreditWorld,
  createMeteredAgent,
  creditsPath,
  deliver,
  expectConsistent,
  ledgerEntries,
  postWebhook,
  spend,
  startCheckout,
  startCreditWorld,
} from './support/credits.ts';
import { startTestService, type Tenant } from './support/harness.ts';

let world: CreditWorld;

beforeAll(async () => {
  world = await startCreditWorld({
    MCPSTACK_CREDITS_MIN_PURCHASE_USD: '5',
    MCPSTACK_CREDITS_MAX_PURCHASE_USD: '10000',
  });
});
afterAll(() => world?.stop());

const usd = (micros: number) => micros * 1_000_000;

async function sessionRecord(tenant: Tenant, sessionId: string) {
  const keys = world.service.deps.keys.organization(tenant.organizationId);
  const raw = await world.service.deps.redis.hget(keys.stripeCheckoutSessions, sessionId);
  return raw === null ? null : checkoutSessionRecord.parse(JSON.parse(raw));
}

/** A checkout through the API, paid in Stripe, with its `checkout.session.completed` delivered. */
async function buy(tenant: Tenant, amountUsd: number) {
  const sessionId = await startCheckout(world, tenant, amountUsd);
  const session = world.stripe.pay(sessionId);
  const delivered = await deliver(world, 'checkout.session.completed', session);
  expect(delivered.status, delivered.text).toBe(200);
  expect(delivered.body.outcome).toBe('credited');
  return sessionId;
}

describe('buying credits', () => {
  it('creates a payment-mode Checkout Session that Stripe accepts, and credits nothing yet', async () => {
    const tenant = await world.service.createTenant();
    const before = world.stripe.requests.length;
    const response = await world.service.call('POST', creditsPath(tenant, 'checkout-session'), {
      token: tenant.keys.billing,
      body: { creditAmountUsd: 100 },
    });
    expect(response.status, response.text).toBe(201);
    expect(response.body).toEqual({
      id: expect.stringMatching(/^cs_test_/),
      url: expect.stringMatching(/^https:\/\/checkout\.stripe\.com\//),
      creditAmountUsd: 100,
      status: 'open',
    });

    const sent = world.stripe.requests.slice(before);
    expect(sent).toHaveLength(1);
    const request = sent[0]!;
    expect(request).toMatchObject({ method: 'POST', path: '/v1/checkout/sessions', status: 200 });
    expect(request.headers['content-type']).toMatch(/^application\/x-www-form-urlencoded/);
    expect(request.headers.authorization).toBe(`Bearer ${world.stripe.secretKey}`);
    expect(request.headers['stripe-version']).toBeTruthy();
    expect(request.headers['idempotency-key']).toMatch(
      new RegExp(`^ai-credits-checkout:${tenant.organizationId}:[0-9a-f-]{36}$`),
    );
    expect(request.form).toEqual({
      mode: 'payment',
      line_items: [
        {
          quantity: '1',
          price_data: {
            currency: 'usd',
            unit_amount: '10000',
            product_data: { name: 'AI credits', description: '100.00 USD of MCP Stack AI credits' },
          },
        },
      ],
      client_reference_id: tenant.organizationId,
      metadata: {
        purpose: 'ai_credits',
        organizationId: tenant.organizationId,
        creditAmountMicros: '100000000',
      },
      payment_intent_data: { metadata: { purpose: 'ai_credits', organizationId: tenant.organizationId } },
      success_url: world.service.deps.env.MCPSTACK_CHECKOUT_SUCCESS_URL,
      cancel_url: world.service.deps.env.MCPSTACK_CHECKOUT_CANCEL_URL,
    });
    expect(world.service.deps.env.MCPSTACK_CHECKOUT_SUCCESS_URL).toContain('{CHECKOUT_SESSION_ID}');

    expect(await sessionRecord(tenant, response.body.id)).toMatchObject({
      amountMicros: usd(100),
      status: 'open',
      credited: false,
      createdBy: expect.stringMatching(/^key:/),
    });
    expect(await balanceMicros(world.service, tenant)).toBe(0);
    expect(await ledgerEntries(world.service, tenant)).toEqual([]);
    await expectConsistent(world.service, tenant);
  });

  it('honours successUrl and cancelUrl, and each purchase has its own idempotency key', async () => {
    const tenant = await world.service.createTenant();
    const before = world.stripe.requests.length;
    for (let index = 0; index < 2; index++) {
      const response = await world.service.call('POST', creditsPath(tenant, 'checkout-session'), {
        token: tenant.keys.admin,
        body: {
          creditAmountUsd: 12.34,
          successUrl: 'https://app.example/credits?done={CHECKOUT_SESSION_ID}',
          cancelUrl: 'https://app.example/credits',
        },
      });
      expect(response.status, response.text).toBe(201);
      expect(response.body.creditAmountUsd).toBe(12.34);
    }
    const sent = world.stripe.requests.slice(before);
    expect(sent.map((request) => request.form.success_url)).toEqual([
      'https://app.example/credits?done={CHECKOUT_SESSION_ID}',
      'https://app.example/credits?done={CHECKOUT_SESSION_ID}',
    ]);
    expect(sent[0]!.form.cancel_url).toBe('https://app.example/credits');
    expect(
      (sent[0]!.form.line_items as { price_data: { unit_amount: string } }[])[0]!.price_data.unit_amount,
    ).toBe('1234');
    expect(sent[0]!.headers['idempotency-key']).not.toBe(sent[1]!.headers['idempotency-key']);
  });

  it('refuses amounts outside the configured bounds or with fractions of a cent, before calling Stripe', async () => {
    const tenant = await world.service.createTenant();
    const before = world.stripe.requests.length;
    for (const body of [
      { creditAmountUsd: 4.99 },
      { creditAmountUsd: 10000.01 },
      { creditAmountUsd: 12.345 },
      { creditAmountUsd: -5 },
      { creditAmountUsd: 0 },
      { creditAmountUsd: '50' },
      {},
      { creditAmountUsd: 50, successUrl: 'javascript:alert(1)' },
      { creditAmountUsd: 50, surprise: true },
    ]) {
      const response = await world.service.call('POST', creditsPath(tenant, 'checkout-session'), {
        token: tenant.keys.billing,
        body,
      });
      expect(response.status, JSON.stringify(body)).toBe(400);
      expect(response.body.error.code).toBe('validation_failed');
      expect(response.body.error.message).toMatch(/^body/);
    }
    const bounds = await world.service.call('POST', creditsPath(tenant, 'checkout-session'), {
      token: tenant.keys.billing,
      body: { creditAmountUsd: 4.99 },
    });
    expect(bounds.body.error.message).toContain('from 5 to 10000 USD');
    expect(world.stripe.requests.length).toBe(before);
    // The bounds themselves are accepted.
    await startCheckout(world, tenant, 5);
    await startCheckout(world, tenant, 10000);
  });
});

describe('the Stripe webhook', () => {
  it('credits a paid checkout once, with a purchase entry that references the session', async () => {
    const tenant = await world.service.createTenant();
    const sessionId = await startCheckout(world, tenant, 25);
    const session = world.stripe.pay(sessionId);
    const delivered = await deliver(world, 'checkout.session.completed', session);
    expect(delivered.status, delivered.text).toBe(200);
    expect(delivered.body).toEqual({ received: true, eventId: delivered.eventId, outcome: 'credited' });

    expect(await balanceMicros(world.service, tenant)).toBe(usd(25));
    await world.service.drain();
    const ledger = await world.service.call('GET', creditsPath(tenant, 'ledger'), {
      token: tenant.keys.billing,
    });
    expect(ledger.body.data).toEqual([
      {
        id: expect.stringMatching(/^led_/),
        type: 'purchase',
        amountUsd: 25,
        balanceAfterUsd: 25,
        reference: {
          agentId: null,
          conversationId: null,
          callId: null,
          stripeSessionId: sessionId,
          stripeChargeId: null,
        },
        actor: 'stripe',
        reason: `Stripe Checkout Session ${sessionId}`,
        createdAt: expect.any(String),
      },
    ]);
    expect(await sessionRecord(tenant, sessionId)).toMatchObject({
      credited: true,
      status: 'paid',
      paymentIntentId: session.payment_intent,
      ledgerEntryId: ledger.body.data[0].id,
    });
    await world.service.drain();
    const event = await world.service.deps.history.stripeEvent(tenant.organizationId, delivered.eventId);
    expect(event).toMatchObject({ type: 'checkout.session.completed', outcome: 'credited', sessionId });
    const summary = await world.service.call('GET', creditsPath(tenant, 'summary'), {
      token: tenant.keys.billing,
    });
    expect(summary.body).toMatchObject({
      balanceUsd: 25,
      purchasedUsd: 25,
      refundedUsd: 0,
      lowBalance: false,
    });
    await expectConsistent(world.service, tenant);
  });

  it('credits once whatever the duplicates: the same event again, a new event for the same payment, a sync', async () => {
    const tenant = await world.service.createTenant();
    const sessionId = await startCheckout(world, tenant, 40);
    const session = world.stripe.pay(sessionId);
    const first = await deliver(world, 'checkout.session.completed', session);
    expect(first.body.outcome).toBe('credited');
    // Stripe retries the very same event (same id and body, a new signature)…
    for (let attempt = 0; attempt < 3; attempt++) {
      const again = await postWebhook(world.service, first.payload, world.stripe.sign(first.payload));
      expect(again.status).toBe(200);
      expect(again.body.outcome).toBe('duplicate');
    }
    // …or sends another event about the same payment.
    expect((await deliver(world, 'checkout.session.async_payment_succeeded', session)).body.outcome).toBe(
      'duplicate',
    );
    expect((await deliver(world, 'checkout.session.completed', session)).body.outcome).toBe('duplicate');
    const sync = await world.service.call('POST', creditsPath(tenant, `checkout-session/${sessionId}/sync`), {
      token: tenant.keys.billing,
    });
    expect(sync.body).toMatchObject({ outcome: 'already_credited', credited: true, balanceUsd: 40 });
    expect(await balanceMicros(world.service, tenant)).toBe(usd(40));
    expect(
      (await ledgerEntries(world.service, tenant)).filter((entry) => entry.type === 'purchase'),
    ).toHaveLength(1);
    await expectConsistent(world.service, tenant);
  });

  it('credits an asynchronous payment when it succeeds, in either order of the two events', async () => {
    const tenant = await world.service.createTenant();
    // In order: completed (still processing), then async_payment_succeeded.
    const first = await startCheckout(world, tenant, 30);
    const processing = world.stripe.pay(first, { async: true });
    const completed = await deliver(world, 'checkout.session.completed', processing);
    expect(completed.body.outcome).toBe('not_paid');
    expect(await balanceMicros(world.service, tenant)).toBe(0);
    const succeeded = await deliver(
      world,
      'checkout.session.async_payment_succeeded',
      world.stripe.succeedAsyncPayment(first),
    );
    expect(succeeded.body.outcome).toBe('credited');
    expect(await balanceMicros(world.service, tenant)).toBe(usd(30));

    // Out of order: async_payment_succeeded arrives before completed (old and new snapshots).
    const second = await startCheckout(world, tenant, 20);
    const unpaidSnapshot = world.stripe.pay(second, { async: true });
    const paidSnapshot = world.stripe.succeedAsyncPayment(second);
    expect(
      (await deliver(world, 'checkout.session.async_payment_succeeded', paidSnapshot)).body.outcome,
    ).toBe('credited');
    expect((await deliver(world, 'checkout.session.completed', unpaidSnapshot)).body.outcome).toBe(
      'not_paid',
    );
    expect((await deliver(world, 'checkout.session.completed', paidSnapshot)).body.outcome).toBe('duplicate');
    expect(await balanceMicros(world.service, tenant)).toBe(usd(50));
    await expectConsistent(world.service, tenant);
  });

  it('credits once under 20 concurrent deliveries of the same event (and syncs racing them)', async () => {
    const tenant = await world.service.createTenant();
    const sessionId = await startCheckout(world, tenant, 75);
    const session = world.stripe.pay(sessionId);
    const { payload } = world.stripe.event('checkout.session.completed', session);
    const signature = world.stripe.sign(payload);
    const results = await Promise.all([
      ...Array.from({ length: 20 }, () => postWebhook(world.service, payload, signature)),
      ...Array.from({ length: 5 }, () =>
        world.service.call('POST', creditsPath(tenant, `checkout-session/${sessionId}/sync`), {
          token: tenant.keys.billing,
        }),
      ),
    ]);
    for (const result of results) expect(result.status, result.text).toBe(200);
    const outcomes = results.map((result) => result.body.outcome);
    expect(outcomes.filter((outcome) => outcome === 'credited')).toHaveLength(1);
    expect(
      outcomes.filter((outcome) => outcome === 'duplicate' || outcome === 'already_credited'),
    ).toHaveLength(24);
    expect(await balanceMicros(world.service, tenant)).toBe(usd(75));
    expect(await ledgerEntries(world.service, tenant)).toHaveLength(1);
    await expectConsistent(world.service, tenant);
  });

  it('acknowledges event types it does not use, and checkouts that are not AI credits, changing nothing', async () => {
    const tenant = await world.service.createTenant();
    await buy(tenant, 10);
    for (const [type, object] of [
      ['customer.created', { id: 'cus_123', object: 'customer' }],
      ['payment_intent.succeeded', { id: 'pi_123', object: 'payment_intent', amount: 1000 }],
      ['invoice.paid', { id: 'in_123', object: 'invoice' }],
    ] as const) {
      const result = await deliver(world, type, object);
      expect(result.status, type).toBe(200);
      expect(result.body.outcome).toBe('ignored');
    }
    // A checkout for something else on the same Stripe account (no AI-credit metadata).
    const other = world.stripe.createSessionDirectly({ client_reference_id: tenant.organizationId });
    world.stripe.pay(other.id);
    const otherResult = await deliver(
      world,
      'checkout.session.completed',
      world.stripe.sessions.get(other.id),
    );
    expect(otherResult.body.outcome).toBe('ignored');
    expect(await balanceMicros(world.service, tenant)).toBe(usd(10));
    await expectConsistent(world.service, tenant);
  });

  it('refuses a session whose charged amount or organization does not match its metadata', async () => {
    const tenant = await world.service.createTenant();
    const victim = await world.service.createTenant();
    const cheap = world.stripe.createSessionDirectly({
      amount_total: 500,
      client_reference_id: tenant.organizationId,
      metadata: {
        purpose: 'ai_credits',
        organizationId: tenant.organizationId,
        creditAmountMicros: String(usd(1000)),
      },
    });
    world.stripe.pay(cheap.id);
    const underpaid = await deliver(world, 'checkout.session.completed', world.stripe.sessions.get(cheap.id));
    expect(underpaid.status).toBe(200);
    expect(underpaid.body.outcome).toBe('rejected');
    const crossed = world.stripe.createSessionDirectly({
      amount_total: 1000,
      client_reference_id: tenant.organizationId,
      metadata: {
        purpose: 'ai_credits',
        organizationId: victim.organizationId,
        creditAmountMicros: String(usd(10)),
      },
    });
    world.stripe.pay(crossed.id);
    expect(
      (await deliver(world, 'checkout.session.completed', world.stripe.sessions.get(crossed.id))).body
        .outcome,
    ).toBe('rejected');
    const euros = world.stripe.createSessionDirectly({
      currency: 'eur',
      client_reference_id: tenant.organizationId,
      metadata: {
        purpose: 'ai_credits',
        organizationId: tenant.organizationId,
        creditAmountMicros: String(usd(10)),
      },
    });
    world.stripe.pay(euros.id);
    expect(
      (await deliver(world, 'checkout.session.completed', world.stripe.sessions.get(euros.id))).body.outcome,
    ).toBe('rejected');
    expect(await balanceMicros(world.service, tenant)).toBe(0);
    expect(await balanceMicros(world.service, victim)).toBe(0);
    await expectConsistent(world.service, tenant);
    await expectConsistent(world.service, victim);
  });

  it('does not credit a session for another amount than the one recorded at checkout', async () => {
    const tenant = await world.service.createTenant();
    const sessionId = await startCheckout(world, tenant, 20);
    const paid = world.stripe.pay(sessionId);
    const forged = {
      ...paid,
      amount_total: 3000,
      metadata: { ...paid.metadata, creditAmountMicros: String(usd(30)) },
    };
    const result = await deliver(world, 'checkout.session.completed', forged);
    expect(result.body.outcome).toBe('amount_mismatch');
    expect(await balanceMicros(world.service, tenant)).toBe(0);
    // The real (paid, not credited) session shows in the reconcile until a sync credits it.
    const report = await world.service.call('POST', creditsPath(tenant, 'reconcile'), {
      token: tenant.keys.admin,
    });
    expect(report.body.ok).toBe(false);
    expect(report.body.differences).toEqual([
      expect.objectContaining({ kind: 'paid_session_not_credited', sessionId, expectedUsd: 20 }),
    ]);
    const sync = await world.service.call('POST', creditsPath(tenant, `checkout-session/${sessionId}/sync`), {
      token: tenant.keys.billing,
    });
    expect(sync.body).toMatchObject({ outcome: 'credited', balanceUsd: 20 });
    await expectConsistent(world.service, tenant);
  });
});

describe('refunds', () => {
  it('debits a full refund, referencing the charge and the session', async () => {
    const tenant = await world.service.createTenant();
    const sessionId = await buy(tenant, 50);
    const charge = world.stripe.refund(sessionId, 5000);
    const result = await deliver(world, 'charge.refunded', charge);
    expect(result.status, result.text).toBe(200);
    expect(result.body.outcome).toBe('refunded');
    expect(await balanceMicros(world.service, tenant)).toBe(0);
    const refunds = (await ledgerEntries(world.service, tenant)).filter((entry) => entry.type === 'refund');
    expect(refunds).toEqual([
      expect.objectContaining({
        amountMicros: -usd(50),
        balanceAfterMicros: 0,
        actor: 'stripe',
        reference: expect.objectContaining({ stripeSessionId: sessionId, stripeChargeId: charge.id }),
        reason: expect.stringContaining(charge.refunds.data[0]!.id),
      }),
    ]);
    const summary = await world.service.call('GET', creditsPath(tenant, 'summary'), {
      token: tenant.keys.billing,
    });
    expect(summary.body).toMatchObject({ balanceUsd: 0, purchasedUsd: 50, refundedUsd: 50 });
    expect((await deliver(world, 'charge.refunded', charge)).body.outcome).toBe('duplicate');
    await expectConsistent(world.service, tenant);
  });

  it('debits partial and repeated refunds once each, whatever their order or repetition', async () => {
    const tenant = await world.service.createTenant();
    const sessionId = await buy(tenant, 100);
    const afterFirst = world.stripe.refund(sessionId, 3000);
    const first = await deliver(world, 'charge.refunded', afterFirst);
    expect(first.body.outcome).toBe('refunded');
    expect(await balanceMicros(world.service, tenant)).toBe(usd(70));
    const afterSecond = world.stripe.refund(sessionId, 2000);
    const second = await deliver(world, 'charge.refunded', afterSecond);
    expect(second.body.outcome).toBe('refunded');
    expect(await balanceMicros(world.service, tenant)).toBe(usd(50));
    // Retries of both, and the first arriving again after the second: nothing more.
    for (const charge of [afterFirst, afterSecond, afterFirst, afterSecond]) {
      expect((await deliver(world, 'charge.refunded', charge)).body.outcome).toBe('duplicate');
    }
    // Concurrent deliveries of a third refund debit it once.
    const afterThird = world.stripe.refund(sessionId, 1000);
    const concurrent = await Promise.all(
      Array.from({ length: 10 }, () => deliver(world, 'charge.refunded', afterThird)),
    );
    expect(concurrent.filter((result) => result.body.outcome === 'refunded')).toHaveLength(1);
    expect(await balanceMicros(world.service, tenant)).toBe(usd(40));
    const refunds = (await ledgerEntries(world.service, tenant)).filter((entry) => entry.type === 'refund');
    expect(refunds.map((entry) => entry.amountMicros).sort((a, b) => a - b)).toEqual([
      -usd(30),
      -usd(20),
      -usd(10),
    ]);
    expect(await sessionRecord(tenant, sessionId)).toMatchObject({
      refundedMicros: usd(60),
      refundIds: expect.stringMatching(/^re_test_\w+,re_test_\w+,re_test_\w+$/),
    });
    await expectConsistent(world.service, tenant);
  });

  it('lets a refund take the balance below zero when the credits were already spent', async () => {
    const tenant = await world.service.createTenant();
    const agentId = await createMeteredAgent(world.service, tenant);
    const sessionId = await buy(tenant, 10);
    expect(await spend(world.service, tenant, agentId, usd(8))).toBe(true);
    expect(await balanceMicros(world.service, tenant)).toBe(usd(2));
    const result = await deliver(world, 'charge.refunded', world.stripe.refund(sessionId, 1000));
    expect(result.body.outcome).toBe('refunded');
    expect(await balanceMicros(world.service, tenant)).toBe(-usd(8));
    const summary = await world.service.call('GET', creditsPath(tenant, 'summary'), {
      token: tenant.keys.billing,
    });
    expect(summary.body).toMatchObject({
      balanceUsd: -8,
      spentUsd: 8,
      spentThisMonthUsd: 8,
      lowBalance: true,
    });
    // Chat stops: nothing can be reserved below zero.
    expect(await spend(world.service, tenant, agentId, 1)).toBe(false);
    await expectConsistent(world.service, tenant);
  });

  it('applies a refund that arrives before the purchase webhook: credits the purchase first, then debits', async () => {
    const tenant = await world.service.createTenant();
    const sessionId = await startCheckout(world, tenant, 60);
    const paid = world.stripe.pay(sessionId);
    const charge = world.stripe.refund(sessionId, 1500);
    const before = world.stripe.requests.length;
    const refund = await deliver(world, 'charge.refunded', charge);
    expect(refund.status, refund.text).toBe(200);
    expect(refund.body.outcome).toBe('refunded');
    // It asked Stripe which Checkout Session the payment belongs to.
    expect(world.stripe.requests.slice(before)).toEqual([
      expect.objectContaining({
        method: 'GET',
        path: '/v1/checkout/sessions',
        query: { payment_intent: paid.payment_intent, limit: '1' },
        status: 200,
      }),
    ]);
    expect(await balanceMicros(world.service, tenant)).toBe(usd(45));
    // The purchase webhook, late: already credited.
    expect((await deliver(world, 'checkout.session.completed', paid)).body.outcome).toBe('duplicate');
    expect((await deliver(world, 'charge.refunded', charge)).body.outcome).toBe('duplicate');
    expect(await balanceMicros(world.service, tenant)).toBe(usd(45));
    const types = (await ledgerEntries(world.service, tenant)).map((entry) => entry.type).sort();
    expect(types).toEqual(['purchase', 'refund']);
    await expectConsistent(world.service, tenant);
  });

  it('ignores refunds of payments that are not AI-credit purchases', async () => {
    const tenant = await world.service.createTenant();
    await buy(tenant, 10);
    const other = world.stripe.createSessionDirectly({});
    world.stripe.pay(other.id);
    const result = await deliver(world, 'charge.refunded', world.stripe.refund(other.id, 500));
    expect(result.status).toBe(200);
    expect(result.body.outcome).toBe('ignored');
    expect(await balanceMicros(world.service, tenant)).toBe(usd(10));
    await expectConsistent(world.service, tenant);
  });
});

describe('sync', () => {
  it('recovers a missed webhook, and a later webhook changes nothing', async () => {
    const tenant = await world.service.createTenant();
    const sessionId = await startCheckout(world, tenant, 35);
    const paid = world.stripe.pay(sessionId);
    // The webhook never came: the reconcile sees a paid session without its purchase.
    const report = await world.service.call('POST', creditsPath(tenant, 'reconcile'), {
      token: tenant.keys.admin,
    });
    expect(report.body).toMatchObject({ ok: false, stripeChecked: true });
    expect(report.body.differences).toEqual([
      expect.objectContaining({ kind: 'paid_session_not_credited', sessionId, expectedUsd: 35 }),
    ]);

    const sync = await world.service.call('POST', creditsPath(tenant, `checkout-session/${sessionId}/sync`), {
      token: tenant.keys.billing,
    });
    expect(sync.status, sync.text).toBe(200);
    expect(sync.body).toEqual({
      id: sessionId,
      status: 'complete',
      paymentStatus: 'paid',
      creditAmountUsd: 35,
      credited: true,
      outcome: 'credited',
      balanceUsd: 35,
    });
    const [entry] = await ledgerEntries(world.service, tenant);
    expect(entry).toMatchObject({ type: 'purchase', actor: expect.stringMatching(/^key:/) });
    expect((await deliver(world, 'checkout.session.completed', paid)).body.outcome).toBe('duplicate');
    const again = await world.service.call(
      'POST',
      creditsPath(tenant, `checkout-session/${sessionId}/sync`),
      {
        token: tenant.keys.admin,
      },
    );
    expect(again.body).toMatchObject({ outcome: 'already_credited', balanceUsd: 35 });
    await expectConsistent(world.service, tenant);
  });

  it('credits nothing for an unpaid or expired session, and stops asking Stripe about an expired one', async () => {
    const tenant = await world.service.createTenant();
    const open = await startCheckout(world, tenant, 15);
    const unpaid = await world.service.call('POST', creditsPath(tenant, `checkout-session/${open}/sync`), {
      token: tenant.keys.billing,
    });
    expect(unpaid.body).toMatchObject({
      outcome: 'not_paid',
      credited: false,
      status: 'open',
      balanceUsd: 0,
    });
    world.stripe.expire(open);
    const expired = await world.service.call('POST', creditsPath(tenant, `checkout-session/${open}/sync`), {
      token: tenant.keys.billing,
    });
    expect(expired.body).toMatchObject({ outcome: 'not_paid', status: 'expired' });
    expect((await sessionRecord(tenant, open))?.status).toBe('expired');
    const before = world.stripe.requests.length;
    await expectConsistent(world.service, tenant);
    expect(world.stripe.requests.length).toBe(before);
  });

  it("answers 404 for another organization's session and for sessions it never started", async () => {
    const tenant = await world.service.createTenant();
    const other = await world.service.createTenant();
    const theirs = await startCheckout(world, other, 10);
    world.stripe.pay(theirs);
    for (const sessionId of [theirs, 'cs_test_doesnotexist', 'not-a-session']) {
      const response = await world.service.call(
        'POST',
        creditsPath(tenant, `checkout-session/${sessionId}/sync`),
        {
          token: tenant.keys.admin,
        },
      );
      expect(response.status, sessionId).toBe(404);
      expect(response.body.error.code).toBe('checkout_session_not_found');
    }
    // A session Stripe made directly, though its metadata names this organization, was never
    // started here: no record, 404 (and the webhook credits no one for it).
    const direct = world.stripe.createSessionDirectly({
      client_reference_id: tenant.organizationId,
      metadata: {
        purpose: 'ai_credits',
        organizationId: tenant.organizationId,
        creditAmountMicros: String(usd(10)),
      },
    });
    const response = await world.service.call(
      'POST',
      creditsPath(tenant, `checkout-session/${direct.id}/sync`),
      {
        token: tenant.keys.admin,
      },
    );
    expect(response.status).toBe(404);
    expect(await balanceMicros(world.service, tenant)).toBe(0);
    expect(await balanceMicros(world.service, other)).toBe(0);
    await expectConsistent(world.service, tenant);
  });
});

describe('who may buy', () => {
  it('lets admin and billing buy; developer and viewer may not; viewers do not read the ledger', async () => {
    const tenant = await world.service.createTenant();
    for (const [role, status] of [
      ['viewer', 403],
      ['developer', 403],
      ['billing', 201],
      ['admin', 201],
    ] as const) {
      const response = await world.service.call('POST', creditsPath(tenant, 'checkout-session'), {
        token: tenant.keys[role],
        body: { creditAmountUsd: 10 },
      });
      expect(response.status, role).toBe(status);
      if (status === 403)
        expect(response.body.error).toMatchObject({
          code: 'insufficient_permissions',
          requiredPermission: 'billing:manage',
        });
    }
    const sessionId = await startCheckout(world, tenant, 10);
    for (const [role, status] of [
      ['viewer', 403],
      ['developer', 403],
      ['billing', 200],
    ] as const) {
      const response = await world.service.call(
        'POST',
        creditsPath(tenant, `checkout-session/${sessionId}/sync`),
        {
          token: tenant.keys[role],
        },
      );
      expect(response.status, role).toBe(status);
    }
    for (const [role, status] of [
      ['viewer', 403],
      ['developer', 200],
      ['billing', 200],
    ] as const) {
      for (const path of ['summary', 'ledger']) {
        const response = await world.service.call('GET', creditsPath(tenant, path), {
          token: tenant.keys[role],
        });
        expect(response.status, `${role} ${path}`).toBe(status);
      }
    }
    for (const [role, status] of [
      ['billing', 403],
      ['developer', 403],
      ['admin', 200],
    ] as const) {
      const response = await world.service.call('POST', creditsPath(tenant, 'reconcile'), {
        token: tenant.keys[role],
      });
      expect(response.status, role).toBe(status);
    }
    // Another organization's key sees nothing of this one.
    const stranger = await world.service.createTenant();
    const foreign = await world.service.call('POST', creditsPath(tenant, 'checkout-session'), {
      token: stranger.keys.billing,
      body: { creditAmountUsd: 10 },
    });
    expect(foreign.status).toBe(404);
  });
});

describe('without Stripe configured', () => {
  it('answers 503 billing_not_configured to checkout, sync and the webhook', async () => {
    const service = await startTestService({ MCPSTACK_FREE_CREDITS_USD: '0' });
    try {
      const tenant = await service.createTenant();
      const checkout = await service.call('POST', creditsPath(tenant, 'checkout-session'), {
        token: tenant.keys.billing,
        body: { creditAmountUsd: 10 },
      });
      expect(checkout.status).toBe(503);
      expect(checkout.body.error.code).toBe('billing_not_configured');
      expect(checkout.body.error.message).toContain('STRIPE_SECRET_KEY');
      // A session recorded while Stripe was configured can no longer be synced.
      const keys = service.deps.keys.organization(tenant.organizationId);
      await service.deps.redis.hset(
        keys.stripeCheckoutSessions,
        'cs_test_old',
        JSON.stringify({
          id: 'cs_test_old',
          organizationId: tenant.organizationId,
          amountMicros: 10_000_000,
          status: 'open',
          credited: false,
          createdAt: new Date().toISOString(),
          createdBy: 'operator',
          creditedAt: null,
          ledgerEntryId: null,
          paymentIntentId: null,
          refundedMicros: 0,
          refundIds: '',
        }),
      );
      const sync = await service.call('POST', creditsPath(tenant, 'checkout-session/cs_test_old/sync'), {
        token: tenant.keys.billing,
      });
      expect(sync.status).toBe(503);
      expect(sync.body.error.code).toBe('billing_not_configured');
      const webhook = await postWebhook(service, '{"id":"evt_1","object":"event"}', 't=1,v1=abc');
      expect(webhook.status).toBe(503);
      expect(webhook.body.error.code).toBe('billing_not_configured');
      // The ledger and the summary still answer; the reconcile says what it could not check.
      const summary = await service.call('GET', creditsPath(tenant, 'summary'), {
        token: tenant.keys.billing,
      });
      expect(summary.status).toBe(200);
      const report = await service.call('POST', creditsPath(tenant, 'reconcile'), {
        token: tenant.keys.admin,
      });
      expect(report.body).toMatchObject({ ok: true, stripeChecked: false });
      expect(report.body.warnings[0]).toContain('Stripe is not configured');
    } finally {
      await service.stop();
    }
  });
});

describe('the fake Stripe holds the service to the real API', () => {
  it("refuses what Stripe's API refuses, with Stripe's error shapes (through the official SDK)", async () => {
    const client = new Stripe(world.stripe.secretKey, {
      host: '127.0.0.1',
      port: new URL(world.stripe.url).port,
      protocol: 'http',
      maxNetworkRetries: 0,
    });
    const valid = {
      mode: 'payment' as const,
      success_url: 'https://example.com/done',
      line_items: [
        { quantity: 1, price_data: { currency: 'usd', unit_amount: 500, product_data: { name: 'Credits' } } },
      ],
    };
    const refusal = (params: Record<string, unknown>, options?: { idempotencyKey: string }) =>
      client.checkout.sessions.create(params as never, options).then(
        () => null,
        (error: unknown) => error as InstanceType<typeof Stripe.errors.StripeError>,
      );
    const { success_url: _success, ...withoutSuccessUrl } = valid;
    expect(await refusal(withoutSuccessUrl)).toMatchObject({
      type: 'StripeInvalidRequestError',
      param: 'success_url',
    });
    expect(await refusal({ ...valid, mode: undefined })).toMatchObject({
      param: 'mode',
      code: 'parameter_missing',
    });
    expect(await refusal({ ...valid, surprise: 'x' })).toMatchObject({ param: 'surprise' });
    expect(
      await refusal({
        ...valid,
        line_items: [{ quantity: 1, price_data: { currency: 'usd', unit_amount: 500 } }],
      }),
    ).toMatchObject({ param: 'line_items[0][price_data][product_data]' });
    expect(
      await refusal({ ...valid, line_items: [{ price_data: valid.line_items[0]!.price_data }] }),
    ).toMatchObject({ param: 'line_items[0][quantity]' });
    expect(
      await refusal({
        ...valid,
        line_items: [{ quantity: 1, price_data: { ...valid.line_items[0]!.price_data, unit_amount: 20 } }],
      }),
    ).toMatchObject({ code: 'amount_too_small' });
    expect(await refusal({ ...valid, metadata: { ['k'.repeat(41)]: 'v' } })).toMatchObject({
      type: 'StripeInvalidRequestError',
    });
    expect(await refusal(valid, { idempotencyKey: 'same-key' })).toBeNull();
    expect(
      await refusal({ ...valid, success_url: 'https://example.com/other' }, { idempotencyKey: 'same-key' }),
    ).toMatchObject({ type: 'StripeIdempotencyError' });
    const missing = await client.checkout.sessions.retrieve('cs_test_nope').catch((error: unknown) => error);
    expect(missing).toMatchObject({ code: 'resource_missing', statusCode: 404 });
  });

  it('answers 502 payment_provider_error when Stripe refuses the service (a wrong secret key)', async () => {
    const service = await startTestService({
      STRIPE_SECRET_KEY: 'sk_test_wrong',
      STRIPE_WEBHOOK_SECRET: world.stripe.webhookSecret,
      STRIPE_API_BASE: world.stripe.url,
    });
    try {
      const tenant = await service.createTenant();
      const response = await service.call('POST', creditsPath(tenant, 'checkout-session'), {
        token: tenant.keys.billing,
        body: { creditAmountUsd: 10 },
      });
      expect(response.status).toBe(502);
      expect(response.body.error).toMatchObject({ code: 'payment_provider_error', providerStatus: 401 });
      expect(service.logs.join('')).not.toContain('sk_test_wrong');
    } finally {
      await service.stop();
    }
  });
});
