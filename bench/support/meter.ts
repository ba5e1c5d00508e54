import { randomBytes } from 'node:crypto';
import type { MeterContext } from '../../services/chat/src/domain/budgets/meter.ts';
import { adjustCredits } from '../../services/chat/src/domain/credits/adjustments.ts';
import type { BenchDeps } from './service.ts';

/** The organization and agent a metering benchmark runs on. */
export interface BenchOrganization {
  organizationId: string;
  agentId: string;
}

/** A fresh organization and agent of the benchmark, granted `grantMicros` of credits. */
export async function grantedOrganization(
  deps: BenchDeps,
  grantMicros: number,
  reason: string,
): Promise<BenchOrganization> {
  const organizationId = `org_bench${randomBytes(6).toString('hex')}`;
  const agentId = `agent_bench${randomBytes(6).toString('hex')}`;
  await adjustCredits(deps, organizationId, {
    type: 'grant',
    amountMicros: grantMicros,
    actor: 'bench',
    reason,
  });
  return { organizationId, agentId };
}

/**
 * What `reserve` and `settle` meter for worker `worker` (gpt-4.1-mini, a conversation of its own):
 * even workers an identified user, `user-<worker % users>`, odd ones an anonymous visitor,
 * `visitor-<worker % visitors>`.
 */
export function workerContext(
  deps: BenchDeps,
  organization: BenchOrganization,
  worker: number,
  owners: { users: number; visitors: number },
): MeterContext {
  const model = deps.modelCatalog.get('gpt-4.1-mini');
  if (!model) throw new Error('gpt-4.1-mini is not in the model catalog');
  return {
    ...organization,
    conversationId: `conv-bench-${worker}`,
    owner:
      worker % 2 === 0
        ? { kind: 'user', id: `user-${worker % owners.users}` }
        : { kind: 'visitor', id: `visitor-${worker % owners.visitors}` },
    model,
    resetDayOfMonthUtc: 1,
  };
}
