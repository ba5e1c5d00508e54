import { z } from 'zod';
import {
  createEmbedKey,
  createEmbedKeyInput,
  listEmbedKeys,
  revokeEmbedKey,
} from '../../domain/embed-keys.ts';
import { embedKeyRecord } from '../../storage/records.ts';
import { defineRoute } from '../route.ts';
import { idParam, orgParams, page, pageQuery, standardErrors } from '../schemas.ts';

const embedKeyView = embedKeyRecord.omit({ organizationId: true, createdBy: true }).extend({
  publicKey: z
    .string()
    .describe('mcpstack_pk_<32 hex>: publishable, for the data-public-key attribute of the script tag.'),
  allowedOrigins: z
    .array(z.string())
    .describe('Normalized origins; the chat API accepts the key only from these, compared exactly.'),
});

const agentParams = orgParams.extend({ agentId: idParam });

export const embedKeyRoutes = [
  defineRoute({
    method: 'get',
    path: '/api/v1/organizations/{orgId}/agents/{agentId}/embed-keys',
    operationId: 'listEmbedKeys',
    summary: 'List an agent’s embed keys (publishable, so with their full public keys).',
    tag: 'Embed keys',
    auth: 'principal',
    permission: 'agents:read',
    params: agentParams,
    query: pageQuery,
    responses: {
      200: { description: 'A page of embed keys', schema: page(embedKeyView) },
      ...standardErrors,
    },
    async handle({ deps, params, query }) {
      return { body: await listEmbedKeys(deps, params.orgId, params.agentId, query) };
    },
  }),
  defineRoute({
    method: 'post',
    path: '/api/v1/organizations/{orgId}/agents/{agentId}/embed-keys',
    operationId: 'createEmbedKey',
    summary: 'Create an embed key for the agent, usable only from the allowed origins.',
    tag: 'Embed keys',
    auth: 'principal',
    permission: 'agents:manage',
    params: agentParams,
    body: createEmbedKeyInput,
    responses: { 201: { description: 'The created key', schema: embedKeyView }, ...standardErrors },
    async handle({ deps, params, body, principal }) {
      const createdBy = principal.kind === 'operator' ? 'operator' : principal.keyId;
      return { status: 201, body: await createEmbedKey(deps, params.orgId, params.agentId, body, createdBy) };
    },
  }),
  defineRoute({
    method: 'delete',
    path: '/api/v1/organizations/{orgId}/agents/{agentId}/embed-keys/{keyId}',
    operationId: 'revokeEmbedKey',
    summary: 'Revoke an embed key; it fails from its very next request.',
    tag: 'Embed keys',
    auth: 'principal',
    permission: 'agents:manage',
    params: agentParams.extend({ keyId: idParam }),
    responses: { 204: { description: 'Revoked' }, ...standardErrors },
    async handle({ deps, params }) {
      await revokeEmbedKey(deps, params.orgId, params.agentId, params.keyId);
      return { status: 204 };
    },
  }),
];
