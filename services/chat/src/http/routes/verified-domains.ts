import { z } from 'zod';
import {
  addDomain,
  confirmDomain,
  createDomainInput,
  listDomains,
  removeDomain,
} from '../../domain/verified-domains.ts';
import { verifiedDomainRecord } from '../../storage/records.ts';
import { adminRoutes } from '../route.ts';
import { agentParams, errorResponse, idParam } from '../schemas.ts';

const domainParams = agentParams.extend({ domainId: idParam });

/** The stored domain without its token: the TXT record to publish carries it instead. */
const domainView = verifiedDomainRecord.omit({ organizationId: true, token: true }).extend({
  domain: z.string().describe('Normalized: lowercase, punycode, no trailing dot.'),
  status: z.enum(['pending', 'verified']),
  dnsRecord: z
    .object({ type: z.literal('TXT'), name: z.string(), value: z.string() })
    .describe('Publish this TXT record, then confirm.'),
});

const embeddingRoute = adminRoutes('Embedding');

export const verifiedDomainRoutes = [
  embeddingRoute({
    method: 'get',
    path: '/api/v1/organizations/{orgId}/agents/{agentId}/verified-domains',
    operationId: 'listVerifiedDomains',
    summary: 'List verified embed domains (and those waiting for their DNS record).',
    permission: 'agents:read',
    params: agentParams,
    responses: { 200: { description: 'The domains', schema: z.object({ data: z.array(domainView) }) } },
    async handle({ deps, params }) {
      return { body: { data: await listDomains(deps, params.orgId, params.agentId) } };
    },
  }),
  embeddingRoute({
    method: 'post',
    path: '/api/v1/organizations/{orgId}/agents/{agentId}/verified-domains',
    operationId: 'addVerifiedDomain',
    summary: 'Add a domain to verify for embedding; the answer holds the DNS TXT record to publish.',
    permission: 'agents:manage',
    params: agentParams,
    body: createDomainInput,
    responses: {
      201: { description: 'The pending domain', schema: domainView },
      409: { description: 'domain_exists', schema: errorResponse },
    },
    async handle({ deps, params, body }) {
      return { status: 201, body: await addDomain(deps, params.orgId, params.agentId, body.domain) };
    },
  }),
  embeddingRoute({
    method: 'post',
    path: '/api/v1/organizations/{orgId}/agents/{agentId}/verified-domains/{domainId}/confirm',
    operationId: 'confirmVerifiedDomain',
    summary: 'Confirm a domain after its DNS TXT record resolves.',
    description:
      'Looks the record up over DNS now. On a mismatch: 409 domain_verification_failed with `expected` and `found`.',
    permission: 'agents:manage',
    params: domainParams,
    responses: {
      200: { description: 'The verified domain', schema: domainView },
      409: {
        description: 'domain_verification_failed: what was found and why it does not match',
        schema: errorResponse,
      },
    },
    async handle({ deps, params }) {
      return { body: await confirmDomain(deps, params.orgId, params.agentId, params.domainId) };
    },
  }),
  embeddingRoute({
    method: 'delete',
    path: '/api/v1/organizations/{orgId}/agents/{agentId}/verified-domains/{domainId}',
    operationId: 'removeVerifiedDomain',
    summary: 'Remove a domain: embeds on it stop working on their next request.',
    permission: 'agents:manage',
    params: domainParams,
    responses: { 204: { description: 'Removed' } },
    async handle({ deps, params }) {
      await removeDomain(deps, params.orgId, params.agentId, params.domainId);
      return { status: 204 };
    },
  }),
];
