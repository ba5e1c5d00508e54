import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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
import type { Tenant } from './support/harness.ts';

/** mulberry32: a small seeded PRNG, so a failing interleaving can be replayed with its seed. */
function prng(seed: number) {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
  return {
    next,
    int: (min: number, max: number) => min + Math.floor(next() * (max - min + 1)),
    pick: <T>(items: readonly T[]): T | undefined => items[Math.floor(next() * items.length)],
    chance: (probability: number) => next() < probability,
  };
}

const seed = Number(process.env.CREDITS_PROPERTY_SEED ?? 20_261_123);
const operations = 200;

let world: CreditWorld;

beforeAll(async () => {
  world = await startCreditWorld({ MCPSTACK_CREDITS_MIN_PURCHASE_USD: '1' });
});
afterAll(() => world?.stop());

interface Purchase {
  sessionId: string;
  paid: boolean;
  /** Every payload delivered (or withheld) for this purchase, to replay as duplicates. */
  payloads: string[];
}

describe('a random interleaving of purchases, usage and refunds', () => {
  it(`keeps balance = sum of the entries, one purchase per paid session, and the reconcile clean (seed ${seed})`, async () => {
    const random = prng(seed);
    const tenant: Tenant = await world.service.createTenant();
    const agents = [
      await createMeteredAgent(world.service, tenant),
      await createMeteredAgent(world.service, tenant),
    ];
    const purchases: Purchase[] = [];
    const counts: Record<string, number> = {};
    let spentMicros = 0;

    /** Sends a payload unless the delivery is "lost" (Stripe never reached us: sync or a later event recovers). */
    const send = async (purchase: Purchase, type: string, object: unknown) => {
      const { payload } = world.stripe.event(type, object);
      purchase.payloads.push(payload);
      if (random.chance(0.2)) return;
      const result = await postWebhook(world.service, payload, world.stripe.sign(payload));
      expect(result.status, result.text).toBe(200);
    };

    const steps: Record<string, () => Promise<void> | undefined> = {
      async checkout() {
        const cents = random.int(100, 20_000);
        purchases.push({
          sessionId: await startCheckout(world, tenant, cents / 100),
          paid: false,
          payloads: [],
        });
      },
      pay() {
        const purchase = random.pick(purchases.filter((candidate) => !candidate.paid));
        if (!purchase) return undefined;
        purchase.paid = true;
        if (random.chance(0.3)) {
          // A bank debit: completed while processing, then succeeded (the two may race).
          const processing = world.stripe.pay(purchase.sessionId, { async: true });
          const succeeded = world.stripe.succeedAsyncPayment(purchase.sessionId);
          return Promise.all([
            send(purchase, 'checkout.session.completed', processing),
            send(purchase, 'checkout.session.async_payment_succeeded', succeeded),
          ]).then(() => undefined);
        }
        return send(purchase, 'checkout.session.completed', world.stripe.pay(purchase.sessionId));
      },
      duplicate() {
        const purchase = random.pick(purchases.filter((candidate) => candidate.payloads.length > 0));
        const payload = purchase && random.pick(purchase.payloads);
        if (!payload) return undefined;
        return postWebhook(world.service, payload, world.stripe.sign(payload)).then((result) => {
          expect(result.status, result.text).toBe(200);
        });
      },
      sync() {
        const purchase = random.pick(purchases);
        if (!purchase) return undefined;
        return world.service
          .call('POST', creditsPath(tenant, `checkout-session/${purchase.sessionId}/sync`), {
            token: tenant.keys.billing,
          })
          .then((result) => expect(result.status, result.text).toBe(200));
      },
      async usage() {
        const cost = random.int(1, 3_000_000);
        if (await spend(world.service, tenant, random.pick(agents)!, cost)) spentMicros += cost;
      },
      refund() {
        const purchase = random.pick(
          purchases.filter(
            (candidate) =>
              candidate.paid &&
              world.stripe.chargeOf(candidate.sessionId).amount_refunded <
                world.stripe.chargeOf(candidate.sessionId).amount,
          ),
        );
        if (!purchase) return undefined;
        const charge = world.stripe.chargeOf(purchase.sessionId);
        const left = charge.amount - charge.amount_refunded;
        const cents = random.chance(0.3) ? left : random.int(1, left);
        return send(purchase, 'charge.refunded', world.stripe.refund(purchase.sessionId, cents));
      },
    };
    const weights: [string, number][] = [
      ['checkout', 4],
      ['pay', 4],
      ['duplicate', 3],
      ['sync', 1],
      ['usage', 6],
      ['refund', 2],
    ];
    const total = weights.reduce((sum, [, weight]) => sum + weight, 0);
    const choose = () => {
      let roll = random.next() * total;
      for (const [name, weight] of weights) {
        roll -= weight;
        if (roll < 0) return name;
      }
      return 'usage';
    };

    let done = 0;
    while (done < operations) {
      // A batch runs concurrently: its deliveries, syncs and settles interleave in Redis.
      const batch = Array.from({ length: Math.min(random.int(1, 6), operations - done) }, choose);
      done += batch.length;
      await Promise.all(
        batch.map((name) => {
          counts[name] = (counts[name] ?? 0) + 1;
          return steps[name]!();
        }),
      );
      if (done % 40 < batch.length) {
        const entries = await ledgerEntries(world.service, tenant);
        expect(await balanceMicros(world.service, tenant)).toBe(
          entries.reduce((sum, entry) => sum + entry.amountMicros, 0),
        );
      }
    }

    // Recover every lost delivery: sync each session, then deliver each charge's latest state.
    for (const purchase of purchases) {
      const result = await world.service.call(
        'POST',
        creditsPath(tenant, `checkout-session/${purchase.sessionId}/sync`),
        {
          token: tenant.keys.admin,
        },
      );
      expect(result.status, result.text).toBe(200);
      if (purchase.paid) {
        const charge = world.stripe.chargeOf(purchase.sessionId);
        if (charge.amount_refunded > 0)
          expect((await deliver(world, 'charge.refunded', charge)).status).toBe(200);
      }
    }

    // The truth, from Stripe's side and the settled usage: every paid session credited once, every
    // refunded cent debited once, every settled call debited.
    let paidMicros = 0;
    let refundedMicros = 0;
    for (const purchase of purchases.filter((candidate) => candidate.paid)) {
      const charge = world.stripe.chargeOf(purchase.sessionId);
      paidMicros += charge.amount * 10_000;
      refundedMicros += charge.amount_refunded * 10_000;
    }
    const balance = await expectConsistent(world.service, tenant);
    expect(balance).toBe(paidMicros - refundedMicros - spentMicros);
    const entries = await ledgerEntries(world.service, tenant);
    const paidCount = purchases.filter((purchase) => purchase.paid).length;
    expect(entries.filter((entry) => entry.type === 'purchase')).toHaveLength(paidCount);
    expect(
      entries.filter((entry) => entry.type === 'usage').reduce((sum, entry) => sum - entry.amountMicros, 0),
    ).toBe(spentMicros);
    // The run exercised what it claims to.
    for (const name of ['checkout', 'pay', 'duplicate', 'usage', 'refund'])
      expect(counts[name], name).toBeGreaterThan(5);
    expect(paidCount).toBeGreaterThan(5);
    expect(refundedMicros).toBeGreaterThan(0);
  });
});
