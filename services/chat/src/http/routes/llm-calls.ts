import { z } from 'zod';
import { type LlmCallRecord, listLlmCalls, llmCallRecord } from '../../domain/history/llm-calls.ts';
import { microsToUsd } from '../../domain/money.ts';
import { agentRoutes } from '../route.ts';
import { agentParams, page, pageQuery } from '../schemas.ts';

const llmCallView = llmCallRecord
  .omit({
    organizationId: true,
    costMicros: true,
    reportedCostMicros: true,
    overageMicros: true,
    settledBy: true,
  })
  .extend({
    reportedCostUsd: z
      .number()
      .describe('The cost of the usage the model server reported (costUsd is what was booked).'),
    overageUsd: z
      .number()
      .describe(
        'Reported cost above the call’s hold, not booked: a model server that ignored its output limit. Flag for review.',
      ),
    settledBy: z
      .enum(['stream', 'journal', 'expiry'])
      .describe(
        'stream: by the answer; journal: replayed after Redis was away; expiry: its instance died, charged at its hold.',
      ),
  });

function llmCallViewOf({
  organizationId: _o,
  costMicros,
  reportedCostMicros,
  overageMicros,
  settledBy,
  ...call
}: LlmCallRecord) {
  return {
    ...call,
    reportedCostUsd: microsToUsd(reportedCostMicros ?? costMicros),
    overageUsd: microsToUsd(overageMicros ?? 0),
    settledBy: settledBy ?? 'stream',
  };
}

const flag = z
  .enum(['true', 'false'])
  .transform((value) => value === 'true')
  .optional();

/** The log's filters, combined; each narrows on the server (PostgreSQL), so pages stay full. */
const llmCallQuery = pageQuery.extend({
  externalUserId: z.string().min(1).max(256).optional().describe("One signed-in user's calls."),
  status: z.enum(['ok', 'error', 'aborted']).optional().describe('Calls that ended this way.'),
  usageEstimated: flag.describe('true: calls metered from estimated usage (the model server reported none).'),
  flagged: flag.describe(
    'true: calls to review: the reported usage cost more than the hold (overage), or a dead instance’s hold charged at expiry.',
  ),
});

const agentUsageRoute = agentRoutes('Usage');

/** An agent's usage, call by call: the LLM-call log. */
export const llmCallRoutes = [
  agentUsageRoute({
    method: 'get',
    path: '/api/v1/organizations/{orgId}/agents/{agentId}/usage/llm-calls',
    operationId: 'listLlmCalls',
    summary: "Get an agent's LLM-call log, newest first: one record per model call (per step).",
    description:
      'Read from PostgreSQL: a call that just ended appears within the drain lag (well under a second). The usage reports (`…/usage`, `…/usage/users`, `GET …/embed-usage`) add up the same log; the caps count on Redis, always current.',
    permission: 'usage:read',
    params: agentParams,
    query: llmCallQuery,
    responses: { 200: { description: 'A page of LLM calls', schema: page(llmCallView) } },
    async handle({ deps, params, query }) {
      const { externalUserId, status, usageEstimated, flagged, ...page } = query;
      const result = await listLlmCalls(deps, params.orgId, params.agentId, page, {
        externalUserId,
        status,
        usageEstimated,
        flagged,
      });
      return {
        body: {
          data: result.data.map(llmCallViewOf),
          nextCursor: result.nextCursor,
        },
      };
    },
  }),
];
