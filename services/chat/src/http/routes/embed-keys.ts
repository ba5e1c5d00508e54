import { z } from 'zod';
import {
  createEmbedKey,
  createEmbedKeyInput,
  listEmbedKeys,
  revokeEmbedKey,
} from '../../domain/embed-keys.ts';
import { embedKeyRecord } from '../../storage/records.ts';
import { adminRoutes } from '../route.ts';
import { agentParams, idParam, page, pageQuery } from '../schemas.ts';

const embedKeyView = embedKeyRecord.omit({ organizationId: true, createdBy: true }).extend({
  publicKey: z
    .string()
    .describe('mcpstack_pk_<32 hex>: publishable, for the data-public-key attribute of the script tag.'),
  allowedOrigins: z
    .array(z.string())
    .describe('Normalized origins; the chat API accepts the key only from these, compared exactly.'),
});

const embedKeyRoute = adminRoutes('Embed keys');

export const embedKeyRoutes = [
  embedKeyRoute({
    method: 'get',
    path: '/api/v1/organizations/{orgId}/agents/{agentId}/embed-keys',
    operationId: 'listEmbedKeys',
    summary: 'List an agent’s embed keys (publishable, so with their full public keys).',
    permission: 'agents:read',
    params: agentParams,
    query: pageQuery,
    responses: { 200: { description: 'A page of embed keys', schema: page(embedKeyView) } },
    async handle({ deps, params, query }) {
      return { body: await listEmbedKeys(deps, params.orgId, params.agentId, query) };
    },
  }),
  embedKeyRoute({
    method: 'post',
    path: '/api/v1/organizations/{orgId}/agents/{agentId}/embed-keys',
    operationId: 'createEmbedKey',
    summary: 'Create an embed key for the agent, usable only from the allowed origins.',
    permission: 'agents:manage',
    params: agentParams,
    body: createEmbedKeyInput,
    responses: { 201: { description: 'The created key', schema: embedKeyView } },
    async handle({ deps, params, body, principal }) {
      const createdBy = principal.kind === 'operator' ? 'operator' : principal.keyId;
      return { status: 201, body: await createEmbedKey(deps, params.orgId, params.agentId, body, createdBy) };
    },
  }),
  embedKeyRoute({
    method: 'delete',
    path: '/api/v1/organizations/{orgId}/agents/{agentId}/embed-keys/{keyId}',
    operationId: 'revokeEmbedKey',
    summary: 'Revoke an embed key; it fails from its very next request.',
    permission: 'agents:manage',
    params: agentParams.extend({ keyId: idParam }),
    responses: { 204: { description: 'Revoked' } },
    async handle({ deps, params }) {
      await revokeEmbedKey(deps, params.orgId, params.agentId, params.keyId);
      return { status: 204 };
    },
  }),
];
