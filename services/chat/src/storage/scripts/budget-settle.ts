import { z } from 'zod';
import { type AlertKeys, alertKeyList, type HoldKeys, holdKeyList } from './budget-reserve.ts';
import { defineScript, micros, statusReply } from './define-script.ts';

export interface BudgetSettleKeys extends HoldKeys, AlertKeys {
  /** Hash: the agent's spend counters of the period. */
  spend: string;
  /** Hash: the organization's AI credits. */
  credits: string;
  /** Set: every identified user of the agent (the budget's tracked-user count). */
  users: string;
  /** Stream: the history outbox (drained to PostgreSQL). */
  historyOutbox: string;
  /** String: the marker of this hold charged at its expiry. */
  expiredMarker: string;
  /** Hash: the agent's budget settings. */
  settings: string;
  /** Hash: the agent's per-user cap overrides. */
  userCaps: string;
  /** Hash: the organization's credit settings (its low-balance threshold). */
  creditSettings: string;
}

export interface BudgetSettleArgs {
  /** The hold it replaces; null for a call that was never held. */
  holdId: string | null;
  /** The cost its usage comes to (booked at most at the hold). */
  costMicros: number;
  /** The identified user it is booked to; null for an anonymous visitor. */
  externalUserId: string | null;
  /** The call's day (YYYY-MM-DD), for the daily counters. */
  day: string;
  callId: string;
  /** The call's record without its settled fields, in the outbox encoding (domain/history/outbox.ts). */
  callRecord: string;
  ledgerEntryId: string;
  conversationId: string;
  periodKeyTtlSeconds: number;
  periodId: string;
  settledBy: 'stream' | 'journal' | 'expiry';
  expiredMarkerSeconds: number;
  periodEnd: Date;
  /** The service's low-balance threshold, when the organization set none. */
  defaultLowBalanceMicros: number;
  /** Ends with a dot; an event's id is this and its number. */
  eventIdPrefix: string;
  now: Date;
  agentId: string;
}

/**
 * budget-settle.lua: replaces a hold by the call's cost (at most the hold), books it and appends the
 * call's record to the history outbox. `duplicate`: settled before; `gone`: an expiry of a hold
 * settled meanwhile.
 */
export const budgetSettle = defineScript({
  file: 'budget-settle.lua',
  keyCount: 14,
  encode: (keys: BudgetSettleKeys, args: BudgetSettleArgs) => ({
    keys: [
      keys.spend,
      ...holdKeyList(keys),
      keys.credits,
      keys.users,
      keys.historyOutbox,
      keys.expiredMarker,
      keys.settings,
      keys.userCaps,
      ...alertKeyList(keys),
      keys.creditSettings,
    ],
    args: [
      args.holdId ?? '',
      args.costMicros,
      args.externalUserId === null ? 'anonymous' : 'user',
      args.externalUserId ?? '',
      args.day,
      args.callId,
      args.callRecord,
      args.ledgerEntryId,
      args.conversationId,
      args.periodKeyTtlSeconds,
      args.periodId,
      args.settledBy,
      args.expiredMarkerSeconds,
      args.periodEnd.toISOString(),
      args.defaultLowBalanceMicros,
      args.eventIdPrefix,
      args.now.toISOString(),
      args.agentId,
    ],
  }),
  reply: z.union([
    z
      .tuple([z.literal('ok'), micros, micros, micros])
      .transform(([status, balanceMicros, chargedMicros, overageMicros]) => ({
        status,
        balanceMicros,
        chargedMicros,
        overageMicros,
      })),
    statusReply('duplicate', 'gone'),
  ]),
});
