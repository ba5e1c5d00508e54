import { z } from 'zod';
import { permissions, roleKeys } from '../../domain/auth/permissions.ts';
import {
  createConsoleSession,
  createConsoleSessionInput,
  deleteConsoleSession,
  resolveConsoleSession,
} from '../../domain/console/sessions.ts';
import { ApiError } from '../../errors.ts';
import {
  clearedSessionCookies,
  readSessionCookie,
  requireSameOrigin,
  sessionCookie,
} from '../console-cookie.ts';
import { adminRoutes, defineRoute } from '../route.ts';
import { errorResponse, standardErrors } from '../schemas.ts';

const sessionView = z.object({
  organizationId: z.string(),
  keyId: z.string(),
  keyName: z.string(),
  role: z.enum(roleKeys),
  permissions: z.array(z.enum(permissions)),
  expiresAt: z.string().describe('The latest the session can last; it ends sooner after 8 h idle.'),
  csrfToken: z.string().describe('Send it as X-CSRF-Token on every request that changes something.'),
});

const consoleRoute = adminRoutes('Console');

export const consoleSessionRoutes = [
  defineRoute({
    method: 'post',
    path: '/api/v1/console/session',
    operationId: 'createConsoleSession',
    summary: 'Sign in to the console: exchange a service-account key for a session cookie.',
    description:
      'Same-origin only (the console page). The key is checked once and never stored; the answer sets an HttpOnly, SameSite=Strict cookie (Secure outside localhost) and holds the CSRF token.',
    tag: 'Console',
    auth: 'none',
    body: createConsoleSessionInput,
    responses: {
      201: { description: 'Signed in', schema: sessionView },
      ...standardErrors,
      401: { description: 'invalid_api_key', schema: errorResponse },
      403: { description: 'cross_site_request: not from the console origin', schema: errorResponse },
    },
    async handle({ deps, body, headers, serviceOrigin }) {
      // Login CSRF: another site must not sign a visitor in under its own key.
      requireSameOrigin(headers, serviceOrigin);
      const created = await createConsoleSession(deps, body.key);
      if (!created) throw new ApiError('invalid_api_key', 'The API key is invalid, expired or revoked');
      return {
        status: 201,
        body: created.session,
        cookies: [sessionCookie(serviceOrigin, created.sessionId, created.maxAgeSeconds)],
      };
    },
  }),
  defineRoute({
    method: 'get',
    path: '/api/v1/console/session',
    operationId: 'getConsoleSession',
    summary: 'Who am I: the signed-in console session (after a reload, the CSRF token again).',
    tag: 'Console',
    auth: 'none',
    responses: {
      200: { description: 'The session', schema: sessionView },
      401: { description: 'session_expired: sign in again', schema: errorResponse },
    },
    async handle({ deps, headers }) {
      const sessionId = readSessionCookie(headers);
      const resolved = sessionId === null ? null : await resolveConsoleSession(deps, sessionId);
      if (!resolved) throw new ApiError('session_expired', 'No console session: sign in');
      return { body: resolved.session };
    },
  }),
  consoleRoute({
    method: 'delete',
    path: '/api/v1/console/session',
    operationId: 'deleteConsoleSession',
    summary: 'Sign out: the session ends on every replica at once and the cookie is cleared.',
    responses: { 204: { description: 'Signed out' } },
    async handle({ deps, principal, serviceOrigin }) {
      if (principal.kind !== 'service_account' || principal.sessionId === undefined) {
        throw new ApiError('session_expired', 'Only a console session signs out; this request used a key');
      }
      await deleteConsoleSession(deps, principal.sessionId);
      return { status: 204, cookies: clearedSessionCookies(serviceOrigin) };
    },
  }),
];
