import type { z } from 'zod';
import type { Deps } from '../deps.ts';
import type { AuthenticatedPrincipal, Permission } from '../domain/auth/permissions.ts';
import type { OrganizationRecord } from '../storage/records.ts';

export type HttpMethod = 'get' | 'post' | 'put' | 'patch' | 'delete';

/**
 * - `none`: public (health, OpenAPI).
 * - `operator`: only MCPSTACK_ADMIN_TOKEN.
 * - `principal`: the operator or a service-account key; with an `{orgId}` path parameter the
 *   principal must belong to that organization (else 404) and hold `permission` (else 403).
 */
export type AuthMode = 'none' | 'operator' | 'principal';

type AnyObject = z.ZodType<Record<string, unknown>>;

export interface RouteContext<Params, Query, Body> {
  deps: Deps;
  params: Params;
  query: Query;
  body: Body;
  /** On `none` routes there is no principal: handlers of public routes must not read it. */
  principal: AuthenticatedPrincipal;
  /** Set when the path has `{orgId}`: the organization, already checked to exist and be visible. */
  organization: OrganizationRecord;
  requestId: string;
  /** The request's headers (lower-case names), for content negotiation (`Accept`). */
  headers: Readonly<Record<string, string | string[] | undefined>>;
  /** The origin the client addressed, `protocol://host[:port]` (for same-origin checks and cookies). */
  serviceOrigin: string;
}

export interface RouteResult {
  status?: number;
  body?: unknown;
  headers?: Record<string, string>;
  /** `Set-Cookie` values (the console session's). */
  cookies?: string[];
  /** A body sent as is instead of JSON (a CSV export); its Content-Type goes in `headers`. */
  text?: string;
}

export interface ResponseSpec {
  description: string;
  schema?: z.ZodType;
}

export interface RouteDefinition<
  Params extends AnyObject = AnyObject,
  Query extends AnyObject = AnyObject,
  Body extends z.ZodType = z.ZodType,
> {
  method: HttpMethod;
  /** OpenAPI-style path, e.g. `/api/v1/organizations/{orgId}/agents/{agentId}`. */
  path: string;
  operationId: string;
  summary: string;
  description?: string;
  tag: string;
  auth: AuthMode;
  permission?: Permission;
  params?: Params;
  query?: Query;
  body?: Body;
  responses: Record<number, ResponseSpec>;
  handle(context: RouteContext<z.output<Params>, z.output<Query>, z.output<Body>>): Promise<RouteResult>;
}

/** Identity function that lets TypeScript infer a route's input types from its schemas. */
export function defineRoute<Params extends AnyObject, Query extends AnyObject, Body extends z.ZodType>(
  definition: RouteDefinition<Params, Query, Body>,
): RouteDefinition {
  return definition as unknown as RouteDefinition;
}

/** `/a/{b}/c` → `/a/:b/c` */
export function toExpressPath(path: string): string {
  return path.replace(/\{(\w+)\}/g, ':$1');
}
