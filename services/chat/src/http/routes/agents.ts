import { z } from 'zod';
import {
  createAgent,
  createAgentInput,
  deleteAgent,
  getAgent,
  listAgents,
  updateAgent,
  updateAgentInput,
} from '../../domain/agents.ts';
import { microsToUsd } from '../../domain/money.ts';
import { agentRecord } from '../../storage/records.ts';
import { adminRoutes } from '../route.ts';
import { agentParams, errorResponse, orgParams, page, pageQuery, standardErrors } from '../schemas.ts';

/** The stored agent as the API shows it: the fields older records lack always present. */
export const agentView = agentRecord.extend({
  rateLimits: agentRecord.shape.rateLimits.unwrap(),
  showUsageToUsers: z.boolean().describe("The widget shows the visitor's budget meter."),
  budgetAlertThresholds: z
    .array(z.number().int())
    .describe('Percentages of each cap at which budget.threshold_reached fires (and the widget warns).'),
  maxConsecutiveToolFailures: z
    .number()
    .int()
    .describe('A tool failing this many times in a row in one answer stops the answer.'),
});

const modelOptionView = z.object({
  id: z.string(),
  name: z.string(),
  provider: z.string(),
  inputUsdPerMillionTokens: z.number(),
  cachedInputUsdPerMillionTokens: z.number(),
  outputUsdPerMillionTokens: z.number(),
  contextWindowTokens: z.number().int(),
  maxOutputTokens: z.number().int(),
  isDefault: z.boolean(),
});

const notFoundOrInvalid = {
  ...standardErrors,
  400: { description: 'Invalid input, unknown_model or unknown_mcp_server', schema: errorResponse },
};

const agentRoute = adminRoutes('Agents');

export const agentRoutes = [
  agentRoute({
    method: 'get',
    path: '/api/v1/organizations/{orgId}/agent-model-options',
    operationId: 'listAgentModelOptions',
    summary: 'List available models with their prices (USD per million tokens).',
    permission: 'agents:read',
    params: orgParams,
    responses: {
      200: { description: 'The model catalog', schema: z.object({ data: z.array(modelOptionView) }) },
    },
    async handle({ deps }) {
      const data = deps.modelCatalog.models.map((model) => ({
        id: model.id,
        name: model.name,
        provider: model.provider,
        inputUsdPerMillionTokens: microsToUsd(model.inputMicrosPerMillion),
        cachedInputUsdPerMillionTokens: microsToUsd(model.cachedInputMicrosPerMillion),
        outputUsdPerMillionTokens: microsToUsd(model.outputMicrosPerMillion),
        contextWindowTokens: model.contextWindowTokens,
        maxOutputTokens: model.maxOutputTokens,
        isDefault: model.id === deps.modelCatalog.defaultModelId,
      }));
      return { body: { data } };
    },
  }),
  agentRoute({
    method: 'get',
    path: '/api/v1/organizations/{orgId}/agents',
    operationId: 'listAgents',
    summary: 'List agents.',
    permission: 'agents:read',
    params: orgParams,
    query: pageQuery,
    responses: { 200: { description: 'A page of agents', schema: page(agentView) } },
    async handle({ deps, params, query }) {
      return { body: await listAgents(deps, params.orgId, query) };
    },
  }),
  agentRoute({
    method: 'post',
    path: '/api/v1/organizations/{orgId}/agents',
    operationId: 'createAgent',
    summary: 'Create an agent.',
    permission: 'agents:manage',
    params: orgParams,
    body: createAgentInput,
    responses: { 201: { description: 'Created', schema: agentView }, ...notFoundOrInvalid },
    async handle({ deps, params, body }) {
      return { status: 201, body: await createAgent(deps, params.orgId, body) };
    },
  }),
  agentRoute({
    method: 'get',
    path: '/api/v1/organizations/{orgId}/agents/{agentId}',
    operationId: 'getAgent',
    summary: 'Get an agent.',
    permission: 'agents:read',
    params: agentParams,
    responses: { 200: { description: 'The agent', schema: agentView } },
    async handle({ deps, params }) {
      return { body: await getAgent(deps, params.orgId, params.agentId) };
    },
  }),
  agentRoute({
    method: 'patch',
    path: '/api/v1/organizations/{orgId}/agents/{agentId}',
    operationId: 'updateAgent',
    summary: 'Update an agent; absent fields are kept, `theme` is merged.',
    permission: 'agents:manage',
    params: agentParams,
    body: updateAgentInput,
    responses: { 200: { description: 'The updated agent', schema: agentView }, ...notFoundOrInvalid },
    async handle({ deps, params, body }) {
      return { body: await updateAgent(deps, params.orgId, params.agentId, body) };
    },
  }),
  agentRoute({
    method: 'delete',
    path: '/api/v1/organizations/{orgId}/agents/{agentId}',
    operationId: 'deleteAgent',
    summary: 'Delete an agent.',
    permission: 'agents:manage',
    params: agentParams,
    responses: { 204: { description: 'Deleted' } },
    async handle({ deps, params }) {
      await deleteAgent(deps, params.orgId, params.agentId);
      return { status: 204 };
    },
  }),
];
