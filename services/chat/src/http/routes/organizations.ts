import { z } from 'zod';
import { isGranted, permissions } from '../../domain/auth/permissions.ts';
import {
  createOrganization,
  createOrganizationInput,
  deleteOrganization,
  getOrganizationRecord,
  listAllOrganizations,
  updateOrganization,
  updateOrganizationInput,
  viewOrganization,
} from '../../domain/organizations.ts';
import { organizationRecord } from '../../storage/records.ts';
import { adminRoutes, defineRoute } from '../route.ts';
import { errorResponse, orgParams, page, pageQuery, standardErrors } from '../schemas.ts';

export const organizationView = organizationRecord.extend({
  agentCount: z.number().int(),
  mcpServerCount: z.number().int(),
  apiKeyCount: z.number().int(),
});

const organizationRoute = adminRoutes('Organizations');
const identityRoute = adminRoutes('Identity');

export const organizationRoutes = [
  organizationRoute({
    method: 'get',
    path: '/api/v1/organizations',
    operationId: 'listOrganizations',
    summary: 'List organizations the token can access.',
    query: pageQuery,
    responses: { 200: { description: 'A page of organizations', schema: page(organizationView) } },
    async handle({ deps, principal, query }) {
      if (principal.kind === 'operator') {
        const result = await listAllOrganizations(deps, query);
        return {
          body: {
            data: await Promise.all(result.data.map((o) => viewOrganization(deps, o))),
            nextCursor: result.nextCursor,
          },
        };
      }
      const own = await getOrganizationRecord(deps, principal.organizationId);
      const data = own && !query.cursor ? [await viewOrganization(deps, own)] : [];
      return { body: { data, nextCursor: null } };
    },
  }),
  defineRoute({
    method: 'post',
    path: '/api/v1/organizations',
    operationId: 'createOrganization',
    summary: 'Create an organization (operator token only).',
    description:
      'Then create its first key with POST /api/v1/organizations/{orgId}/api-keys, also with the operator token.',
    tag: 'Organizations',
    auth: 'operator',
    body: createOrganizationInput,
    responses: {
      201: { description: 'Created', schema: organizationView },
      409: { description: 'The slug is taken (slug_taken)', schema: errorResponse },
      ...standardErrors,
    },
    async handle({ deps, body }) {
      const organization = await createOrganization(deps, body);
      return { status: 201, body: await viewOrganization(deps, organization) };
    },
  }),
  organizationRoute({
    method: 'get',
    path: '/api/v1/organizations/{orgId}',
    operationId: 'getOrganization',
    summary: 'Get an organization.',
    permission: 'organization:read',
    params: orgParams,
    responses: { 200: { description: 'The organization', schema: organizationView } },
    async handle({ deps, organization }) {
      return { body: await viewOrganization(deps, organization) };
    },
  }),
  organizationRoute({
    method: 'patch',
    path: '/api/v1/organizations/{orgId}',
    operationId: 'updateOrganization',
    summary: 'Update an organization’s name or slug.',
    permission: 'organization:manage',
    params: orgParams,
    body: updateOrganizationInput,
    responses: {
      200: { description: 'The updated organization', schema: organizationView },
      409: { description: 'The slug is taken (slug_taken)', schema: errorResponse },
    },
    async handle({ deps, params, body }) {
      const organization = await updateOrganization(deps, params.orgId, body);
      return { body: await viewOrganization(deps, organization) };
    },
  }),
  organizationRoute({
    method: 'delete',
    path: '/api/v1/organizations/{orgId}',
    operationId: 'deleteOrganization',
    summary: 'Delete an organization and everything in it. Admin only.',
    permission: 'organization:manage',
    params: orgParams,
    responses: { 204: { description: 'Deleted' } },
    async handle({ deps, params }) {
      await deleteOrganization(deps, params.orgId);
      return { status: 204 };
    },
  }),
  identityRoute({
    method: 'post',
    path: '/api/v1/organizations/{orgId}/authorization/check',
    operationId: 'checkAuthorization',
    summary: 'Check organization-level permissions of the caller.',
    description:
      'Body `{ permissions: [...] }`; answers which of them the caller holds in this organization.',
    params: orgParams,
    body: z
      .object({
        permissions: z.array(z.enum(permissions)).min(1).max(permissions.length),
      })
      .strict(),
    responses: {
      200: {
        description: 'Each permission and whether it is granted',
        schema: z.object({
          allowed: z.boolean().describe('True when every asked permission is granted.'),
          results: z.array(z.object({ permission: z.enum(permissions), allowed: z.boolean() })),
          roleKey: z.string(),
        }),
      },
    },
    async handle({ principal, body }) {
      const results = body.permissions.map((permission) => ({
        permission,
        allowed: isGranted(principal, permission),
      }));
      return {
        body: {
          allowed: results.every((result) => result.allowed),
          results,
          roleKey: principal.kind === 'operator' ? 'operator' : principal.roleKey,
        },
      };
    },
  }),
];
