import type { Deps } from '../../deps.ts';
import { ApiError } from '../../errors.ts';
import { newId } from '../../ids.ts';
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
 * another day); the amount is a forecast, so a refusal fires no alert. Throws the refusals as
 * `reserve` does.
 */
export function reserveAhead(deps: MeterDeps, context: MeterContext, amountMicros: number) {
  return reserveHold(deps, context, amountMicros, true);
}

async function reserveHold(
  deps: MeterDeps,
  context: MeterContext,
  amountMicros: number,
  ahead: boolean,
): Promise<Reservation | null> {
  const keys = deps.keys.organization(context.organizationId);
  const now = deps.clock.now();
  const period = budgetPeriod(now, context.resetDayOfMonthUtc);
  const id = `${context.agentId}:${crypto.randomUUID()}`;
  // A live call always settles before this: the whole turn is bounded by the model timeout.
  const expiry = now.getTime() + deps.env.MCPSTACK_MODEL_TIMEOUT_MS + deps.env.MCPSTACK_RESERVATION_GRACE_MS;
  const result = (await deps.scripts.run(
    'budgetReserve',
    [
      keys.agentBudget(context.agentId),
      keys.agentSpend(context.agentId, period.id),
      keys.agentUserCaps(context.agentId),
      keys.budgetReserved,
      keys.budgetReservations,
      keys.budgetReservationData,
      keys.credits,
      keys.agentAlertMarkers(context.agentId, period.id),
      keys.webhookOutbox,
      keys.index('webhook-endpoint'),
    ],
    [
      id,
      amountMicros,
      now.getTime(),
      expiry,
      context.owner.kind === 'user' ? 'user' : 'anonymous',
      context.owner.kind === 'user' ? context.owner.id : '',
      context.agentId,
      JSON.stringify(holdContext(context, period, amountMicros, now)),
      period.end.toISOString(),
      `${newId('webhookEvent')}.`,
      now.toISOString(),
      period.id,
      ahead ? context.resetDayOfMonthUtc : '',
      defaultResetDayOfMonthUtc,
      ahead ? 'quiet' : '',
    ],
  )) as [string, string?, number?, number?, number?];
  if (result[0] === 'stale') return null;
  if (result[0] === 'denied') {
    const [, scope, cap, used, spent] = result;
    // Spend alone leaves room: answers in progress hold the rest, so this is "busy", not "month over".
    if (Number(spent) + amountMicros <= Number(cap)) {
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
    throw budgetExceeded(scope as BudgetScope, Number(cap), Number(used), period, now, amountMicros);
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
  const reply = (await deps.scripts.run(
    'budgetSettle',
    [
      keys.agentSpend(context.agentId, period.id),
      keys.budgetReserved,
      keys.budgetReservations,
      keys.budgetReservationData,
      keys.credits,
      keys.agentUsers(context.agentId),
      keys.historyOutbox,
      keys.budgetExpiredHold(reservation?.id ?? ''),
      keys.agentBudget(context.agentId),
      keys.agentUserCaps(context.agentId),
      keys.agentAlertMarkers(context.agentId, period.id),
      keys.webhookOutbox,
      keys.index('webhook-endpoint'),
      keys.creditSettings,
    ],
    [
      reservation?.id ?? '',
      call.costMicros,
      context.owner.kind === 'user' ? 'user' : 'anonymous',
      context.owner.kind === 'user' ? context.owner.id : '',
      dayOf(new Date(record.createdAt)),
      record.id,
      encodeCall(record),
      newId('ledgerEntry'),
      context.conversationId,
      periodKeyTtlSeconds,
      period.id,
      settledBy,
      expiredMarkerSeconds,
      periodEnd(period.id, context.resetDayOfMonthUtc).toISOString(),
      usdToMicros(deps.env.MCPSTACK_LOW_BALANCE_USD),
      `${newId('webhookEvent')}.`,
      deps.clock.now().toISOString(),
      context.agentId,
    ],
  )) as [string, number?, number?, number?];
  if (reply[0] === 'duplicate' || reply[0] === 'gone') return { status: reply[0] };
  return { status: 'ok', chargedMicros: Number(reply[2]), overageMicros: Number(reply[3]) };
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
  await deps.scripts.run(
    'budgetRelease',
    [keys.budgetReserved, keys.budgetReservations, keys.budgetReservationData],
    [reservation.id],
  );
}
