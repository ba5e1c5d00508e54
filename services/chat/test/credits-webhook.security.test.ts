import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  balanceMicros,
  type CreditWorld,
  creditsPath,
  deliver,
  expectConsistent,
  ledgerEntries,
  postWebhook,
  startCheckout,
  startCreditWorld,
} from './support/credits.ts';
import type { Tenant } from './support/harness.ts';

let world: CreditWorld;

beforeAll(async () => {
  world = await startCreditWorld({ MCPSTACK_MAX_BODY_BYTES: '65536' });
});
afterAll(() => world?.stop());

/** A paid session whose `checkout.session.completed` is ready to send, and a check that nothing moved. */
async function paidCheckout(tenant: Tenant, amountUsd = 10) {
  const sessionId = await startCheckout(world, tenant, amountUsd);
  const session = world.stripe.pay(sessionId);
  const { id, payload } = world.stripe.event('checkout.session.completed', session);
  return { sessionId, eventId: id, payload };
}

/**
 * Nothing moved: no balance, no entry, no processed event. When the refused delivery was for a real
 * paid session, the reconcile reports exactly that session as paid but not credited, and a sync
 * recovers it; the ledger is consistent after.
 */
async function expectNothingApplied(tenant: Tenant, paidSessionId: string | null) {
  expect(await balanceMicros(world.service, tenant)).toBe(0);
  expect(await ledgerEntries(world.service, tenant)).toEqual([]);
  const events = await world.service.deps.history.database.query(
    'SELECT id FROM stripe_events WHERE organization_id = $1',
    [tenant.organizationId],
  );
  expect(events).toEqual([]);
  if (paidSessionId !== null) {
    const report = await world.service.call('POST', creditsPath(tenant, 'reconcile'), {
      token: tenant.keys.admin,
    });
    expect(report.body.differences).toEqual([
      expect.objectContaining({ kind: 'paid_session_not_credited', sessionId: paidSessionId }),
    ]);
    const sync = await world.service.call(
      'POST',
      creditsPath(tenant, `checkout-session/${paidSessionId}/sync`),
      {
        token: tenant.keys.billing,
      },
    );
    expect(sync.body.outcome).toBe('credited');
  }
  await expectConsistent(world.service, tenant);
}

async function expectRefused(payload: string, signature: string | null, contentType?: string) {
  const response = await world.service.call('POST', '/api/v1/webhooks/stripe', {
    token: null,
    rawBody: payload,
    headers: {
      'content-type': contentType ?? 'application/json',
      ...(signature !== null && { 'stripe-signature': signature }),
    },
  });
  expect(response.status, response.text).toBe(400);
  expect(response.body.error.code).toBe('invalid_signature');
  return response;
}

describe('the Stripe webhook refuses what Stripe did not sign', () => {
  it('refuses a signature made with another secret', async () => {
    const tenant = await world.service.createTenant();
    const { payload, sessionId } = await paidCheckout(tenant);
    await expectRefused(payload, world.stripe.sign(payload, { secret: 'whsec_someone_else' }));
    await expectNothingApplied(tenant, sessionId);
  });

  it('refuses a body changed after signing, even only its whitespace', async () => {
    const tenant = await world.service.createTenant();
    const { payload, sessionId } = await paidCheckout(tenant);
    const signature = world.stripe.sign(payload);
    const tampered = payload.replace('"amount_total": 1000', '"amount_total": 100000');
    expect(tampered).not.toBe(payload);
    await expectRefused(tampered, signature);
    // Same JSON, re-serialized: the signature covers bytes, so the raw body is what is checked.
    await expectRefused(JSON.stringify(JSON.parse(payload)), signature);
    await expectNothingApplied(tenant, sessionId);
  });

  it('refuses a missing, empty or malformed Stripe-Signature header', async () => {
    const tenant = await world.service.createTenant();
    const { payload, sessionId } = await paidCheckout(tenant);
    const valid = world.stripe.sign(payload);
    const timestamp = valid.split(',')[0]!;
    for (const signature of [
      null,
      '',
      'garbage',
      `${timestamp}`,
      `${timestamp},v0=${valid.split('v1=')[1]}`,
      'v1=abc',
    ]) {
      const response = await expectRefused(payload, signature);
      expect(response.body.error.message).toBeTruthy();
    }
    await expectNothingApplied(tenant, sessionId);
  });

  it('refuses a stale timestamp: a captured delivery replayed after the 300-second tolerance', async () => {
    const tenant = await world.service.createTenant();
    const { payload } = await paidCheckout(tenant);
    const stale = Math.floor(Date.now() / 1000) - 301;
    const response = await expectRefused(payload, world.stripe.sign(payload, { timestamp: stale }));
    expect(response.body.error.message).toContain('tolerance');
    expect(await balanceMicros(world.service, tenant)).toBe(0);
    expect(await ledgerEntries(world.service, tenant)).toEqual([]);
    // Within the tolerance, the same body is accepted.
    const fresh = Math.floor(Date.now() / 1000) - 240;
    const accepted = await postWebhook(
      world.service,
      payload,
      world.stripe.sign(payload, { timestamp: fresh }),
    );
    expect(accepted.body.outcome).toBe('credited');
    await expectConsistent(world.service, tenant);
  });

  it('refuses a timestamp beyond the tolerance in the future: a delivery signed ahead for later replay', async () => {
    const tenant = await world.service.createTenant();
    const { payload, sessionId } = await paidCheckout(tenant);
    const ahead = Math.floor(Date.now() / 1000) + 301;
    const response = await expectRefused(payload, world.stripe.sign(payload, { timestamp: ahead }));
    expect(response.body.error.message).toContain('future');
    const farAhead = Math.floor(Date.now() / 1000) + 86_400 * 365;
    await expectRefused(payload, world.stripe.sign(payload, { timestamp: farAhead }));
    await expectNothingApplied(tenant, sessionId);
  });

  it('accepts a clock a little ahead, within the tolerance', async () => {
    const tenant = await world.service.createTenant();
    const { payload } = await paidCheckout(tenant, 7);
    const ahead = Math.floor(Date.now() / 1000) + 240;
    const accepted = await postWebhook(
      world.service,
      payload,
      world.stripe.sign(payload, { timestamp: ahead }),
    );
    expect(accepted.body.outcome).toBe('credited');
    expect(await balanceMicros(world.service, tenant)).toBe(7_000_000);
    await expectConsistent(world.service, tenant);
  });

  it('replays of an old event change nothing: stale ones are refused, re-signed ones are duplicates', async () => {
    const tenant = await world.service.createTenant();
    const { payload, eventId } = await paidCheckout(tenant, 12);
    const first = await postWebhook(world.service, payload, world.stripe.sign(payload));
    expect(first.body).toMatchObject({ outcome: 'credited', eventId });
    const captured = world.stripe.sign(payload, { timestamp: Math.floor(Date.now() / 1000) - 3600 });
    await expectRefused(payload, captured);
    // Stripe's own "resend" of an old event (a new signature over the old body).
    const resent = await postWebhook(world.service, payload, world.stripe.sign(payload));
    expect(resent.body.outcome).toBe('duplicate');
    expect(await balanceMicros(world.service, tenant)).toBe(12_000_000);
    await expectConsistent(world.service, tenant);
  });

  it('refuses a signed body that is not a Stripe event, and bodies that are not JSON', async () => {
    const tenant = await world.service.createTenant();
    for (const body of ['{"hello":"world"}', '[]', 'not json']) {
      await expectRefused(body, world.stripe.sign(body));
    }
    const { payload, sessionId } = await paidCheckout(tenant);
    const plain = await world.service.call('POST', '/api/v1/webhooks/stripe', {
      token: null,
      rawBody: payload,
      headers: { 'content-type': 'text/plain', 'stripe-signature': world.stripe.sign(payload) },
    });
    expect(plain.status).toBe(415);
    const huge = JSON.stringify({ id: 'evt_big', object: 'event', padding: 'x'.repeat(70_000) });
    const tooLarge = await postWebhook(world.service, huge, world.stripe.sign(huge));
    expect(tooLarge.status).toBe(413);
    await expectNothingApplied(tenant, sessionId);
  });

  it('credits the organization that started the session, whatever organization a signed event names', async () => {
    const buyer = await world.service.createTenant();
    const other = await world.service.createTenant();
    const sessionId = await startCheckout(world, buyer, 10);
    const paid = world.stripe.pay(sessionId);
    // The session's own id, with both organization fields pointing at another organization (metadata
    // is editable in Stripe after checkout): signed, so only our record can say whose it is.
    const forged = {
      ...paid,
      client_reference_id: other.organizationId,
      metadata: { ...paid.metadata, organizationId: other.organizationId },
    };
    const delivered = await deliver(world, 'checkout.session.completed', forged);
    expect(delivered.status, delivered.text).toBe(200);
    expect(delivered.body.outcome).toBe('credited');
    expect(await balanceMicros(world.service, buyer)).toBe(10_000_000);
    expect(await balanceMicros(world.service, other)).toBe(0);
    expect(await ledgerEntries(world.service, other)).toEqual([]);
    expect(world.service.logs.join('')).toContain('names another organization than the one that started it');

    // The genuine event, a forged one again and a sync: the one purchase stays the buyer's.
    expect((await deliver(world, 'checkout.session.completed', paid)).body.outcome).toBe('duplicate');
    expect((await deliver(world, 'checkout.session.completed', forged)).body.outcome).toBe('duplicate');
    const foreignSync = await world.service.call(
      'POST',
      creditsPath(other, `checkout-session/${sessionId}/sync`),
      { token: other.keys.billing },
    );
    expect(foreignSync.status).toBe(404);

    // The refund finds the buyer's purchase: the payment was never re-pointed.
    const refunded = await deliver(world, 'charge.refunded', world.stripe.refund(sessionId, 400));
    expect(refunded.body.outcome).toBe('refunded');
    expect(await balanceMicros(world.service, buyer)).toBe(6_000_000);
    expect(await balanceMicros(world.service, other)).toBe(0);
    const purchases = (await ledgerEntries(world.service, buyer)).filter(
      (entry) => entry.type === 'purchase',
    );
    expect(purchases).toHaveLength(1);
    await expectConsistent(world.service, buyer);
    await expectNothingApplied(other, null);
  });

  it('credits no one for a paid session this service never started, even one naming an organization', async () => {
    const tenant = await world.service.createTenant();
    const direct = world.stripe.createSessionDirectly({
      amount_total: 1000,
      client_reference_id: tenant.organizationId,
      metadata: {
        purpose: 'ai_credits',
        organizationId: tenant.organizationId,
        creditAmountMicros: '10000000',
      },
    });
    const delivered = await deliver(world, 'checkout.session.completed', world.stripe.pay(direct.id));
    expect(delivered.body.outcome).toBe('rejected');
    await expectNothingApplied(tenant, null);
  });

  it('credits only the organization the session names, whoever sends it', async () => {
    const buyer = await world.service.createTenant();
    const bystander = await world.service.createTenant();
    const sessionId = await startCheckout(world, buyer, 9);
    const delivered = await deliver(world, 'checkout.session.completed', world.stripe.pay(sessionId));
    expect(delivered.body.outcome).toBe('credited');
    expect(await balanceMicros(world.service, buyer)).toBe(9_000_000);
    await expectNothingApplied(bystander, null);
    await expectConsistent(world.service, buyer);
  });
});
