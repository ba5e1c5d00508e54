import { z } from 'zod';
import type { Deps } from '../deps.ts';
import { ApiError } from '../errors.ts';
import { newId } from '../ids.ts';
import type { Page, PageRequest } from '../storage/collection.ts';
import type { AgentRecord } from '../storage/records.ts';
import { revokeAgentEmbedKeys } from './embed-keys.ts';
import { removeAgentDomains } from './verified-domains.ts';

const themeInput = z
  .object({
    primaryColor: z.string().regex(/^#[0-9a-fA-F]{6}$/, 'must be a hex color like #4f46e5'),
    position: z.enum(['bottom-right', 'bottom-left']),
    colorScheme: z.enum(['light', 'dark', 'auto']).describe('auto follows the visitor’s system setting.'),
  })
  .partial()
  .strict();

const perMinute = z.number().int().min(1).max(1_000_000).nullable();
export const rateLimitsInput = z
  .object({
    embedKeyPerMinute: perMinute.describe(
      'Chat requests per minute through one embed key (null: service default).',
    ),
    visitorPerMinute: perMinute.describe('Chat messages per minute from one visitor or user.'),
    ipPerMinute: perMinute.describe('Chat requests per minute from one client IP.'),
    maxStreamsPerVisitor: z
      .number()
      .int()
      .min(1)
      .max(1000)
      .nullable()
      .describe('Answers streaming at once per visitor.'),
  })
  .partial()
  .strict()
  .describe(
    'Abuse limits of the public chat API for this agent; null or absent fields use the service defaults.',
  );

const agentFields = {
  name: z.string().trim().min(1).max(100),
  description: z.string().max(1000).nullable(),
  model: z.string().min(1).max(200).describe('An id from GET /agent-model-options.'),
  instructions: z.string().max(32_000).describe('The system prompt.'),
  mcpServerIds: z
    .array(z.string().min(1).max(100))
    .max(20)
    .describe('MCP servers of this organization whose enabled tools the agent may call.'),
  temperature: z.number().min(0).max(2).nullable(),
  maxOutputTokens: z
    .number()
    .int()
    .min(1)
    .max(200_000)
    .describe('Output cap of each LLM call; also bounds its cost.'),
  maxSteps: z.number().int().min(1).max(25).describe('Most LLM calls per visitor message (tool loop steps).'),
  welcomeMessage: z.string().max(2000).nullable(),
  starterPrompts: z.array(z.string().trim().min(1).max(200)).max(6),
  theme: themeInput,
  rateLimits: rateLimitsInput,
  showUsageToUsers: z
    .boolean()
    .describe("The widget shows the visitor's budget meter (their share left, the reset date)."),
  budgetAlertThresholds: z
    .array(z.number().int().min(1).max(100))
    .min(1)
    .max(5)
    .refine((values) => new Set(values).size === values.length, 'must not repeat a threshold')
    .describe(
      'Percentages of each cap (agent, anonymous pool, each user) at which budget.threshold_reached fires once per period, and the widget warns.',
    ),
  maxConsecutiveToolFailures: z
    .number()
    .int()
    .min(1)
    .max(25)
    .describe('A tool failing this many times in a row in one answer stops the answer.'),
};

export const createAgentInput = z.object(agentFields).partial().required({ name: true }).strict();
export const updateAgentInput = z.object(agentFields).partial().strict();

export const defaultTheme: AgentRecord['theme'] = {
  primaryColor: '#4f46e5',
  position: 'bottom-right',
  colorScheme: 'auto',
};

export const noRateLimits: AgentRecord['rateLimits'] = {
  embedKeyPerMinute: null,
  visitorPerMinute: null,
  ipPerMinute: null,
  maxStreamsPerVisitor: null,
};

type AgentDeps = Pick<Deps, 'stores' | 'clock' | 'modelCatalog' | 'redis' | 'keys'>;

export const defaultAlertThresholds = [50, 80, 100];
const sortedThresholds = (values: readonly number[]) => [...values].sort((a, b) => a - b);

/**
 * The thresholds are kept with the budget settings too, where the reserve and settle scripts read
 * the caps: the scripts decide the alerts, and every settle (the journal's, the expiry sweeper's)
 * sees the same thresholds.
 */
async function storeAlertThresholds(deps: AgentDeps, agent: AgentRecord): Promise<void> {
  await deps.redis.hset(
    deps.keys.organization(agent.organizationId).agentBudget(agent.id),
    'alertThresholds',
    agent.budgetAlertThresholds.join(','),
  );
}

async function checkReferences(
  deps: AgentDeps,
  organizationId: string,
  agent: Pick<AgentRecord, 'model' | 'maxOutputTokens' | 'mcpServerIds'>,
): Promise<void> {
  const model = deps.modelCatalog.get(agent.model);
  if (!model) {
    throw new ApiError('unknown_model', `model: "${agent.model}" is not in the model catalog`, {
      options: deps.modelCatalog.models.map((entry) => entry.id),
    });
  }
  if (agent.maxOutputTokens > model.maxOutputTokens) {
    throw new ApiError(
      'validation_failed',
      `maxOutputTokens: ${model.id} allows at most ${model.maxOutputTokens}`,
    );
  }
  const unique = new Set(agent.mcpServerIds);
  if (unique.size !== agent.mcpServerIds.length) {
    throw new ApiError('validation_failed', 'mcpServerIds: lists a server more than once');
  }
  const servers = await Promise.all(
    agent.mcpServerIds.map((id) => deps.stores.mcpServers.get(organizationId, id)),
  );
  const missing = agent.mcpServerIds.filter((_, index) => servers[index] === null);
  if (missing.length > 0) {
    throw new ApiError(
      'unknown_mcp_server',
      `mcpServerIds: no MCP server ${missing.join(', ')} in this organization`,
      { missing },
    );
  }
}

export async function createAgent(
  deps: AgentDeps,
  organizationId: string,
  input: z.infer<typeof createAgentInput>,
): Promise<AgentRecord> {
  const now = deps.clock.now().toISOString();
  const model = input.model ?? deps.modelCatalog.defaultModelId;
  const agent: AgentRecord = {
    id: newId('agent'),
    organizationId,
    name: input.name,
    description: input.description ?? null,
    model,
    instructions: input.instructions ?? '',
    mcpServerIds: input.mcpServerIds ?? [],
    temperature: input.temperature ?? null,
    maxOutputTokens:
      input.maxOutputTokens ?? Math.min(1024, deps.modelCatalog.get(model)?.maxOutputTokens ?? 1024),
    maxSteps: input.maxSteps ?? 5,
    welcomeMessage: input.welcomeMessage ?? null,
    starterPrompts: input.starterPrompts ?? [],
    theme: { ...defaultTheme, ...input.theme },
    rateLimits: { ...noRateLimits, ...input.rateLimits },
    showUsageToUsers: input.showUsageToUsers ?? false,
    budgetAlertThresholds: sortedThresholds(input.budgetAlertThresholds ?? defaultAlertThresholds),
    maxConsecutiveToolFailures: input.maxConsecutiveToolFailures ?? 3,
    createdAt: now,
    updatedAt: now,
  };
  await checkReferences(deps, organizationId, agent);
  await deps.stores.agents.create(organizationId, agent);
  await storeAlertThresholds(deps, agent);
  return agent;
}

export async function getAgent(
  deps: AgentDeps,
  organizationId: string,
  agentId: string,
): Promise<AgentRecord> {
  const agent = await deps.stores.agents.get(organizationId, agentId);
  if (!agent) throw new ApiError('agent_not_found', `No agent ${agentId} in this organization`);
  return agent;
}

export function listAgents(
  deps: AgentDeps,
  organizationId: string,
  page: PageRequest,
): Promise<Page<AgentRecord>> {
  return deps.stores.agents.list(organizationId, page);
}

export async function updateAgent(
  deps: AgentDeps,
  organizationId: string,
  agentId: string,
  input: z.infer<typeof updateAgentInput>,
): Promise<AgentRecord> {
  const current = await getAgent(deps, organizationId, agentId);
  const { theme, rateLimits, budgetAlertThresholds, ...rest } = input;
  const merge = (agent: AgentRecord): AgentRecord => ({
    ...agent,
    ...rest,
    ...(budgetAlertThresholds !== undefined && {
      budgetAlertThresholds: sortedThresholds(budgetAlertThresholds),
    }),
    theme: { ...agent.theme, ...theme },
    rateLimits: { ...agent.rateLimits, ...rateLimits },
    updatedAt: deps.clock.now().toISOString(),
  });
  await checkReferences(deps, organizationId, merge(current));
  const result = await deps.stores.agents.update(organizationId, agentId, merge);
  if (result.status !== 'updated')
    throw new ApiError('agent_not_found', `No agent ${agentId} in this organization`);
  if (budgetAlertThresholds !== undefined) await storeAlertThresholds(deps, result.value);
  return result.value;
}

export async function deleteAgent(
  deps: AgentDeps & Pick<Deps, 'redis' | 'keys' | 'env'>,
  organizationId: string,
  agentId: string,
): Promise<void> {
  // Its embed keys go first, so a failure leaves the agent in place to retry on; and again after, for a
  // key created meanwhile (createEmbedKey re-reads the agent after writing: one of the two sees the other).
  await getAgent(deps, organizationId, agentId);
  await revokeAgentEmbedKeys(deps, organizationId, agentId);
  const removed = await deps.stores.agents.remove(organizationId, agentId);
  if (!removed) throw new ApiError('agent_not_found', `No agent ${agentId} in this organization`);
  await revokeAgentEmbedKeys(deps, organizationId, agentId);
  // After the agent is gone: a concurrent identity write re-reads the agent and undoes itself.
  await deps.redis.del(deps.keys.organization(organizationId).agentIdentity(agentId));
  await removeAgentDomains(deps, organizationId, agentId);
}
