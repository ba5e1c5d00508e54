import { z } from 'zod';
import {
  createMcpServer,
  createMcpServerInput,
  deleteMcpServer,
  getMcpServer,
  listMcpServers,
  updateMcpServer,
  updateMcpServerInput,
} from '../../domain/mcp/servers.ts';
import { smokeCallInput, smokeCallTool, smokeListTools } from '../../domain/mcp/smoke-tests.ts';
import { patchTool, patchToolInput } from '../../domain/mcp/tool-settings.ts';
import { mcpServerRecord, toolRecord } from '../../storage/records.ts';
import { adminRoutes, type RouteDefinition } from '../route.ts';
import { errorResponse, idParam, orgParams, page, pageQuery, standardErrors } from '../schemas.ts';

/** The stored server without its sealed headers, with what its last tools/list found. */
export const mcpServerView = mcpServerRecord.omit({ sealedHeaders: true }).extend({
  headerNames: z
    .array(z.string())
    .describe('The names of the stored headers; their values are never returned.'),
  toolCount: z.number().int().describe('Tools of the last successful tools/list.'),
  catalogStatus: z
    .enum(['unknown', 'ok', 'error'])
    .describe('The last tools/list: unknown before the first, error when the server could not be listed.'),
  catalogError: z.string().nullable().describe('Why the last tools/list failed.'),
});

export const toolView = toolRecord.omit({ lastSeenAt: true }).extend({
  id: z.string().describe('The toolId of PATCH …/tools/{toolId}; stable for a tool name on this server.'),
  toolKey: z.string().describe('The name tools/call takes, as the server lists it.'),
  description: z.string().nullable().describe("The server's own description."),
  inputSchema: z.record(z.string(), z.unknown()).nullable().describe('The JSON Schema of the arguments.'),
});

const mcpServerDetailView = mcpServerView.extend({
  tools: z.array(toolView).describe('The live tool list, or the last known one when catalogStatus is error.'),
});
const smokeListView = z.object({ tools: z.array(toolView).describe('The enabled tools, listed live.') });
const smokeCallView = z.object({
  toolName: z.string(),
  isError: z.boolean().describe('The tool ran and reported a failure (MCP `isError`).'),
  content: z.array(z.unknown()).describe('MCP content blocks, e.g. {"type":"text","text":"…"}.'),
  structuredContent: z.unknown().nullable(),
  durationMs: z.number().int(),
});

const serverParams = orgParams.extend({ serverId: idParam });
const toolParams = serverParams.extend({ toolId: idParam });
const toolNameParams = serverParams.extend({ toolName: z.string().min(1).max(200) });

const writeErrors = {
  ...standardErrors,
  400: { description: 'Invalid input, invalid_url or private_url_not_allowed', schema: errorResponse },
  409: { description: 'slug_taken', schema: errorResponse },
};
const upstreamErrors = {
  ...standardErrors,
  502: {
    description: 'mcp_server_unreachable (what failed is in the message) or mcp_tool_error',
    schema: errorResponse,
  },
};

const tag = 'MCP servers';

const serverRoute = adminRoutes(tag);

export const mcpServerRoutes: RouteDefinition[] = [
  serverRoute({
    method: 'get',
    path: '/api/v1/organizations/{orgId}/mcp-servers',
    operationId: 'listMcpServers',
    summary: 'List MCP servers.',
    permission: 'agents:read',
    params: orgParams,
    query: pageQuery,
    responses: { 200: { description: 'A page of MCP servers', schema: page(mcpServerView) } },
    async handle({ deps, params, query }) {
      return { body: await listMcpServers(deps, params.orgId, query) };
    },
  }),
  serverRoute({
    method: 'post',
    path: '/api/v1/organizations/{orgId}/mcp-servers',
    operationId: 'createMcpServer',
    summary: 'Register a remote MCP server (Streamable HTTP) and the headers that authenticate to it.',
    permission: 'agents:manage',
    params: orgParams,
    body: createMcpServerInput,
    responses: { 201: { description: 'Registered', schema: mcpServerView }, ...writeErrors },
    async handle({ deps, params, body }) {
      return { status: 201, body: await createMcpServer(deps, params.orgId, body) };
    },
  }),
  serverRoute({
    method: 'get',
    path: '/api/v1/organizations/{orgId}/mcp-servers/{serverId}',
    operationId: 'getMcpServer',
    summary: 'Get a server, including its tools.',
    description:
      'Lists the tools live (cached for MCPSTACK_MCP_TOOLS_CACHE_SECONDS). A server that cannot be reached is still a 200: catalogStatus is error, catalogError says why, and tools are the last known ones.',
    permission: 'agents:read',
    params: serverParams,
    responses: { 200: { description: 'The server and its tools', schema: mcpServerDetailView } },
    async handle({ deps, params }) {
      return { body: await getMcpServer(deps, params.orgId, params.serverId) };
    },
  }),
  serverRoute({
    method: 'patch',
    path: '/api/v1/organizations/{orgId}/mcp-servers/{serverId}',
    operationId: 'updateMcpServer',
    summary:
      'Update a server; absent fields are kept, `headers` replaces all stored headers (null removes them).',
    permission: 'agents:manage',
    params: serverParams,
    body: updateMcpServerInput,
    responses: { 200: { description: 'The updated server', schema: mcpServerView }, ...writeErrors },
    async handle({ deps, params, body }) {
      return { body: await updateMcpServer(deps, params.orgId, params.serverId, body) };
    },
  }),
  serverRoute({
    method: 'delete',
    path: '/api/v1/organizations/{orgId}/mcp-servers/{serverId}',
    operationId: 'deleteMcpServer',
    summary: 'Delete a server and its tool settings; refused while an agent uses it.',
    permission: 'agents:manage',
    params: serverParams,
    responses: {
      204: { description: 'Deleted' },
      409: { description: 'mcp_server_in_use: agentIds lists the agents using it', schema: errorResponse },
    },
    async handle({ deps, params }) {
      await deleteMcpServer(deps, params.orgId, params.serverId);
      return { status: 204 };
    },
  }),
  serverRoute({
    method: 'patch',
    path: '/api/v1/organizations/{orgId}/mcp-servers/{serverId}/tools/{toolId}',
    operationId: 'updateMcpServerTool',
    summary:
      'Edit one tool: isEnabled, displayName, descriptionOverride, instructions, whenToUse, whenNotToUse.',
    permission: 'agents:manage',
    params: toolParams,
    body: patchToolInput,
    responses: { 200: { description: 'The tool with its settings', schema: toolView } },
    async handle({ deps, params, body }) {
      return { body: await patchTool(deps, params.orgId, params.serverId, params.toolId, body) };
    },
  }),
  serverRoute({
    method: 'post',
    path: '/api/v1/organizations/{orgId}/mcp-servers/{serverId}/mcp-smoke/tools-list',
    operationId: 'smokeListMcpTools',
    summary: 'List the enabled tools over MCP against the live server (no cache).',
    // It reaches out to the server with the stored credentials: a write-level permission.
    permission: 'agents:manage',
    params: serverParams,
    responses: { 200: { description: 'The enabled tools', schema: smokeListView }, ...upstreamErrors },
    async handle({ deps, params }) {
      return { body: await smokeListTools(deps, params.orgId, params.serverId) };
    },
  }),
  serverRoute({
    method: 'post',
    path: '/api/v1/organizations/{orgId}/mcp-servers/{serverId}/mcp-smoke/tools/{toolName}/call',
    operationId: 'smokeCallMcpTool',
    summary: 'Invoke an enabled tool over MCP. Body: `{ arguments }`.',
    permission: 'agents:manage',
    params: toolNameParams,
    body: smokeCallInput,
    responses: {
      200: {
        description: 'The tool result (isError true when the tool reported a failure)',
        schema: smokeCallView,
      },
      ...upstreamErrors,
      409: { description: 'tool_disabled', schema: errorResponse },
    },
    async handle({ deps, params, body }) {
      return {
        body: await smokeCallTool(deps, params.orgId, params.serverId, params.toolName, body.arguments),
      };
    },
  }),
];
