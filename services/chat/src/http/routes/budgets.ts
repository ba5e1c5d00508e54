import { z } from 'zod';
import {
  budgetView,
  patchBudgetInput,
  patchBudgetSettings,
  removeUserBudget,
  setUserBudget,
  userBudgetInput,
  userBudgetView,
} from '../../domain/budgets/settings.ts';
import { agentUsage, agentUserUsage, embedUsage, userUsageQuery } from '../../domain/budgets/usage.ts';
import { listUserOverrides, userOverridesQuery } from '../../domain/budgets/user-overrides.ts';
import { ApiError } from '../../errors.ts';
import { adminRoutes, agentRoutes } from '../route.ts';
import { agentParams, orgParams, page } from '../schemas.ts';

const userParams = agentParams.extend({
  externalUserId: z.string().min(1).max(200).describe('The `sub` of the user tokens the website signs.'),
});

const usd = z.number().describe('USD');
const nullableUsd = usd.nullable();

const budgetResponse = z.object({
  enabled: z.boolean(),
  monthlyBudgetUsd: nullableUsd,
  defaultUserBudgetUsd: nullableUsd,
  defaultUserMonthlyBudgetUsd: nullableUsd.describe('Same as defaultUserBudgetUsd (the reference name).'),
  anonymousMonthlyBudgetUsd: nullableUsd,
  currency: z.literal('USD'),
  allocationMode: z.literal('shared').describe('Users draw from the agent cap, each within their own cap.'),
  resetDayOfMonthUtc: z.number().int(),
  periodStart: z.string(),
  resetsAt: z.string(),
  currentMonthSpendUsd: usd,
  remainingBudgetUsd: nullableUsd,
  trackedUserCount: z.number().int().describe('Identified users the agent has seen.'),
  assignedUserCount: z.number().int().describe('Users with their own cap (an override).'),
  assignedBudgetUsd: usd.describe('The sum of the overrides.'),
  updatedAt: z.string().nullable(),
});

const userBudgetResponse = z.object({
  externalUserId: z.string(),
  source: z.enum(['override', 'default', 'none']),
  monthlyBudgetUsd: nullableUsd,
  currentMonthSpendUsd: usd,
  remainingBudgetUsd: nullableUsd,
  enforced: z.boolean().describe('Whether the agent budget is enabled.'),
  resetsAt: z.string(),
});

const count = z.number().int();

const usageTotalsView = z.object({
  periodStart: z.string().describe('The budget period: from (inclusive)…'),
  periodEnd: z.string().describe('…to (exclusive): when the caps reset.'),
  spendUsd: usd,
  anonymousSpendUsd: usd.describe("The part of the spend from anonymous visitors' calls."),
  llmCalls: count,
  inputTokens: count,
  outputTokens: count,
  conversations: count.describe('Distinct conversations with a call this period.'),
  users: count.describe('Distinct identified users (external user ids) with a call this period.'),
});

export const agentUsageView = usageTotalsView.extend({
  agentId: z.string(),
  byDay: z
    .array(z.object({ date: z.string().describe('YYYY-MM-DD, UTC.'), spendUsd: usd, llmCalls: count }))
    .describe('The days with calls, oldest first.'),
});

export const userUsagePage = page(
  z.object({
    externalUserId: z.string(),
    spendUsd: usd,
    monthlyBudgetUsd: nullableUsd.describe('The cap in force: the override, else the default.'),
    remainingBudgetUsd: nullableUsd,
    budgetSource: z.enum(['override', 'default', 'none']),
  }),
).extend({ periodStart: z.string() });

export const embedUsageView = z.object({
  totalSpendUsd: usd,
  data: z.array(usageTotalsView.extend({ agentId: z.string(), agentName: z.string() })),
});

const fromHistory =
  'Read from PostgreSQL: the LLM calls whose `createdAt` falls in the budget period, `periodStart` (inclusive) to `periodEnd` (exclusive); days are UTC. A call that just ended counts within the drain lag (well under a second). The caps are enforced on counters in Redis, always current: `GET …/budget` and `…/external-users/{externalUserId}/budget` show them.';

const budgetRoute = agentRoutes('Budgets');
const agentUsageRoute = agentRoutes('Usage');
const usageRoute = adminRoutes('Usage');

export const budgetRoutes = [
  budgetRoute({
    method: 'get',
    path: '/api/v1/organizations/{orgId}/agents/{agentId}/budget',
    operationId: 'getAgentBudget',
    summary: "Get the agent's budget policy and this month's spend.",
    permission: 'agents:read',
    params: agentParams,
    responses: { 200: { description: 'The budget', schema: budgetResponse } },
    async handle({ deps, params }) {
      return { body: await budgetView(deps, params.orgId, params.agentId) };
    },
  }),
  budgetRoute({
    method: 'patch',
    path: '/api/v1/organizations/{orgId}/agents/{agentId}/budget',
    operationId: 'setAgentBudget',
    summary: "Set the agent's default budget policy: agent, per-user and anonymous monthly caps.",
    description:
      'Caps hold exactly under any concurrency: every LLM call reserves an upper bound of its cost first.',
    permission: 'agents:manage',
    params: agentParams,
    body: patchBudgetInput,
    responses: { 200: { description: 'The budget', schema: budgetResponse } },
    async handle({ deps, params, body }) {
      await patchBudgetSettings(deps, params.orgId, params.agentId, body);
      return { body: await budgetView(deps, params.orgId, params.agentId) };
    },
  }),
  budgetRoute({
    method: 'get',
    path: '/api/v1/organizations/{orgId}/agents/{agentId}/external-users/budgets',
    operationId: 'listUserBudgetOverrides',
    summary: 'List the per-user cap overrides of an agent with their spend this month, by user id.',
    description:
      '`status` is `near` from 80 % of the cap and `over` at or past it. `search` keeps users whose id contains it.',
    permission: 'agents:read',
    params: agentParams,
    query: userOverridesQuery,
    responses: {
      200: {
        description: 'A page of overrides',
        schema: z.object({
          periodStart: z.string(),
          total: z.number().int().describe('Overrides matching the search.'),
          data: z.array(
            z.object({
              externalUserId: z.string(),
              monthlyBudgetUsd: usd,
              currentMonthSpendUsd: usd,
              remainingBudgetUsd: usd,
              status: z.enum(['ok', 'near', 'over']),
            }),
          ),
          nextCursor: z.string().nullable(),
        }),
      },
    },
    async handle({ deps, params, query }) {
      return { body: await listUserOverrides(deps, params.orgId, params.agentId, query) };
    },
  }),
  budgetRoute({
    method: 'get',
    path: '/api/v1/organizations/{orgId}/agents/{agentId}/external-users/{externalUserId}/budget',
    operationId: 'getUserBudget',
    summary: "Get one embedded user's cap in force, spend and remaining this month.",
    permission: 'agents:read',
    params: userParams,
    responses: { 200: { description: "The user's budget", schema: userBudgetResponse } },
    async handle({ deps, params }) {
      return { body: await userBudgetView(deps, params.orgId, params.agentId, params.externalUserId) };
    },
  }),
  budgetRoute({
    method: 'put',
    path: '/api/v1/organizations/{orgId}/agents/{agentId}/external-users/{externalUserId}/budget',
    operationId: 'setUserBudget',
    summary: "Set one embedded user's monthly cap (an override of the default).",
    permission: 'agents:manage',
    params: userParams,
    body: userBudgetInput,
    responses: { 200: { description: "The user's budget", schema: userBudgetResponse } },
    async handle({ deps, params, body }) {
      await setUserBudget(deps, params.orgId, params.agentId, params.externalUserId, body.monthlyBudgetUsd);
      return { body: await userBudgetView(deps, params.orgId, params.agentId, params.externalUserId) };
    },
  }),
  budgetRoute({
    method: 'delete',
    path: '/api/v1/organizations/{orgId}/agents/{agentId}/external-users/{externalUserId}/budget',
    operationId: 'removeUserBudget',
    summary: "Remove an embedded user's override; the default cap applies again.",
    permission: 'agents:manage',
    params: userParams,
    responses: { 204: { description: 'Removed' } },
    async handle({ deps, params }) {
      if (!(await removeUserBudget(deps, params.orgId, params.agentId, params.externalUserId))) {
        throw new ApiError('not_found', `User ${params.externalUserId} has no budget override`);
      }
      return { status: 204 };
    },
  }),
  agentUsageRoute({
    method: 'get',
    path: '/api/v1/organizations/{orgId}/agents/{agentId}/usage',
    operationId: 'getAgentUsage',
    summary: 'Get usage and cost for an agent this budget period: totals and by day.',
    description: fromHistory,
    permission: 'usage:read',
    params: agentParams,
    responses: { 200: { description: 'Usage', schema: agentUsageView } },
    async handle({ deps, params }) {
      return { body: await agentUsage(deps, params.orgId, params.agentId) };
    },
  }),
  agentUsageRoute({
    method: 'get',
    path: '/api/v1/organizations/{orgId}/agents/{agentId}/usage/users',
    operationId: 'getAgentUserUsage',
    summary: 'Get per-user usage this period, highest spend first.',
    description: `Identified users only (anonymous visitors' spend is in \`…/usage\`), ties by id. ${fromHistory}`,
    permission: 'usage:read',
    params: agentParams,
    query: userUsageQuery,
    responses: { 200: { description: 'A page of users', schema: userUsagePage } },
    async handle({ deps, params, query }) {
      return { body: await agentUserUsage(deps, params.orgId, params.agentId, query) };
    },
  }),
  usageRoute({
    method: 'get',
    path: '/api/v1/organizations/{orgId}/embed-usage',
    operationId: 'getEmbedUsage',
    summary: "Get embedded-agent usage across the organization's agents this period.",
    description: `Each agent's totals over its own budget period. ${fromHistory}`,
    permission: 'usage:read',
    params: orgParams,
    responses: { 200: { description: 'Usage per agent', schema: embedUsageView } },
    async handle({ deps, params }) {
      return { body: await embedUsage(deps, params.orgId) };
    },
  }),
];
