import { isDeepStrictEqual } from 'node:util';
import { match } from 'path-to-regexp';
import type { z } from 'zod';
import { apiRoutes } from '../../src/app.ts';
import { type RouteDefinition, toExpressPath } from '../../src/http/route.ts';
import { errorResponse } from '../../src/http/schemas.ts';

const routeMatchers = apiRoutes.map((route) => ({
  route,
  matches: match(toExpressPath(route.path), { decode: false }),
}));

/** The route of the table that serves `method path` (query string ignored), if any. */
export function routeOf(method: string, path: string): RouteDefinition | undefined {
  const pathname = new URL(path, 'http://service').pathname;
  const lowerMethod = method.toLowerCase();
  return routeMatchers.find(
    ({ route, matches }) => route.method === lowerMethod && matches(pathname) !== false,
  )?.route;
}

export interface ReceivedResponse {
  status: number;
  headers: Headers;
  /** The body parsed as JSON, or its text when it is not JSON, or undefined when empty. */
  body: unknown;
  text: string;
}

function mediaTypeOf(headers: Headers): string | undefined {
  return headers.get('content-type')?.split(';')[0]?.trim().toLowerCase();
}

/**
 * Parses the body with the schema and requires the result to equal it: a parse drops fields the
 * schema does not declare and fills in defaults, and either means the body and the published
 * schema (`additionalProperties: false`, every field required) disagree.
 */
function parseExactly(schema: z.ZodType, body: unknown): string | undefined {
  const parsed = schema.safeParse(body);
  if (!parsed.success) {
    return parsed.error.issues
      .map((issue) => `${issue.path.map(String).join('.') || '(body)'}: ${issue.message}`)
      .join('; ');
  }
  if (!isDeepStrictEqual(parsed.data, body)) {
    return `the body holds fields the schema does not declare, or lacks some it requires: got ${JSON.stringify(body)}`;
  }
  return undefined;
}

/**
 * Throws when a response is not what the OpenAPI document publishes for its route: an undocumented
 * status, a media type or body its status does not describe, an error not in the error shape.
 * A request outside the route table (an unknown API path, assets, probes) has only its API errors checked.
 */
export function assertDocumentedResponse(method: string, path: string, response: ReceivedResponse): void {
  const route = routeOf(method, path);
  const where = `${method} ${path} answered ${response.status}`;
  const mediaType = mediaTypeOf(response.headers);
  const isError = response.status >= 400;
  // Every error of the API has the one shape; the health probes answer their own (`/readyz`).
  if (isError && response.text !== '' && (route || path.startsWith('/api/'))) {
    if (mediaType !== 'application/json') throw new Error(`${where} with a ${mediaType} error, not JSON`);
    const problem =
      parseExactly(errorResponse, response.body) ??
      (errorStatusOf(response.body) === response.status ? undefined : 'error.status is not the HTTP status');
    if (problem) throw new Error(`${where} with an error outside the error shape: ${problem}`);
  }
  if (!route) return;
  const spec = route.responses[response.status];
  if (!spec) {
    throw new Error(
      `${where}, a status its route (${route.operationId}) does not document (it documents ${Object.keys(route.responses).join(', ')}): ${response.text.slice(0, 500)}`,
    );
  }
  if (isError || response.text === '') return;
  if (mediaType !== 'application/json') {
    if (mediaType !== undefined && spec.otherMediaTypes?.includes(mediaType)) return;
    throw new Error(
      `${where} with ${mediaType ?? 'no Content-Type'}, which ${route.operationId} does not document`,
    );
  }
  if (!spec.schema) {
    throw new Error(`${where} with a body, but ${route.operationId} documents none for ${response.status}`);
  }
  const problem = parseExactly(spec.schema, response.body);
  if (problem)
    throw new Error(`${where} with a body its OpenAPI schema (${route.operationId}) refuses: ${problem}`);
}

function errorStatusOf(body: unknown): unknown {
  return (body as { error?: { status?: unknown } }).error?.status;
}
