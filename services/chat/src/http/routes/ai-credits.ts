import { creditsLowHeader } from '@mcpstack/chat-protocol';
import { z } from 'zod';
import type { AuthenticatedPrincipal } from '../../domain/auth/permissions.ts';
import { adjustCredits, adjustmentInput } from '../../domain/credits/adjustments.ts';
import { checkoutInput, createCreditCheckout, syncCreditCheckout } from '../../domain/credits/checkout.ts';
import { ledgerFilterOf, ledgerQuery, listLedger } from '../../domain/credits/ledger.ts';
import { ledgerCsv } from '../../domain/credits/ledger-csv.ts';
import { ledgerEntryRecord, viewLedgerEntry } from '../../domain/credits/ledger-entry.ts';
import { reconcileCredits } from '../../domain/credits/reconcile.ts';
import {
  creditSummary,
  lowBalanceThresholdMicros,
  setLowBalanceThreshold,
} from '../../domain/credits/summary.ts';
import { microsToUsd, usdToMicros } from '../../domain/money.ts';
import { adminRoutes } from '../route.ts';
import { errorResponse, idParam, orgParams, page } from '../schemas.ts';

const usd = z.number().describe('USD');

const checkoutResponse = z.object({
  id: z.string().describe('The Stripe Checkout Session id (cs_…).'),
  url: z.string().describe('Send the buyer here to pay.'),
  creditAmountUsd: usd,
  status: z.string(),
});

const syncResponse = z.object({
  id: z.string(),
  status: z.string().nullable(),
  paymentStatus: z.string(),
  creditAmountUsd: usd,
  credited: z.boolean(),
  outcome: z.enum(['credited', 'already_credited', 'not_paid', 'rejected']),
  balanceUsd: usd,
});

const summaryResponse = z.object({
  currency: z.literal('USD'),
  balanceUsd: usd,
  reservedUsd: usd.describe('Held by chat turns in flight.'),
  availableUsd: usd,
  purchasedUsd: usd,
  grantedUsd: usd,
  refundedUsd: usd,
  adjustedUsd: usd,
  spentUsd: usd.describe('Usage, all time.'),
  spentThisMonthUsd: usd.describe('Usage in the current calendar month (UTC).'),
  month: z.string(),
  lowBalance: z.boolean(),
  lowBalanceThresholdUsd: usd,
});

/** The stored ledger entry in USD, the one shape every route shows it in. */
export const ledgerEntryView = ledgerEntryRecord
  .omit({ organizationId: true, amountMicros: true, balanceAfterMicros: true })
  .extend({
    amountUsd: usd.describe('Signed: credits in are positive, debits negative.'),
    balanceAfterUsd: usd,
  });

export const reconcileResponse = z.object({
  organizationId: z.string(),
  ok: z.boolean(),
  checkedAt: z.string(),
  balanceUsd: usd,
  ledgerSumUsd: usd,
  entryCount: z.number().int(),
  undrainedCount: z
    .number()
    .int()
    .describe('Entries still in the Redis outbox, not yet in PostgreSQL (counted from Redis).'),
  checkoutSessionCount: z.number().int(),
  creditedSessionCount: z.number().int(),
  stripeChecked: z.boolean(),
  differences: z.array(
    z.object({
      kind: z.string(),
      message: z.string(),
      sessionId: z.string().optional(),
      entryId: z.string().optional(),
      expectedUsd: usd.optional(),
      actualUsd: usd.optional(),
    }),
  ),
  warnings: z.array(z.string()),
});

const stripeErrors = {
  502: { description: 'payment_provider_error: Stripe failed or refused the call', schema: errorResponse },
  503: { description: 'billing_not_configured: STRIPE_SECRET_KEY is unset', schema: errorResponse },
} as const;

function actorOf(principal: AuthenticatedPrincipal): string {
  return principal.kind === 'operator' ? 'operator' : `key:${principal.keyId}`;
}

function wantsCsv(format: string | undefined, accept: string | string[] | undefined): boolean {
  if (format !== undefined) return format === 'csv';
  const value = Array.isArray(accept) ? accept.join(',') : (accept ?? '');
  return /(^|,)\s*text\/csv\s*(;|,|$)/i.test(value);
}

const creditSettings = z.object({
  lowBalanceThresholdUsd: z
    .number()
    .min(0)
    .max(1_000_000)
    .describe(
      `Below this balance the summary says lowBalance, chat answers carry ${creditsLowHeader}, and a credits.low_balance webhook event fires when a call crosses it.`,
    ),
});

const creditSettingsInput = z
  .object({
    lowBalanceThresholdUsd: z
      .number()
      .min(0)
      .max(1_000_000)
      .nullable()
      .describe("The organization's own threshold; null gives it back to the service's default."),
  })
  .strict();

const creditRoute = adminRoutes('AI credits');

export const aiCreditRoutes = [
  creditRoute({
    method: 'get',
    path: '/api/v1/organizations/{orgId}/ai-credits/settings',
    operationId: 'getAiCreditSettings',
    summary: "Get the organization's credit settings: its low-balance threshold.",
    permission: 'billing:read',
    params: orgParams,
    responses: { 200: { description: 'The settings', schema: creditSettings } },
    async handle({ deps, params }) {
      return {
        body: { lowBalanceThresholdUsd: microsToUsd(await lowBalanceThresholdMicros(deps, params.orgId)) },
      };
    },
  }),
  creditRoute({
    method: 'put',
    path: '/api/v1/organizations/{orgId}/ai-credits/settings',
    operationId: 'setAiCreditSettings',
    summary: "Set the organization's low-balance threshold (null: the service's default).",
    permission: 'billing:manage',
    params: orgParams,
    body: creditSettingsInput,
    responses: { 200: { description: 'The settings', schema: creditSettings } },
    async handle({ deps, params, body }) {
      const threshold = await setLowBalanceThreshold(deps, params.orgId, body.lowBalanceThresholdUsd);
      return { body: { lowBalanceThresholdUsd: microsToUsd(threshold) } };
    },
  }),
  creditRoute({
    method: 'get',
    path: '/api/v1/organizations/{orgId}/ai-credits/summary',
    operationId: 'getAiCreditSummary',
    summary:
      'Get the AI-credit balance, what was bought, granted, refunded and spent, and the low-balance flag.',
    permission: 'billing:read',
    params: orgParams,
    responses: { 200: { description: 'The summary', schema: summaryResponse } },
    async handle({ deps, params }) {
      return { body: await creditSummary(deps, params.orgId) };
    },
  }),
  creditRoute({
    method: 'get',
    path: '/api/v1/organizations/{orgId}/ai-credits/ledger',
    operationId: 'getAiCreditLedger',
    summary: 'Get the AI-credit ledger, newest first: JSON pages, or CSV (Accept: text/csv or ?format=csv).',
    description:
      'Filters combine: `category`, `type`, `agentId`, and the time range `from` (inclusive) to `to` (exclusive). The CSV holds every matching entry (up to 100,000 rows; `X-Next-Cursor` continues past that), with a header row, RFC 4180 quoting and formula-looking cells neutralized. The ledger is read from PostgreSQL: an entry written in the last moments (a call that just ended, a payment just credited) appears within the drain lag, well under a second; the balance in the summary is always current.',
    permission: 'billing:read',
    params: orgParams,
    query: ledgerQuery,
    responses: {
      200: {
        description: 'A page of entries (or, asked for, the CSV)',
        schema: page(ledgerEntryView),
        otherMediaTypes: ['text/csv'],
      },
    },
    async handle({ deps, params, query, headers }) {
      const filter = ledgerFilterOf(query);
      if (wantsCsv(query.format, headers.accept)) {
        const { csv, nextCursor } = await ledgerCsv(deps, params.orgId, filter, query.cursor);
        const day = deps.clock.now().toISOString().slice(0, 10);
        return {
          text: csv,
          headers: {
            'Content-Type': 'text/csv; charset=utf-8',
            'Content-Disposition': `attachment; filename="ai-credits-ledger-${params.orgId}-${day}.csv"`,
            ...(nextCursor && { 'X-Next-Cursor': nextCursor }),
          },
        };
      }
      const result = await listLedger(deps, params.orgId, filter, query);
      return { body: { data: result.data.map(viewLedgerEntry), nextCursor: result.nextCursor } };
    },
  }),
  creditRoute({
    method: 'post',
    path: '/api/v1/organizations/{orgId}/ai-credits/adjustments',
    operationId: 'adjustAiCredits',
    summary: 'Grant (positive) or debit (negative) AI credits by hand, with a reason for the ledger.',
    permission: 'billing:adjust',
    params: orgParams,
    body: adjustmentInput,
    responses: {
      201: { description: 'The ledger entry', schema: ledgerEntryView },
      409: { description: 'insufficient_credits: a debit below zero', schema: errorResponse },
    },
    async handle({ deps, params, body, principal }) {
      const entry = await adjustCredits(deps, params.orgId, {
        type: 'adjustment',
        amountMicros: usdToMicros(body.amountUsd),
        actor: actorOf(principal),
        reason: body.reason,
      });
      return { status: 201, body: viewLedgerEntry(entry) };
    },
  }),
  creditRoute({
    method: 'post',
    path: '/api/v1/organizations/{orgId}/ai-credits/checkout-session',
    operationId: 'createAiCreditCheckoutSession',
    summary: 'Start buying AI credits: a Stripe Checkout Session for the amount; send the buyer to its URL.',
    description:
      'Credits are added when Stripe reports the payment (webhook) or on sync, exactly once. The amount must be whole cents within MCPSTACK_CREDITS_MIN_PURCHASE_USD and MCPSTACK_CREDITS_MAX_PURCHASE_USD.',
    permission: 'billing:manage',
    params: orgParams,
    body: checkoutInput,
    responses: {
      201: { description: 'The checkout session', schema: checkoutResponse },
      ...stripeErrors,
    },
    async handle({ deps, params, body, principal }) {
      return { status: 201, body: await createCreditCheckout(deps, params.orgId, body, actorOf(principal)) };
    },
  }),
  creditRoute({
    method: 'post',
    path: '/api/v1/organizations/{orgId}/ai-credits/checkout-session/{sessionId}/sync',
    operationId: 'syncAiCreditCheckoutSession',
    summary: 'Reconcile a checkout session with Stripe: credits a paid session the webhook missed, once.',
    permission: 'billing:manage',
    params: orgParams.extend({ sessionId: idParam.max(300) }),
    responses: {
      200: { description: 'The session', schema: syncResponse },
      ...stripeErrors,
    },
    async handle({ deps, params, principal }) {
      return { body: await syncCreditCheckout(deps, params.orgId, params.sessionId, actorOf(principal)) };
    },
  }),
  creditRoute({
    method: 'post',
    path: '/api/v1/organizations/{orgId}/ai-credits/reconcile',
    operationId: 'reconcileAiCredits',
    summary: 'Prove the credits: balance = sum of the ledger, one purchase entry per paid Stripe session.',
    description:
      'Reads only. `ok` is false and `differences` says what disagrees; the same check as `npm run reconcile -- --org <orgId>`.',
    permission: 'billing:adjust',
    params: orgParams,
    responses: { 200: { description: 'The report', schema: reconcileResponse } },
    async handle({ deps, params }) {
      return { body: await reconcileCredits(deps, params.orgId) };
    },
  }),
];
