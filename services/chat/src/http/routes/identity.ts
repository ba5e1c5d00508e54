import { z } from 'zod';
import {
  deleteIdentity,
  getIdentity,
  putIdentity,
  putIdentityInput,
  rotateIdentitySecret,
} from '../../domain/identity/settings.ts';
import { adminRoutes } from '../route.ts';
import { agentParams } from '../schemas.ts';

const identityView = z.object({
  hs256SecretSet: z
    .boolean()
    .describe('Whether an HS256 identity secret is set (the secret itself is never shown).'),
  hs256SecretCreatedAt: z.string().nullable().describe('When the current HS256 secret was issued.'),
  publicKey: z
    .union([z.string(), z.record(z.string(), z.unknown())])
    .nullable()
    .describe('The registered public key, as given (PEM SPKI or JWK).'),
  jwksUrl: z.string().nullable().describe('The registered JWKS URL.'),
  algorithms: z
    .array(z.enum(['HS256', 'ES256', 'EdDSA']))
    .describe('The "alg" values user tokens may use; a token with any other, "none" included, is refused.'),
});

const identitySecretView = z.object({
  secret: z
    .string()
    .describe(
      'mcpstack_is_<base64url>: shown only in this response. Sign user tokens with HS256 using this whole ' +
        'string (UTF-8) as the HMAC key, on your backend only; never ship it to the browser.',
    ),
  createdAt: z.string(),
});

const tokenRules =
  'User tokens are JWTs passed as `userToken` in chat requests: `sub` is the external user id (1-200 characters), ' +
  '`aud` must be the agent id, `exp` is required and the lifetime at most 24 hours (60 s clock tolerance).';

const userIdentityRoute = adminRoutes('User identity');

export const identityRoutes = [
  userIdentityRoute({
    method: 'get',
    path: '/api/v1/organizations/{orgId}/agents/{agentId}/identity',
    operationId: 'getAgentIdentity',
    summary: 'Show how the agent verifies signed user tokens (never the HS256 secret).',
    description: tokenRules,
    permission: 'agents:read',
    params: agentParams,
    responses: { 200: { description: 'The identity settings', schema: identityView } },
    async handle({ deps, params }) {
      return { body: await getIdentity(deps, params.orgId, params.agentId) };
    },
  }),
  userIdentityRoute({
    method: 'put',
    path: '/api/v1/organizations/{orgId}/agents/{agentId}/identity',
    operationId: 'putAgentIdentity',
    summary: 'Register the public key or JWKS URL that verifies ES256/EdDSA user tokens.',
    description: `${tokenRules} The key must be a P-256 (ES256) or Ed25519 (EdDSA) public key; it takes effect on the next request.`,
    permission: 'agents:manage',
    params: agentParams,
    body: putIdentityInput,
    responses: { 200: { description: 'The identity settings', schema: identityView } },
    async handle({ deps, params, body }) {
      return { body: await putIdentity(deps, params.orgId, params.agentId, body) };
    },
  }),
  userIdentityRoute({
    method: 'delete',
    path: '/api/v1/organizations/{orgId}/agents/{agentId}/identity',
    operationId: 'deleteAgentIdentity',
    summary:
      'Remove the HS256 secret, public key and JWKS URL: every user token is refused from the next request.',
    permission: 'agents:manage',
    params: agentParams,
    responses: { 204: { description: 'Removed' } },
    async handle({ deps, params }) {
      await deleteIdentity(deps, params.orgId, params.agentId);
      return { status: 204 };
    },
  }),
  userIdentityRoute({
    method: 'post',
    path: '/api/v1/organizations/{orgId}/agents/{agentId}/identity-secret',
    operationId: 'rotateAgentIdentitySecret',
    summary: 'Issue (or rotate) the agent’s HS256 identity secret; shown once, in this response.',
    description: `${tokenRules} Rotation takes effect at once: tokens signed with the previous secret are refused.`,
    permission: 'agents:manage',
    params: agentParams,
    responses: { 201: { description: 'The new secret', schema: identitySecretView } },
    async handle({ deps, params }) {
      return { status: 201, body: await rotateIdentitySecret(deps, params.orgId, params.agentId) };
    },
  }),
];
