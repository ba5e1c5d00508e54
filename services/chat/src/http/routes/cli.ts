import { z } from 'zod';
import {
  isGranted,
  type Permission,
  type Principal,
  permissions,
  roleKeys,
  roles,
} from '../../domain/auth/permissions.ts';
import { adminRoutes, defineRoute } from '../route.ts';

const cliConfigView = z.object({
  apiVersion: z.literal('v1').describe('The version in the path of every management route.'),
  apiBasePath: z.string(),
  openApiUrl: z.string().describe('The OpenAPI 3.1 document, relative to the service URL.'),
  docsUrl: z.string().describe('Where the API is documented, relative to the service URL.'),
  authMethods: z.array(
    z.object({
      type: z.enum(['service_account', 'operator']),
      keyPrefix: z.string().nullable(),
      headers: z.array(z.string()).describe('How to send the credential.'),
      roles: z.array(z.enum(roleKeys)),
    }),
  ),
  whoamiUrl: z.string(),
});

/**
 * What a client (the `mcpstack` CLI, an SDK) needs before it holds a key: which API it talks to and
 * how to authenticate. Public, like the OpenAPI document it points to.
 */
export const cliConfig = {
  apiVersion: 'v1',
  apiBasePath: '/api/v1',
  openApiUrl: '/api/v1/openapi.json',
  docsUrl: '/api/v1/openapi.json',
  authMethods: [
    {
      type: 'service_account',
      keyPrefix: 'mcpstack_sk_',
      headers: ['Authorization: Bearer <key>', 'X-API-Key: <key>'],
      roles: [...roleKeys],
    },
    {
      type: 'operator',
      keyPrefix: null,
      headers: ['Authorization: Bearer <MCPSTACK_ADMIN_TOKEN>'],
      roles: [],
    },
  ],
  whoamiUrl: '/api/v1/cli/whoami',
} satisfies z.input<typeof cliConfigView>;

const whoamiView = z.object({
  type: z.enum(['operator', 'service_account']),
  organizationId: z.string().nullable(),
  keyId: z.string().nullable(),
  clientId: z.string().nullable(),
  name: z.string().nullable(),
  roleKey: z.string().nullable(),
  roleName: z.string().nullable(),
  permissions: z.array(z.enum(permissions)),
});

function principalPermissions(principal: Principal): Permission[] {
  return permissions.filter((permission) => isGranted(principal, permission));
}

const identityRoute = adminRoutes('Identity');

/** The two routes the CLI starts with: bootstrap config (no credential) and who the credential is. */
export const cliRoutes = [
  defineRoute({
    method: 'get',
    path: '/api/v1/cli/config',
    operationId: 'getCliConfig',
    summary: 'Bootstrap config for clients: API version, auth methods, where the docs are. No auth.',
    tag: 'Identity',
    auth: 'none',
    responses: { 200: { description: 'The config', schema: cliConfigView } },
    async handle() {
      return { body: cliConfig, headers: { 'Cache-Control': 'public, max-age=300' } };
    },
  }),
  identityRoute({
    method: 'get',
    path: '/api/v1/cli/whoami',
    operationId: 'whoami',
    summary: 'Identify the caller behind a token or key.',
    responses: { 200: { description: 'The caller', schema: whoamiView } },
    async handle({ principal }) {
      if (principal.kind === 'operator') {
        return {
          body: {
            type: 'operator' as const,
            organizationId: null,
            keyId: null,
            clientId: null,
            name: null,
            roleKey: null,
            roleName: null,
            permissions: principalPermissions(principal),
          },
        };
      }
      return {
        body: {
          type: 'service_account' as const,
          organizationId: principal.organizationId,
          keyId: principal.keyId,
          clientId: principal.clientId,
          name: principal.name,
          roleKey: principal.roleKey,
          roleName: roles[principal.roleKey].name,
          permissions: principalPermissions(principal),
        },
      };
    },
  }),
];
