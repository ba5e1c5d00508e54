import { z } from 'zod';
import { createApiKey, createApiKeyInput, listApiKeys, revokeApiKey } from '../../domain/auth/api-keys.ts';
import { permissions, roleKeys, roles } from '../../domain/auth/permissions.ts';
import { apiKeyRecord } from '../../storage/records.ts';
import { adminRoutes } from '../route.ts';
import { idParam, orgParams, page, pageQuery } from '../schemas.ts';

/** The stored key without its secret's hash, with the role's name and when it was last used. */
const apiKeyView = apiKeyRecord.pick({ id: true, name: true, createdAt: true, expiresAt: true }).extend({
  clientId: z.string().describe('The public part of the key, mcpstack_sk_<8 hex>.'),
  role: z.enum(roleKeys).describe('The role of the key.'),
  roleKey: z.enum(roleKeys).describe('Same as role.'),
  roleName: z.string(),
  lastUsedAt: z
    .string()
    .nullable()
    .describe('When the key last authenticated a request (to the minute); null if never.'),
});

const apiKeyRoute = adminRoutes('API keys');

export const apiKeyRoutes = [
  apiKeyRoute({
    method: 'get',
    path: '/api/v1/organizations/{orgId}/api-keys',
    operationId: 'listApiKeys',
    summary: 'List service-account keys (never their secrets).',
    permission: 'keys:manage',
    params: orgParams,
    query: pageQuery,
    responses: { 200: { description: 'A page of keys', schema: page(apiKeyView) } },
    async handle({ deps, params, query }) {
      return { body: await listApiKeys(deps, params.orgId, query) };
    },
  }),
  apiKeyRoute({
    method: 'get',
    path: '/api/v1/organizations/{orgId}/api-keys/roles',
    operationId: 'listApiKeyRoles',
    summary: 'List roles assignable to keys.',
    permission: 'organization:read',
    params: orgParams,
    responses: {
      200: {
        description: 'The roles and what each grants',
        schema: z.object({
          data: z.array(
            z.object({
              key: z.enum(roleKeys),
              name: z.string(),
              description: z.string(),
              permissions: z.array(z.enum(permissions)),
            }),
          ),
        }),
      },
    },
    async handle() {
      const data = roleKeys.map((key) => ({
        key,
        name: roles[key].name,
        description: roles[key].description,
        permissions: [...roles[key].grants],
      }));
      return { body: { data } };
    },
  }),
  apiKeyRoute({
    method: 'post',
    path: '/api/v1/organizations/{orgId}/api-keys',
    operationId: 'createApiKey',
    summary: 'Create a service-account key. The full secret is returned only here.',
    description: 'The operator token may create any organization’s keys (its first admin key, typically).',
    permission: 'keys:manage',
    params: orgParams,
    body: createApiKeyInput,
    responses: {
      201: {
        description: 'The key, with its fullKey shown this once',
        schema: apiKeyView.extend({
          fullKey: z
            .string()
            .describe('mcpstack_sk_<clientId>_<secret>; store it now, it is never shown again.'),
        }),
      },
    },
    async handle({ deps, params, body, principal }) {
      const createdBy = principal.kind === 'operator' ? 'operator' : principal.keyId;
      const { key, fullKey } = await createApiKey(deps, params.orgId, body, createdBy);
      return { status: 201, body: { ...key, fullKey } };
    },
  }),
  apiKeyRoute({
    method: 'delete',
    path: '/api/v1/organizations/{orgId}/api-keys/{keyId}',
    operationId: 'revokeApiKey',
    summary: 'Revoke a service-account key; it fails from its very next request.',
    permission: 'keys:manage',
    params: orgParams.extend({ keyId: idParam }),
    responses: { 204: { description: 'Revoked' } },
    async handle({ deps, params }) {
      await revokeApiKey(deps, params.orgId, params.keyId);
      return { status: 204 };
    },
  }),
];
