import type { Deps } from '../../deps.ts';
import { ApiError } from '../../errors.ts';
import type { AdmissionGate } from '../../storage/scripts/chat-admit.ts';
import {
  costBoundMicros,
  type MeterContext,
  type MeterDeps,
  type Reservation,
  release,
  reserve,
  reserveAhead,
  type SettledCall,
  type SettleOutcome,
  settle,
} from './meter.ts';
import { meteringMetrics } from './metering-metrics.ts';

export type HoldResult = { ok: true; amountMicros: number } | { ok: false; refusal: ApiError };

type AnswerMeterDeps = MeterDeps & Pick<Deps, 'settleJournal' | 'metrics'>;

const isRefusal = (error: unknown): error is ApiError =>
  error instanceof ApiError && (error.code === 'budget_exceeded' || error.code === 'budget_busy');

function deadline(ms: number): { promise: Promise<never>; cancel(): void } {
  let timer: NodeJS.Timeout | undefined;
  const promise = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Redis did not settle within ${ms} ms`)), ms);
  });
  return { promise, cancel: () => clearTimeout(timer) };
}

/**
 * The budget of one chat answer, the one owner of its hold from reserve to settle or release.
 * Before each model call, `hold` reserves the call's cost bound (or keeps an unused hold that
 * already covers it); after the call, `settle` replaces the hold by the call's cost (at most the
 * hold) with its record; `release` gives back a hold no call used. A refusal is data, for the turn
 * to answer with. A settle Redis cannot take within MCPSTACK_SETTLE_TIMEOUT_MS goes to the local
 * journal (durable before `settle` returns) and is replayed exactly once when Redis answers: the
 * answer's end is never held back, and no call that ran goes unrecorded.
 */
export class AnswerMeter {
  readonly context: MeterContext;
  readonly #deps: AnswerMeterDeps;
  #hold: Reservation | null = null;

  constructor(deps: AnswerMeterDeps, context: MeterContext) {
    this.#deps = deps;
    this.context = context;
  }

  async hold(sentBytes: number, maxOutputTokens: number): Promise<HoldResult> {
    const bound = costBoundMicros(this.context.model, sentBytes, maxOutputTokens);
    if (this.#hold && this.#hold.amountMicros >= bound)
      return { ok: true, amountMicros: this.#hold.amountMicros };
    // A smaller hold is given back in the same round trip (the release goes out first).
    const released = this.release();
    try {
      const [, hold] = await Promise.all([released, reserve(this.#deps, this.context, bound)]);
      this.#hold = hold;
      return { ok: true, amountMicros: bound };
    } catch (error) {
      if (isRefusal(error)) return { ok: false, refusal: error };
      throw error;
    }
  }

  /**
   * Holds a forecast of the first call's bound before the turn has read its history and budget
   * settings, so the hold shares their round trip; the context's reset day is the one last seen.
   * False, with nothing held, when refused or when the agent's reset day changed: `hold` with the
   * exact bound decides then (and keeps this hold when it covers the exact bound). Sent behind the
   * turn's admission (`admission`), it holds only when that admission let the turn in.
   */
  async holdAhead(
    sentBytes: number,
    maxOutputTokens: number,
    admission: AdmissionGate | null = null,
  ): Promise<boolean> {
    const bound = costBoundMicros(this.context.model, sentBytes, maxOutputTokens);
    try {
      this.#hold = await reserveAhead(this.#deps, this.context, bound, admission);
      return this.#hold !== null;
    } catch (error) {
      if (isRefusal(error)) return false;
      throw error;
    }
  }

  /** Books a finished call against the hold (or without one) and clears it. */
  async settle(call: SettledCall): Promise<SettleOutcome | { status: 'journaled' }> {
    const deps = this.#deps;
    const hold = this.#hold;
    this.#hold = null;
    const attempt = settle(deps, this.context, hold, call);
    const limit = deadline(deps.env.MCPSTACK_SETTLE_TIMEOUT_MS);
    try {
      const outcome = await Promise.race([attempt, limit.promise]);
      if (outcome.status === 'ok' && outcome.overageMicros > 0) {
        const metrics = meteringMetrics(deps.metrics);
        metrics.overageCalls.inc();
        metrics.overageMicros.inc(outcome.overageMicros);
      }
      return outcome;
    } catch {
      // The attempt may still land; the journal's replay of the same call id is then a no-op.
      attempt.catch(() => undefined);
      const { organizationId, agentId, conversationId, owner, resetDayOfMonthUtc } = this.context;
      await deps.settleJournal.append({
        context: { organizationId, agentId, conversationId, owner, resetDayOfMonthUtc },
        hold: hold ? { id: hold.id, periodId: hold.period.id } : null,
        call,
      });
      meteringMetrics(deps.metrics).journaled.inc();
      return { status: 'journaled' };
    } finally {
      limit.cancel();
    }
  }

  /** Gives back an unused hold; a no-op without one. */
  async release(): Promise<void> {
    const hold = this.#hold;
    if (!hold) return;
    this.#hold = null;
    await release(this.#deps, this.context, hold);
  }
}
