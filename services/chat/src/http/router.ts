import express, { type Request, type RequestHandler, type Response, type Router } from 'express';
import { match } from 'path-to-regexp';
import type { Deps } from '../deps.ts';
import { takeTokens } from '../domain/abuse/rate-limit.ts';
import { recordApiKeyUse } from '../domain/auth/api-keys.ts';
import {
  type AuthenticatedPrincipal,
  canSeeOrganization,
  isGranted,
  type Principal,
} from '../domain/auth/permissions.ts';
import { requireOrganization } from '../domain/organizations.ts';
import { ApiError } from '../errors.ts';
import { parseInput } from '../validate.ts';
import { authenticate, serviceOrigin } from './middleware/authenticate.ts';
import { type MountedRoute, type RouteDefinition, toExpressPath } from './route.ts';

const methodsWithBody = new Set(['post', 'put', 'patch']);

function hasBody(request: Request): boolean {
  const length = request.get('content-length');
  return request.get('transfer-encoding') !== undefined || (length !== undefined && length !== '0');
}

/**
 * Mounts each route of the table: a handled route with the same steps (authenticate, scope to the
 * organization, authorize, validate, handle), a mounted route with its own handlers. A request no
 * route takes goes on: the last router of the app ends with `refuseUnmatched`.
 */
export function createRouter(deps: Deps, routes: readonly RouteDefinition[]): Router {
  const router = express.Router({ strict: false, caseSensitive: true });
  const json = express.json({ limit: deps.env.MCPSTACK_MAX_BODY_BYTES, strict: false });

  const mounted = new Map<MountedRoute['mount'], Readonly<Record<string, RequestHandler[]>>>();
  for (const route of routes) {
    if ('mount' in route) {
      const handlers = mounted.get(route.mount) ?? route.mount(deps);
      mounted.set(route.mount, handlers);
      const own = handlers[route.operationId];
      if (!own) throw new Error(`The mount of ${route.operationId} builds no handlers for it`);
      router[route.method](toExpressPath(route.path), ...own);
      continue;
    }
    const parser = route.rawBody
      ? express.raw({ type: route.rawBody.mediaType, limit: deps.env.MCPSTACK_MAX_BODY_BYTES })
      : json;
    const handlers = methodsWithBody.has(route.method) ? [parser] : [];
    router[route.method](
      toExpressPath(route.path),
      ...handlers,
      async (request: Request, response: Response) => {
        const requestId = response.locals.requestId as string;
        if (route.body && hasBody(request) && !request.is('application/json')) {
          throw new ApiError(
            'unsupported_media_type',
            'Send the body as JSON with "Content-Type: application/json"',
          );
        }
        let principal: Principal = { kind: 'anonymous' };
        if (route.auth !== 'none') {
          principal = await authenticate(deps, request);
          response.locals.principal = principal;
          if (principal.kind === 'service_account') {
            // Off the request's path: a failed write of the last-used time must not fail the request.
            const { organizationId, keyId } = principal;
            recordApiKeyUse(deps, organizationId, keyId).catch((error: unknown) =>
              deps.logger.warn({ reason: String(error), keyId }, 'could not record key use'),
            );
            await takeTokens(deps, principal.organizationId, [
              {
                scope: 'api_key',
                name: `api-key:${principal.keyId}`,
                perMinute: deps.env.MCPSTACK_RATE_LIMIT_API_KEY_PER_MINUTE,
              },
            ]);
          }
          if (route.auth === 'operator' && principal.kind !== 'operator') {
            throw new ApiError(
              'insufficient_permissions',
              'Only the operator token (MCPSTACK_ADMIN_TOKEN) may do this',
              {
                requiredPermission: 'operator',
              },
            );
          }
        }
        const params = route.params ? parseInput(route.params, request.params, 'params') : {};
        let organization = undefined as never;
        const organizationId = (request.params as Record<string, string | undefined>).orgId;
        if (organizationId !== undefined && route.auth === 'principal') {
          if (!canSeeOrganization(principal, organizationId)) {
            throw new ApiError('organization_not_found', `No organization ${organizationId}`);
          }
          organization = (await requireOrganization(deps, organizationId)) as never;
          response.locals.organizationId = organizationId;
        }
        if (route.permission && !isGranted(principal, route.permission)) {
          const role = principal.kind === 'service_account' ? principal.roleKey : principal.kind;
          throw new ApiError(
            'insufficient_permissions',
            `The ${role} role lacks the ${route.permission} permission`,
            {
              requiredPermission: route.permission,
              role,
            },
          );
        }
        const query = route.query ? parseInput(route.query, request.query, 'query') : {};
        // A raw body is the exact bytes (a Buffer), or undefined in another media type.
        let body: unknown = route.rawBody ? request.body : undefined;
        if (route.body) {
          if (request.body === undefined)
            throw new ApiError('validation_failed', 'body: is required (a JSON object)');
          body = parseInput(route.body, request.body, 'body');
        }
        const result = await route.handle({
          deps,
          params,
          query,
          body: body as never,
          principal: principal as AuthenticatedPrincipal,
          organization,
          requestId,
          headers: request.headers,
          serviceOrigin: serviceOrigin(request),
        });
        for (const [name, value] of Object.entries(result.headers ?? {})) response.setHeader(name, value);
        if (result.cookies) response.setHeader('Set-Cookie', result.cookies);
        const status = result.status ?? 200;
        if (result.text !== undefined) response.status(status).send(result.text);
        else if (result.body === undefined) response.status(status).end();
        else response.status(status).json(result.body);
      },
    );
  }

  return router;
}

/**
 * After every route of the table: a path that exists under another method is a 405 with Allow;
 * anything else a 404. OPTIONS too: the management API is not for browsers, so it answers no CORS
 * preflight; the chat API does (before its routes), so its paths allow OPTIONS.
 */
export function refuseUnmatched(routes: readonly RouteDefinition[]): RequestHandler {
  const matchers = routes.map((route) => ({
    method: route.method.toUpperCase(),
    answersPreflights: route.auth === 'publishableKey',
    match: match(toExpressPath(route.path), { decode: false }),
  }));
  return (request: Request) => {
    const matching = matchers.filter((entry) => entry.match(request.path) !== false);
    if (matching.length > 0) {
      const preflight = matching.some((entry) => entry.answersPreflights) ? ['OPTIONS'] : [];
      const allow = [...new Set([...matching.map((entry) => entry.method), ...preflight])];
      throw new ApiError(
        'method_not_allowed',
        `${request.method} is not allowed here; use ${allow.join(', ')}`,
        {
          allow,
        },
      );
    }
    throw new ApiError('not_found', `No route for ${request.method} ${request.path}`);
  };
}
