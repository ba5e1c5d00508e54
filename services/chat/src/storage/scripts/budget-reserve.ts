import { z } from 'zod';
import { type AdmissionGate, gateKey, gateLease } from './chat-admit.ts';
import { defineScript, micros, statusReply } from './define-script.ts';

/** The organization's open budget holds (lib/holds.lua), which every budget script keeps in step. */
export interface HoldKeys {
  /** Hash: micro-USD held per scope field (`agent:<id>`, `credits`, …). */
  reserved: string;
  /** Sorted set: open hold ids scored by expiry (ms). */
  holds: string;
  /** Hash: hold id → what it holds (amount, fields, context). */
  holdData: string;
}

/** Where an agent's budget alerts are marked and published (reserve and settle fire them). */
export interface AlertKeys {
  /** Hash: the agent's alert markers of the period (each threshold fires once). */
  alertMarkers: string;
  /** Stream: the organization's events (the webhook outbox). */
  events: string;
  /** Sorted set: the organization's webhook endpoints (no endpoint: no event is written). */
  endpoints: string;
}

/** The hold keys in the order every budget script takes them. */
export const holdKeyList = (keys: HoldKeys) => [keys.reserved, keys.holds, keys.holdData];

/** The alert keys in the order reserve and settle take them. */
export const alertKeyList = (keys: AlertKeys) => [keys.alertMarkers, keys.events, keys.endpoints];

export interface BudgetReserveKeys extends HoldKeys, AlertKeys {
  /** Hash: the agent's budget settings. */
  settings: string;
  /** Hash: the agent's spend counters of the period. */
  spend: string;
  /** Hash: the agent's per-user cap overrides. */
  userCaps: string;
  /** Hash: the organization's AI credits. */
  credits: string;
}

export interface BudgetReserveArgs {
  holdId: string;
  amountMicros: number;
  now: Date;
  expiresAtMs: number;
  /** The identified user it is held for; null for an anonymous visitor. */
  externalUserId: string | null;
  agentId: string;
  /** What the hold keeps of its call (JSON), for a charge at its expiry. */
  holdContextJson: string;
  periodEnd: Date;
  periodId: string;
  /** Ends with a dot; an alert's event id is this and its number. */
  eventIdPrefix: string;
  /**
   * A hold taken ahead of reading the settings: the reset day the caller assumed (the script answers
   * `stale` and holds nothing when the settings say another day); null when it read them.
   */
  assumedResetDay: number | null;
  /** The reset day that applies when the settings name none. */
  defaultResetDay: number;
  /** A refusal fires no alert (the amount is a forecast; the exact hold that follows fires them). */
  quiet: boolean;
  /** Sent behind the turn's admission: held only when it admitted the turn (else `not_admitted`). */
  admission: AdmissionGate | null;
}

/**
 * budget-reserve.lua: holds an upper bound of one call's cost in every scope that applies, all or
 * nothing. `stale`: a hold taken ahead assumed another reset day; `not_admitted`: its gate's admission
 * did not let the turn in (nothing held). `denied` names the scope; for credits, `capMicros` is the balance and `spentMicros` 0.
 */
export const budgetReserve = defineScript({
  file: 'budget-reserve.lua',
  keyCount: 11,
  encode: (keys: BudgetReserveKeys, args: BudgetReserveArgs) => ({
    keys: [
      keys.settings,
      keys.spend,
      keys.userCaps,
      ...holdKeyList(keys),
      keys.credits,
      ...alertKeyList(keys),
      gateKey(args.admission, keys.settings),
    ],
    args: [
      args.holdId,
      args.amountMicros,
      args.now.getTime(),
      args.expiresAtMs,
      args.externalUserId === null ? 'anonymous' : 'user',
      args.externalUserId ?? '',
      args.agentId,
      args.holdContextJson,
      args.periodEnd.toISOString(),
      args.eventIdPrefix,
      args.now.toISOString(),
      args.periodId,
      args.assumedResetDay ?? '',
      args.defaultResetDay,
      args.quiet ? 'quiet' : '',
      gateLease(args.admission),
    ],
  }),
  // The usual reply first: a union tries its options in order.
  reply: z.union([
    statusReply('ok', 'stale', 'not_admitted'),
    z
      .tuple([z.literal('denied'), z.enum(['agent', 'user', 'anonymous', 'credits']), micros, micros, micros])
      .transform(([status, scope, capMicros, usedMicros, spentMicros]) => ({
        status,
        scope,
        capMicros,
        usedMicros,
        spentMicros,
      })),
  ]),
});

export type BudgetReserveReply = z.output<typeof budgetReserve.reply>;
