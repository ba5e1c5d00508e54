import type { Deps } from '../../deps.ts';
import { ApiError } from '../../errors.ts';
import { newId } from '../../ids.ts';
import type { OrganizationKeys } from '../../storage/keys.ts';
import type { AlertKeys, HoldKeys } from '../../storage/scripts/budget-reserve.ts';
import type { AdmissionGate } from '../../storage/scripts/chat-admit.ts';
import type { LlmCallDraft } from '../history/llm-calls.ts';
import { encodeCall } from '../history/outbox.ts';
import type { CatalogModel } from '../model-catalog.ts';
import { microsToUsd, usdToMicros } from '../money.ts';
import type { Owner } from '../owner.ts';
import { type RefusalDetails, remedies, secondsUntil } from '../refusals.ts';
import { type BudgetPeriod, budgetPeriod, dayOf, periodKeyTtlSeconds } from './periods.ts';
import { defaultResetDayOfMonthUtc } from './settings.ts';

export type MeterDeps = Pick<Deps, 'redis' | 'scripts' | 'keys' | 'clock' | 'env'>;

export type BudgetScope = 'agent' | 'user' | 'anonymous' | 'credits';

/** Who and what one chat turn is metered against. */
export interface MeterContext {
  organizationId: string;
  agentId: string;
  conversationId: string;
  owner: Owner;
  model: CatalogModel;
  /** The agent's reset day, read once per chat turn. */
  resetDayOfMonthUtc: number;
}

export interface Reservation {
  id: string;
  amountMicros: number;
  period: BudgetPeriod;
}

/**
 * A call to settle: its LLM-call record without the fields the settle script decides (`costMicros`,
 * `costUsd`, `reportedCostMicros`, `overageMicros`, `settledBy`), and the cost its usage comes to.
 */
export type SettledCall = LlmCallDraft;

/** Who settles a call: the answer itself, the journal after Redis was away, or the expiry of its hold. */
export type SettledBy = 'stream' | 'journal' | 'expiry';

export type SettleOutcome =
  | { status: 'ok'; chargedMicros: number; overageMicros: number }
  | { status: 'duplicate' }
  | { status: 'gone' };

/** How long a hold charged at its expiry is remembered, so a late settle of its call books nothing more. */
const expiredMarkerSeconds = 35 * 86_400;

/** What a hold keeps of its call, so that the expired-holds sweeper can charge and record it. */
export interface HoldContext {
  agentId: string;
  conversationId: string;
  owner: Owner;
  modelId: string;
  resetDayOfMonthUtc: number;
  periodId: string;
  amountMicros: number;
  heldAt: string;
}

function holdContext(
  context: MeterContext,
  period: BudgetPeriod,
  amountMicros: number,
  now: Date,
): HoldContext {
  return {
    agentId: context.agentId,
    conversationId: context.conversationId,
    owner: context.owner,
    modelId: context.model.id,
    resetDayOfMonthUtc: context.resetDayOfMonthUtc,
    periodId: period.id,
    amountMicros,
    heldAt: now.toISOString(),
  };
}

/** Slack for the few tokens a chat template adds around messages and tool definitions. */
export const templateSlackBytes = 256;

/**
 * A true upper bound of a call's cost, the one formula of the service: every token is at least one
 * byte of what is sent, so the byte size of the request (prompt and tool definitions as JSON, which
 * only adds bytes) plus the template's slack bounds the input tokens, and `maxOutputTokens` bounds
 * the output (reasoning included). All input is priced as uncached, the dearer rate.
 */
export function costBoundMicros(model: CatalogModel, sentBytes: number, maxOutputTokens: number): number {
  const inputBound = sentBytes + templateSlackBytes;
  const total = inputBound * model.inputMicrosPerMillion + maxOutputTokens * model.outputMicrosPerMillion;
  return Math.ceil(total / 1_000_000);
}

const scopeMessages: Record<BudgetScope, (resetsOn: string) => string> = {
  agent: (on) => `This assistant has reached its monthly limit. It resets on ${on}.`,
  user: (on) => `You have reached your monthly limit for this assistant. It resets on ${on}.`,
  anonymous: (on) =>
    `This assistant's monthly limit for guests has been reached. Sign in, or come back on ${on}.`,
  credits: () => 'This assistant has run out of AI credits.',
};

/**
 * 402 `budget_exceeded`: the scope's cap (or the balance) cannot pay for this call. `reason` tells
 * a spent cap (`cap_reached`: come back at `resetsAt`) from a call whose bound alone is above the
 * whole cap (`message_larger_than_cap`: no wait helps).
 */
export function budgetExceeded(
  scope: BudgetScope,
  capMicros: number,
  usedMicros: number,
  period: BudgetPeriod,
  now: Date,
  amountMicros = 0,
) {
  const larger = scope !== 'credits' && amountMicros > capMicros;
  const resetsAt = scope === 'credits' ? null : period.end.toISOString();
  const message = larger
    ? 'This message needs more than the whole monthly limit of this assistant allows. Try a shorter message or start a new conversation.'
    : scopeMessages[scope](period.end.toISOString().slice(0, 10));
  const details: RefusalDetails & Record<string, unknown> = {
    scope,
    reason: larger ? 'message_larger_than_cap' : 'cap_reached',
    capUsd: microsToUsd(capMicros),
    usedUsd: microsToUsd(usedMicros),
    limitSource: scope,
    retryable: !larger && scope !== 'credits',
    ...(!larger && scope !== 'credits' && { retryAfterSeconds: secondsUntil(now, period.end) }),
    resetsAt,
    remedy: larger ? remedies.messageLargerThanCap : remedies[scope],
  };
  return new ApiError('budget_exceeded', message, details);
}

/** Reserves `amountMicros` in every scope that applies, or throws 402 `budget_exceeded` naming the scope. */
export async function reserve(
  deps: MeterDeps,
  context: MeterContext,
  amountMicros: number,
): Promise<Reservation> {
  const reservation = await reserveHold(deps, context, amountMicros, false);
  if (!reservation) throw new Error('budget-reserve.lua answered "stale" to a hold that assumed nothing');
  return reservation;
}

/**
 * A hold taken ahead, before the turn read the agent's budget settings: `context.resetDayOfMonthUtc`
 * is the day last seen, which the script checks (null, nothing held, when the settings now say
 * another day); the amount is a forecast, so a refusal fires no alert. Sent behind the turn's
 * admission (`admission`), nothing is held (null) unless that admission let the turn in. Throws the
 * refusals as `reserve` does.
 */
export function reserveAhead(
  deps: MeterDeps,
  context: MeterContext,
  amountMicros: number,
  admission: AdmissionGate | null = null,
) {
  return reserveHold(deps, context, amountMicros, true, admission);
}

async function reserveHold(
  deps: MeterDeps,
  context: MeterContext,
  amountMicros: number,
  ahead: boolean,
  admission: AdmissionGate | null = null,
): Promise<Reservation | null> {
  const keys = deps.keys.organization(context.organizationId);
  const now = deps.clock.now();
  const period = budgetPeriod(now, context.resetDayOfMonthUtc);
  const id = `${context.agentId}:${crypto.randomUUID()}`;
  // A live call always settles before this: the whole turn is bounded by the model timeout.
  const expiry = now.getTime() + deps.env.MCPSTACK_MODEL_TIMEOUT_MS + deps.env.MCPSTACK_RESERVATION_GRACE_MS;
  const reply = await deps.scripts.budgetReserve(
    {
      settings: keys.agentBudget(context.agentId),
      spend: keys.agentSpend(context.agentId, period.id),
      userCaps: keys.agentUserCaps(context.agentId),
      ...holdKeys(keys),
      credits: keys.credits,
      ...alertKeys(keys, context.agentId, period.id),
    },
    {
      holdId: id,
      amountMicros,
      now,
      expiresAtMs: expiry,
      externalUserId: externalUserOf(context.owner),
      agentId: context.agentId,
      holdContextJson: JSON.stringify(holdContext(context, period, amountMicros, now)),
      periodEnd: period.end,
      periodId: period.id,
      eventIdPrefix: `${newId('webhookEvent')}.`,
      assumedResetDay: ahead ? context.resetDayOfMonthUtc : null,
      defaultResetDay: defaultResetDayOfMonthUtc,
      quiet: ahead,
      admission,
    },
  );
  if (reply.status === 'stale' || reply.status === 'not_admitted') return null;
  if (reply.status === 'denied') {
    const { scope, capMicros, usedMicros, spentMicros } = reply;
    // Spend alone leaves room: answers in progress hold the rest, so this is "busy", not "month over".
    if (spentMicros + amountMicros <= capMicros) {
      throw new ApiError(
        'budget_busy',
        'Many answers are in progress right now; please try again in a moment.',
        {
          scope,
          reason: 'answers_in_flight',
          limitSource: 'in_flight',
          retryable: true,
          retryAfterSeconds: 2,
          remedy: remedies.busy,
        } satisfies RefusalDetails & Record<string, unknown>,
      );
    }
    throw budgetExceeded(scope, capMicros, usedMicros, period, now, amountMicros);
  }
  return { id, amountMicros, period };
}

/**
 * Replaces a hold by the call's cost, at most the hold, appending the LLM-call record and its
 * ledger debit to the history outbox in the same script. Without a hold (the call was never
 * reserved), only books and records.
 */
export async function settle(
  deps: MeterDeps,
  context: Pick<
    MeterContext,
    'organizationId' | 'agentId' | 'conversationId' | 'owner' | 'resetDayOfMonthUtc'
  >,
  reservation: { id: string; period: Pick<BudgetPeriod, 'id'> } | null,
  call: SettledCall,
  settledBy: SettledBy = 'stream',
): Promise<SettleOutcome> {
  const keys = deps.keys.organization(context.organizationId);
  const record = call.record;
  const period = reservation?.period ?? budgetPeriod(deps.clock.now(), context.resetDayOfMonthUtc);
  const reply = await deps.scripts.budgetSettle(
    {
      spend: keys.agentSpend(context.agentId, period.id),
      ...holdKeys(keys),
      credits: keys.credits,
      users: keys.agentUsers(context.agentId),
      historyOutbox: keys.historyOutbox,
      expiredMarker: keys.budgetExpiredHold(reservation?.id ?? ''),
      settings: keys.agentBudget(context.agentId),
      userCaps: keys.agentUserCaps(context.agentId),
      ...alertKeys(keys, context.agentId, period.id),
      creditSettings: keys.creditSettings,
    },
    {
      holdId: reservation?.id ?? null,
      costMicros: call.costMicros,
      externalUserId: externalUserOf(context.owner),
      day: dayOf(new Date(record.createdAt)),
      callId: record.id,
      callRecord: encodeCall(record),
      ledgerEntryId: newId('ledgerEntry'),
      conversationId: context.conversationId,
      periodKeyTtlSeconds,
      periodId: period.id,
      settledBy,
      expiredMarkerSeconds,
      periodEnd: periodEnd(period.id, context.resetDayOfMonthUtc),
      defaultLowBalanceMicros: usdToMicros(deps.env.MCPSTACK_LOW_BALANCE_USD),
      eventIdPrefix: `${newId('webhookEvent')}.`,
      now: deps.clock.now(),
      agentId: context.agentId,
    },
  );
  if (reply.status !== 'ok') return { status: reply.status };
  return { status: 'ok', chargedMicros: reply.chargedMicros, overageMicros: reply.overageMicros };
}

/** The organization's open holds, which every budget script keeps in step. */
function holdKeys(keys: OrganizationKeys): HoldKeys {
  return {
    reserved: keys.budgetReserved,
    holds: keys.budgetReservations,
    holdData: keys.budgetReservationData,
  };
}

/** Where the agent's budget alerts of the period are marked and published. */
function alertKeys(keys: OrganizationKeys, agentId: string, periodId: string): AlertKeys {
  return {
    alertMarkers: keys.agentAlertMarkers(agentId, periodId),
    events: keys.webhookOutbox,
    endpoints: keys.index('webhook-endpoint'),
  };
}

/** The identified user a call is booked to; null for an anonymous visitor. */
function externalUserOf(owner: Owner): string | null {
  return owner.kind === 'user' ? owner.id : null;
}

/** When the period that started on `periodId` (YYYY-MM-DD) ends. */
function periodEnd(periodId: string, resetDayOfMonthUtc: number): Date {
  return budgetPeriod(new Date(`${periodId}T00:00:00Z`), resetDayOfMonthUtc).end;
}

/** Gives a reservation back unused (the call was not made). */
export async function release(
  deps: MeterDeps,
  context: MeterContext,
  reservation: Reservation,
): Promise<void> {
  const keys = deps.keys.organization(context.organizationId);
  await deps.scripts.budgetRelease(holdKeys(keys), { holdId: reservation.id });
}
