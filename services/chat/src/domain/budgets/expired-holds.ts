import type { Logger } from 'pino';
import { z } from 'zod';
import type { Deps } from '../../deps.ts';
import { buildLlmCall } from '../chat/llm-calls.ts';
import { type MeterDeps, settle } from './meter.ts';
import { meteringMetrics } from './metering-metrics.ts';

/** What a hold keeps (see budget-reserve.lua and `HoldContext`). */
const heldData = z.object({
  a: z.number().int(),
  c: z.object({
    agentId: z.string(),
    conversationId: z.string(),
    owner: z.object({ kind: z.enum(['visitor', 'user']), id: z.string() }),
    modelId: z.string(),
    resetDayOfMonthUtc: z.number().int(),
    periodId: z.string(),
    amountMicros: z.number().int(),
    heldAt: z.string(),
  }),
});

type SweepDeps = MeterDeps & Pick<Deps, 'logger' | 'metrics'>;

const expiredNote =
  'The instance answering this call stopped before it could settle it; charged at its hold when the hold expired.';

/**
 * Charges the organization's holds that outlived their expiry (the model timeout plus the grace: a
 * live answer always settles before). The model may have run and will bill us, so a hold is never
 * silently released: it is settled at its bound, with a record flagged `settledBy: "expiry"` for
 * finance to review and correct with an adjustment. If the answer's own settle lands later (it was
 * journaled while Redis was away), it is recorded and books nothing more.
 */
export async function chargeExpiredHolds(
  deps: SweepDeps,
  organizationId: string,
  limit = 100,
): Promise<number> {
  const keys = deps.keys.organization(organizationId);
  const now = deps.clock.now();
  const ids = await deps.redis.zrangebyscore(
    keys.budgetReservations,
    '-inf',
    now.getTime(),
    'LIMIT',
    0,
    limit,
  );
  let charged = 0;
  for (const holdId of ids) {
    const raw = await deps.redis.hget(keys.budgetReservationData, holdId);
    const parsed = raw === null ? null : heldData.safeParse(JSON.parse(raw));
    if (!parsed?.success) {
      // Settled between the two reads, or a hold written before holds kept their context.
      if (raw !== null)
        deps.logger.error({ holdId, organizationId }, 'an expired hold has no context to charge');
      continue;
    }
    const hold = parsed.data.c;
    const context = {
      organizationId,
      agentId: hold.agentId,
      conversationId: hold.conversationId,
      owner: hold.owner,
      resetDayOfMonthUtc: hold.resetDayOfMonthUtc,
      model: { id: hold.modelId },
    };
    const call = buildLlmCall(context, {
      stepNumber: 0,
      status: 'error',
      inputTokens: 0,
      cachedInputTokens: 0,
      outputTokens: 0,
      reasoningTokens: 0,
      usageEstimated: true,
      costMicros: parsed.data.a,
      latencyMs: Math.max(0, now.getTime() - Date.parse(hold.heldAt)),
      timeToFirstTokenMs: null,
      finishReason: null,
      toolCalls: [],
      error: expiredNote,
      createdAt: hold.heldAt,
      finishedAt: now.toISOString(),
    });
    const outcome = await settle(
      deps,
      context,
      { id: holdId, period: { id: hold.periodId } },
      call,
      'expiry',
    );
    if (outcome.status === 'ok') {
      charged += 1;
      meteringMetrics(deps.metrics).expiredHolds.inc();
      deps.logger.warn(
        { organizationId, holdId, callId: call.record.id, chargedMicros: outcome.chargedMicros },
        'charged an expired budget hold at its bound',
      );
    }
  }
  return charged;
}

/**
 * Every instance sweeps now and then; a lock lets one at a time walk the organizations (a cheap
 * ZRANGEBYSCORE each, pipelined).
 */
export function startExpiredHoldSweeper(
  deps: SweepDeps & { logger: Logger },
  intervalMs: number,
): () => void {
  const lock = `${deps.keys.prefix}expired-hold-sweeper`;
  let stopped = false;
  let timer: NodeJS.Timeout | null = null;
  const sweep = async () => {
    if ((await deps.redis.set(lock, String(process.pid), 'PX', intervalMs, 'NX')) !== 'OK') return;
    const now = deps.clock.now().getTime();
    let cursor = 0;
    for (;;) {
      const organizations = await deps.redis.zrange(
        deps.keys.organizationsIndex,
        String(cursor),
        String(cursor + 199),
      );
      if (organizations.length === 0) break;
      cursor += organizations.length;
      const firsts = await Promise.all(
        organizations.map((id) =>
          deps.redis.zrangebyscore(
            deps.keys.organization(id).budgetReservations,
            '-inf',
            String(now),
            'LIMIT',
            0,
            1,
          ),
        ),
      );
      for (const [index, id] of organizations.entries()) {
        if ((firsts[index]?.length ?? 0) > 0) await chargeExpiredHolds(deps, id);
      }
    }
  };
  const tick = () => {
    sweep()
      .catch((error: unknown) => deps.logger.warn({ reason: String(error) }, 'expired-hold sweep failed'))
      .finally(() => {
        if (!stopped) timer = setTimeout(tick, intervalMs).unref();
      });
  };
  timer = setTimeout(tick, intervalMs).unref();
  return () => {
    stopped = true;
    if (timer) clearTimeout(timer);
  };
}
